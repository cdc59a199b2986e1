"""The SQL of archive steps, per dialect: copying what a statement removes into the archive,
estimating its size, and putting it back.

Pure text: the names handed in are already rendered for the dialect (``quote``). PostgreSQL
keeps archives in a schema of their own; SQLite and MySQL in tables whose names start with a
prefix, beside the migration's tables.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from .names import quote_identifier

ARCHIVE_SCHEMA = "_schema_manager_archive"  # PostgreSQL
ARCHIVE_PREFIX = "_schema_manager_archive__"  # SQLite, MySQL


def quote(name: str, dialect: str) -> str:
    return quote_identifier(name, dialect)


def archive_table(
    migration_id: str, index: int, part: int, dialect: str, schema: str | None = None
) -> tuple[str, str]:
    """(bare name, rendered qualified name) of the archive of statement ``index``'s
    ``part``-th table: the same for a migration's apply and its generated rollback. The
    table's ``schema`` tells apart environments that share one PostgreSQL database."""
    digest = hashlib.sha256(f"{schema or ''}.{migration_id}".encode()).hexdigest()[:12]
    bare = f"m{digest}_s{index + 1}" + (f"_{part + 1}" if part else "")
    if dialect == "postgresql":
        return bare, f"{ARCHIVE_SCHEMA}.{bare}"
    bare = ARCHIVE_PREFIX + bare
    return bare, quote(bare, dialect)


def prelude(dialect: str) -> list[str]:
    """Run once before the first capture of a migration."""
    if dialect == "postgresql":
        return [f"CREATE SCHEMA IF NOT EXISTS {ARCHIVE_SCHEMA};"]
    return []


def _columns(columns: Sequence[tuple[str, str]], dialect: str, qualifier: str = "") -> str:
    """``current AS original`` for each (current, original) pair: an archive's columns keep
    the names the table had before the migration. ``qualifier``: the table's alias or name,
    where the statement joins other tables."""
    prefix = f"{qualifier}." if qualifier else ""
    return ", ".join(
        prefix
        + quote(current, dialect)
        + ("" if current == original and not prefix else f" AS {quote(original, dialect)}")
        for current, original in columns
    )


def copy_rows(
    archive: str,
    table: str,
    columns: Sequence[tuple[str, str]],
    dialect: str,
    source: str = "",
    where: str = "",
    lock_rows: bool = False,
) -> str:
    """CREATE TABLE ``archive`` AS the ``columns`` of ``table``'s rows matching ``where``.

    ``source``: the table as the statement names it (with its alias), for its condition;
    ``lock_rows`` (PostgreSQL): the rows copied stay as copied until the migration commits."""
    sql = f"CREATE TABLE {archive} AS SELECT {_columns(columns, dialect)} FROM {source or table}"
    sql += f" WHERE {where}" if where else ""
    return sql + (" FOR UPDATE;" if lock_rows and dialect == "postgresql" else ";")


def copy_lines(
    archive: str,
    table: str,
    columns: Sequence[tuple[str, str]],
    dialect: str,
    source: str = "",
    where: str = "",
    lock_rows: bool = False,
) -> list[str]:
    """``copy_rows``; on MySQL/MariaDB, where ``CREATE TABLE … AS SELECT`` commits by itself,
    the empty archive (dropping one a dead attempt left) and then the copy, an ``INSERT`` that
    commits with the statement it archives (a DELETE or UPDATE) or by itself before it."""
    if dialect != "mysql":
        return [copy_rows(archive, table, columns, dialect, source, where, lock_rows)]
    listed = _columns(columns, dialect)
    condition = f" WHERE {where}" if where else ""
    return [
        f"DROP TABLE IF EXISTS {archive};",
        f"CREATE TABLE {archive} AS SELECT {listed} FROM {source or table} LIMIT 0;",
        f"INSERT INTO {archive} SELECT {listed} FROM {source or table}{condition}"
        + (" FOR UPDATE;" if lock_rows else ";"),
    ]


def lock_table(table: str, dialect: str) -> list[str]:
    """PostgreSQL: the lock the statement takes anyway (ALTER, TRUNCATE), taken before the
    copy so that nothing changes between the copy and the statement."""
    return [f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;"] if dialect == "postgresql" else []


def delete_into(
    archive: str,
    table: str,
    columns: Sequence[tuple[str, str]],
    dialect: str,
    source: str,
    where: str = "",
    using: str = "",
    qualifier: str = "",
) -> list[str]:
    """PostgreSQL: the DELETE itself, its removed rows returned into ``archive`` — exactly the
    rows it removes, each once, whatever other sessions commit meanwhile (it replaces the
    statement). ``using``: the tables it joins; its columns are then named by ``qualifier``."""
    joined = f" USING {using}" if using else ""
    condition = f" WHERE {where}" if where else ""
    returned = _columns(columns, dialect, qualifier if using else "")
    return [
        f"CREATE TABLE {archive} AS SELECT {_columns(columns, dialect)} FROM {table} WITH NO DATA;",
        f"WITH gone AS (DELETE FROM {source}{joined}{condition} RETURNING {returned}) "
        f"INSERT INTO {archive} SELECT * FROM gone;",
    ]


def estimate(
    table: str, columns: Sequence[str], dialect: str, source: str = "", where: str = ""
) -> str:
    """One row: how many rows, and about how many bytes, copying ``columns`` would take."""
    quoted = [quote(column, dialect) for column in columns]
    if dialect == "postgresql":
        size = f"pg_column_size(ROW({', '.join(quoted)}))"
    else:  # text length of each value (numbers as their text): an estimate
        size = " + ".join(f"COALESCE(LENGTH({column}), 0)" for column in quoted) or "0"
    sql = f"SELECT COUNT(*), COALESCE(SUM({size}), 0) FROM {source or table}"
    return sql + (f" WHERE {where}" if where else "")


def qualified(identity: tuple[str, str], dialect: str) -> str:
    """A table the catalog names as (schema, name), rendered."""
    schema, name = identity
    return ".".join(quote(part, dialect) for part in (schema, name) if part)


def refuse_dependents(table: str, dialect: str) -> list[str]:
    """PostgreSQL: fail, as DROP TABLE without CASCADE does, while views or other tables'
    foreign keys outside the archive depend on ``table`` (a move would take them along)."""
    if dialect != "postgresql":
        return []
    literal = table.replace("'", "''")
    return [
        "DO $guard$ DECLARE found text; BEGIN "
        "SELECT string_agg(what, ', ' ORDER BY what) INTO found FROM ("
        "SELECT 'view ' || v.oid::regclass::text AS what FROM pg_depend d "
        "JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class "
        f"WHERE d.refobjid = '{literal}'::regclass AND v.oid <> d.refobjid "
        f"AND v.relnamespace <> '{ARCHIVE_SCHEMA}'::regnamespace "
        "UNION SELECT 'constraint ' || quote_ident(conname) || ' of ' || conrelid::regclass::text "
        f"FROM pg_constraint WHERE contype = 'f' AND confrelid = '{literal}'::regclass "
        f"AND conrelid <> confrelid AND connamespace <> '{ARCHIVE_SCHEMA}'::regnamespace) AS s; "
        "IF found IS NOT NULL THEN RAISE EXCEPTION "
        "'cannot drop table % because other objects depend on it: %', "
        f"'{literal}', found USING ERRCODE = 'dependent_objects_still_exist'; END IF; "
        "END $guard$;"
    ]


def move_table(table: str, bare: str, schema: str | None, dialect: str) -> list[str]:
    """Move ``table`` into the archive under the name ``bare``: no copy."""
    if dialect == "postgresql":
        home = f"{quote(schema, dialect)}." if schema else ""
        return [
            f"ALTER TABLE {table} RENAME TO {quote(bare, dialect)};",
            f"ALTER TABLE {home}{quote(bare, dialect)} SET SCHEMA {ARCHIVE_SCHEMA};",
        ]
    if dialect == "mysql":
        return [f"RENAME TABLE {table} TO {quote(bare, dialect)};"]
    return [f"ALTER TABLE {table} RENAME TO {quote(bare, dialect)};"]


def move_back(table: str, name: str, bare: str, schema: str | None, dialect: str) -> list[str]:
    """Undo ``move_table``: ``table`` (rendered, as the statement named it) is ``name``
    (its bare name) in ``schema`` again."""
    if dialect == "postgresql":
        home = quote(schema, dialect) if schema else "public"
        return [
            f"ALTER TABLE {ARCHIVE_SCHEMA}.{quote(bare, dialect)} SET SCHEMA {home};",
            f"ALTER TABLE {home}.{quote(bare, dialect)} RENAME TO {quote(name, dialect)};",
        ]
    if dialect == "mysql":
        return [f"RENAME TABLE {quote(bare, dialect)} TO {table};"]
    return [f"ALTER TABLE {quote(bare, dialect)} RENAME TO {quote(name, dialect)};"]


def reinsert(table: str, archive: str, columns: Sequence[str], dialect: str) -> str:
    listed = ", ".join(quote(column, dialect) for column in columns)
    # Identity columns GENERATED ALWAYS take the archived values back too.
    overriding = " OVERRIDING SYSTEM VALUE" if dialect == "postgresql" else ""
    return f"INSERT INTO {table} ({listed}){overriding} SELECT {listed} FROM {archive};"


def update_back(
    table: str, archive: str, key: Sequence[str], columns: Sequence[str], dialect: str
) -> str:
    """Set ``columns`` of ``table`` back to the archived values, row by primary key."""
    join = " AND ".join(f"_t.{quote(part, dialect)} = _a.{quote(part, dialect)}" for part in key)
    if dialect == "mysql":
        sets = ", ".join(f"_t.{quote(c, dialect)} = _a.{quote(c, dialect)}" for c in columns)
        return f"UPDATE {table} AS _t JOIN {archive} AS _a ON {join} SET {sets};"
    sets = ", ".join(f"{quote(c, dialect)} = _a.{quote(c, dialect)}" for c in columns)
    return f"UPDATE {table} AS _t SET {sets} FROM {archive} AS _a WHERE {join};"


def drop_archive(archive: str) -> str:
    return f"DROP TABLE {archive};"
