"""Reading, from the target's catalog, the tables a migration's destructive statements touch:
their columns, primary key, and what would keep them from being moved into the archive."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connections

from ..sql.archive_plan import Column, TableInfo, table_key
from ..sql.mysql_tables import column_definitions
from ..sql.names import QualifiedName, quote_identifier, unquote


def read_tables(
    alias: str, names: Iterable[QualifiedName], referencing: bool = False
) -> dict[str, TableInfo]:
    """``archive_plan.table_key`` -> the table as it is now, for those of ``names`` found;
    with ``referencing``, the tables whose foreign keys reference them too, and so on (what a
    ``TRUNCATE … CASCADE`` empties)."""
    connection = connections[alias]
    vendor = connection.vendor
    reader = {"postgresql": _postgresql, "sqlite": _sqlite, "mysql": _mysql}[vendor]
    found: dict[str, TableInfo] = {}
    with connection.cursor() as cursor:
        pending = list(names)
        seen = set()
        while pending:
            name = pending.pop(0)
            info = reader(cursor, name)
            if info is None:
                continue
            found[table_key(name, vendor)] = info
            seen.add((info.schema, info.name))
            # The tables whose foreign keys reference it: a TRUNCATE … CASCADE empties them.
            pending += [
                QualifiedName(tuple(quote_identifier(part, vendor) for part in pair))
                for pair in info.referencing
                if referencing and pair not in seen
            ]
            seen.update(info.referencing)
    return found


def _rows(cursor: Any, query: str, params: list[Any]) -> list[tuple[Any, ...]]:
    cursor.execute(query, params)
    return list(cursor.fetchall())


def _postgresql(cursor: Any, name: QualifiedName) -> TableInfo | None:
    found = _rows(
        cursor,
        "SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s) AND c.relkind IN ('r', 'p')",
        [str(name)],
    )
    if not found:
        return None
    oid, schema, relname = found[0]
    columns = _rows(
        cursor,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a LEFT JOIN pg_attrdef d "
        "ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attrelid = %s "
        "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
        [oid],
    )
    key = _rows(
        cursor,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int2[], a.attnum)",
        [oid],
    )
    dependents = _rows(
        cursor,
        "SELECT DISTINCT 'view ' || v.oid::regclass::text FROM pg_depend d "
        "JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class "
        "WHERE d.refobjid = %s AND v.oid <> %s "
        "UNION SELECT 'constraint ' || quote_ident(conname) || ' of ' || conrelid::regclass::text "
        "FROM pg_constraint WHERE contype = 'f' AND confrelid = %s AND conrelid <> %s ORDER BY 1",
        [oid, oid, oid, oid],
    )
    referencing = _rows(
        cursor,
        "SELECT DISTINCT n.nspname, c.relname FROM pg_constraint f JOIN pg_class c "
        "ON c.oid = f.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE f.contype = 'f' AND f.confrelid = %s AND f.conrelid <> %s ORDER BY 1, 2",
        [oid, oid],
    )
    foreign_keys = _rows(
        cursor,
        "SELECT quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid = %s AND confrelid <> %s ORDER BY conname",
        [oid, oid],
    )
    unique = _rows(
        cursor,
        "SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum)) "
        "FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s AND i.indisunique "
        "AND NOT i.indisprimary AND i.indpred IS NULL AND NOT (0 = ANY(i.indkey::int2[])) "
        "GROUP BY i.indexrelid HAVING bool_and(a.attnotnull) ORDER BY count(*), 1",
        [oid],
    )
    return TableInfo(
        relname,
        schema,
        tuple(Column(n, t, bool(nn), d) for n, t, nn, d in columns),
        tuple(row[0] for row in key),
        None,  # moved all the same: the capture checks its dependents when it runs
        tuple(row[0] for row in dependents),
        tuple((row[0], row[1]) for row in referencing),
        tuple((row[0], row[1]) for row in foreign_keys),
        tuple(tuple(row[0]) for row in unique),
    )


def _unmovable(dependents: list[str]) -> str | None:
    if not dependents:
        return None
    return f"{', '.join(dependents)} depend(s) on it and would follow it into the archive"


def _sqlite(cursor: Any, name: QualifiedName) -> TableInfo | None:
    table = unquote(name.object)[0]
    found = _rows(
        cursor,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = %s COLLATE NOCASE",
        [table],
    )
    if not found:
        return None
    table = found[0][0]
    columns = _rows(
        cursor,
        'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(%s) ORDER BY cid',
        [table],
    )
    dependents = _rows(
        cursor,
        "SELECT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) f "
        "WHERE m.type = 'table' AND m.name <> %s AND f.\"table\" = %s COLLATE NOCASE "
        "UNION SELECT name FROM sqlite_master WHERE type IN ('view', 'trigger') "
        "AND tbl_name <> %s AND instr(lower(sql), lower(%s)) > 0",
        [table, table, table, table],
    )
    key = sorted((pk, n) for n, _, _, _, pk in columns if pk)
    return TableInfo(
        table,
        None,
        tuple(Column(n, t or "", bool(nn), d) for n, t, nn, d, _ in columns),
        tuple(n for _, n in key),
        _unmovable([row[0] for row in dependents]),
    )


def _mysql(cursor: Any, name: QualifiedName) -> TableInfo | None:
    table = unquote(name.object)[0]
    columns = _rows(
        cursor,
        "SELECT column_name, column_type, is_nullable = 'NO', column_default, table_name "
        "FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = %s "
        "AND extra NOT LIKE '%%GENERATED%%' ORDER BY ordinal_position",
        [table],
    )
    if not columns:
        return None
    table = columns[0][4]
    key = _rows(
        cursor,
        "SELECT column_name FROM information_schema.key_column_usage WHERE table_schema = "
        "DATABASE() AND table_name = %s AND constraint_name = 'PRIMARY' "
        "ORDER BY ordinal_position",
        [table],
    )
    dependents = _rows(
        cursor,
        "SELECT DISTINCT table_name FROM information_schema.key_column_usage "
        "WHERE table_schema = DATABASE() AND referenced_table_name = %s AND table_name <> %s "
        "UNION SELECT table_name FROM information_schema.views "
        "WHERE table_schema = DATABASE() AND view_definition LIKE %s",
        [table, table, f"%`{table}`%"],
    )
    # Each column as SHOW CREATE TABLE defines it (type, nullability, default, comment): a
    # dropped column comes back as it was.
    cursor.execute(f"SHOW CREATE TABLE `{table.replace('`', '``')}`")
    definitions = {
        name: definition
        for name, (_line, definition) in column_definitions(cursor.fetchone()[1]).items()
    }
    return TableInfo(
        table,
        None,
        tuple(
            Column(
                n, definitions.get(n.lower(), t), bool(nn), None if n.lower() in definitions else d
            )
            for n, t, nn, d, _ in columns
        ),
        tuple(row[0] for row in key),
        _unmovable([row[0] for row in dependents]),
    )
