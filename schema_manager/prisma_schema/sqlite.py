"""SQLite pragmas (``table_info``, ``index_list``, ``index_xinfo``, ``foreign_key_list``)."""

from __future__ import annotations

from collections import defaultdict

from .model import (
    CASCADE,
    NO_ACTION,
    RESTRICT,
    SET_DEFAULT,
    SET_NULL,
    Column,
    Database,
    ForeignKey,
    Index,
    IndexColumn,
    PrimaryKey,
    Table,
)

ACTIONS = {
    "NO ACTION": NO_ACTION,
    "RESTRICT": RESTRICT,
    "CASCADE": CASCADE,
    "SET NULL": SET_NULL,
    "SET DEFAULT": SET_DEFAULT,
}


def read(cursor, tables: list[str], views: list[str]) -> Database:
    return Database(
        provider="sqlite",
        tables=[_table(cursor, name) for name in tables],
        views=[Table(name, _columns(cursor, name)[0]) for name in views],
    )


def _pragma(cursor, pragma: str, name: str) -> list[tuple]:
    quoted = name.replace('"', '""')
    cursor.execute(f'PRAGMA {pragma}("{quoted}")')
    return cursor.fetchall()


def _columns(cursor, table: str) -> tuple[list[Column], tuple[str, ...]]:
    rows = _pragma(cursor, "table_info", table)
    key = tuple(row[1] for row in sorted((row for row in rows if row[5]), key=lambda r: r[5]))
    columns = []
    for _cid, name, declared, not_null, default, _pk in rows:
        declared = (declared or "").strip()
        db_type, params = _split_type(declared)
        # INTEGER PRIMARY KEY is the rowid: SQLite numbers new rows itself.
        rowid = key == (name,) and declared.lower() == "integer"
        columns.append(
            Column(
                name=name,
                db_type=db_type,
                # SQLite lets primary key columns hold NULL, except the rowid alias.
                nullable=not not_null and not rowid,
                default=default,
                autoincrement=rowid,
                params=params,
                full_type=declared.lower(),
            )
        )
    return columns, key


def _split_type(declared: str) -> tuple[str, tuple[int, ...]]:
    base, _, rest = declared.partition("(")
    params = tuple(
        int(part) for part in rest.rstrip(")").split(",") if part.strip().lstrip("-").isdigit()
    )
    return base.strip().lower(), params


def _table(cursor, name: str) -> Table:
    columns, key = _columns(cursor, name)
    table = Table(name, columns, PrimaryKey(key) if key else None)
    for _seq, index_name, unique, origin, partial in _pragma(cursor, "index_list", name):
        if origin == "pk" or partial:
            continue
        info = [row for row in _pragma(cursor, "index_xinfo", index_name) if row[5]]
        if any(row[2] is None for row in info):  # an expression index
            continue
        index_columns = tuple(IndexColumn(row[2], bool(row[3])) for row in info)
        table.indexes.append(Index(index_name, index_columns, bool(unique)))
    table.foreign_keys = _foreign_keys(cursor, name)
    return table


def _foreign_keys(cursor, table: str) -> list[ForeignKey]:
    groups: dict[int, list[tuple]] = defaultdict(list)
    for row in _pragma(cursor, "foreign_key_list", table):
        groups[row[0]].append(row)
    keys = []
    for _id, rows in sorted(groups.items()):
        rows.sort(key=lambda row: row[1])
        referenced = rows[0][2]
        targets = tuple(row[4] for row in rows)
        if any(target is None for target in targets):  # REFERENCES t: its primary key
            targets = tuple(
                row[1]
                for row in sorted(_pragma(cursor, "table_info", referenced), key=lambda r: r[5])
                if row[5]
            )
        keys.append(
            ForeignKey(
                columns=tuple(row[3] for row in rows),
                referenced_table=referenced,
                referenced_columns=targets,
                on_delete=ACTIONS.get(rows[0][6].upper(), NO_ACTION),
                on_update=ACTIONS.get(rows[0][5].upper(), NO_ACTION),
            )
        )
    return keys
