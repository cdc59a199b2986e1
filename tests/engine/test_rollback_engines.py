"""Rollback generation per dialect: SQL in, exact rollback out, and the rollback run on the
real engine brings the catalog back to its snapshot from before the migration.

SQLite runs in memory; PostgreSQL in a throwaway schema of SCHEMA_MANAGER_TEST_POSTGRES_URL.
MySQL cases check the generated text only (the MySQL backend lives in another branch).
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import pytest

from schema_manager.sql import generate_rollback, parse_statements
from tests.conftest import POSTGRES_SKIP_REASON
from tests.settings import POSTGRES_URL

# From the SQL alone, SET DEFAULT is undone with DROP DEFAULT, saying so.
UNKNOWN_DEFAULT = (
    "-- CAUTION: the default column {} had before is not known without the target's "
    "catalog: this drops it."
)

USERS = "CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(255), note TEXT NOT NULL);"
TOUCH = "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;"

# (id, setup, migration, exact rollback)
POSTGRESQL = [
    # The integration guide's outputs, exactly.
    (
        "guide-create-table",
        "",
        "CREATE TABLE users (\n    id SERIAL PRIMARY KEY,\n    email VARCHAR(255) UNIQUE NOT NULL,"
        "\n    created_at TIMESTAMP DEFAULT NOW()\n);",
        "DROP TABLE IF EXISTS users CASCADE;",
    ),
    (
        "guide-add-column",
        USERS,
        "ALTER TABLE users ADD COLUMN phone VARCHAR(20);",
        "ALTER TABLE users DROP COLUMN IF EXISTS phone;",
    ),
    (
        "guide-create-index",
        USERS,
        "CREATE INDEX idx_users_email ON users(email);",
        "DROP INDEX IF EXISTS idx_users_email;",
    ),
    (
        "unique-index-if-not-exists-quoted",
        USERS,
        'CREATE UNIQUE INDEX IF NOT EXISTS "Users Email" ON users (lower(email));',
        'DROP INDEX IF EXISTS "Users Email";',
    ),
    (
        "quoted-names-only-where-needed",
        "",
        'CREATE TABLE "orders" ("Order Id" INT, "select" INT, "a""b" INT);\n'
        'CREATE INDEX "orders_idx" ON "orders" ("Order Id");\n'
        'ALTER TABLE "orders" ADD COLUMN "Total" NUMERIC(10, 2);',
        'ALTER TABLE orders DROP COLUMN IF EXISTS "Total";\n'
        "DROP INDEX IF EXISTS orders_idx;\n"
        "DROP TABLE IF EXISTS orders CASCADE;",
    ),
    (
        "view",
        USERS,
        "CREATE VIEW active_users AS SELECT id FROM users WHERE note <> '';",
        "DROP VIEW IF EXISTS active_users;",
    ),
    (
        "materialized-view",
        USERS,
        "CREATE MATERIALIZED VIEW user_count AS SELECT count(*) AS n FROM users;",
        "DROP MATERIALIZED VIEW IF EXISTS user_count;",
    ),
    (
        "sequence-if-not-exists",
        "",
        "CREATE SEQUENCE IF NOT EXISTS invoice_no START 1000;",
        "DROP SEQUENCE IF EXISTS invoice_no;",
    ),
    (
        "schema-and-table-in-it",
        "",
        "CREATE SCHEMA {schema}_billing;\nCREATE TABLE {schema}_billing.invoices (id INT);",
        "DROP TABLE IF EXISTS {schema}_billing.invoices CASCADE;\n"
        "DROP SCHEMA IF EXISTS {schema}_billing;",
    ),
    (
        "enum-type",
        "",
        "CREATE TYPE mood AS ENUM ('sad', 'happy');",
        "DROP TYPE IF EXISTS mood;",
    ),
    (
        "extension",
        "",
        "CREATE EXTENSION IF NOT EXISTS citext SCHEMA {schema};",
        "DROP EXTENSION IF EXISTS citext;",
    ),
    (
        "function-with-signature-and-default",
        "",
        "CREATE FUNCTION add_tax(amount numeric(10, 2), rate numeric DEFAULT 0.2) "
        "RETURNS numeric LANGUAGE sql AS $$ SELECT amount * (1 + rate) $$;",
        "DROP FUNCTION IF EXISTS add_tax(amount numeric(10, 2), rate numeric);",
    ),
    (
        "overloaded-function-drops-only-its-own-signature",
        "CREATE FUNCTION area(r int) RETURNS int LANGUAGE sql AS 'SELECT 3 * r * r';",
        "CREATE FUNCTION area(w int, h int) RETURNS int LANGUAGE sql AS 'SELECT w * h';",
        "DROP FUNCTION IF EXISTS area(w int, h int);",
    ),
    (
        "sql-standard-function-body",
        "",
        "CREATE FUNCTION one() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;",
        "DROP FUNCTION IF EXISTS one();",
    ),
    (
        "procedure",
        "",
        "CREATE PROCEDURE noop(IN x int) LANGUAGE sql AS $$ SELECT x $$;",
        "DROP PROCEDURE IF EXISTS noop(IN x int);",
    ),
    (
        "trigger",
        f"{USERS}\n{TOUCH}",
        "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();",
        "DROP TRIGGER IF EXISTS users_touch ON users;",
    ),
    (
        "add-named-constraints",
        f"{USERS}\nCREATE TABLE teams (id INT PRIMARY KEY);",
        "ALTER TABLE users ADD COLUMN team_id INT, "
        "ADD CONSTRAINT users_team_fk FOREIGN KEY (team_id) REFERENCES teams (id) NOT VALID, "
        "ADD CONSTRAINT users_email_key UNIQUE (email), "
        "ADD CONSTRAINT users_note_check CHECK (note <> '') NOT VALID;",
        "ALTER TABLE users DROP CONSTRAINT IF EXISTS users_note_check;\n"
        "ALTER TABLE users DROP CONSTRAINT IF EXISTS users_email_key;\n"
        "ALTER TABLE users DROP CONSTRAINT IF EXISTS users_team_fk;\n"
        "ALTER TABLE users DROP COLUMN IF EXISTS team_id;",
    ),
    (
        "rename-column",
        USERS,
        "ALTER TABLE users RENAME COLUMN email TO email_address;",
        "ALTER TABLE users RENAME COLUMN email_address TO email;",
    ),
    (
        "rename-column-without-keyword-quoted",
        USERS,
        'ALTER TABLE users RENAME email TO "E-mail";',
        'ALTER TABLE users RENAME COLUMN "E-mail" TO email;',
    ),
    (
        "rename-table-in-schema-then-use-it",
        USERS,
        "ALTER TABLE {schema}.users RENAME TO members;\n"
        "ALTER TABLE members ADD COLUMN joined DATE;",
        "ALTER TABLE members DROP COLUMN IF EXISTS joined;\n"
        "ALTER TABLE {schema}.members RENAME TO users;",
    ),
    (
        "rename-constraint",
        f"{USERS}\nALTER TABLE users ADD CONSTRAINT users_note_check CHECK (note <> '');",
        "ALTER TABLE users RENAME CONSTRAINT users_note_check TO note_not_empty;",
        "ALTER TABLE users RENAME CONSTRAINT note_not_empty TO users_note_check;",
    ),
    (
        "column-default-and-nullability",
        USERS,
        "ALTER TABLE users ALTER COLUMN email SET DEFAULT 'none', "
        "ALTER COLUMN email SET NOT NULL, ALTER note DROP NOT NULL;",
        "ALTER TABLE users ALTER COLUMN note SET NOT NULL;\n"
        "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;\n"
        "ALTER TABLE users ALTER COLUMN email DROP DEFAULT;\n" + UNKNOWN_DEFAULT.format("email"),
    ),
    (
        "comments",
        USERS,
        "COMMENT ON TABLE users IS 'People; who sign in';\n"
        "COMMENT ON COLUMN users.email IS 'Where we write';",
        "COMMENT ON COLUMN users.email IS NULL;\nCOMMENT ON TABLE users IS NULL;",
    ),
]

SQLITE = [
    (
        "create-table",
        "",
        "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, email TEXT);",
        "DROP TABLE IF EXISTS users;",
    ),
    (
        "add-column",
        USERS,
        "ALTER TABLE users ADD COLUMN phone TEXT;",
        "ALTER TABLE users DROP COLUMN phone;",
    ),
    (
        "indexes",
        USERS,
        "CREATE INDEX idx_users_email ON users (email);\n"
        "CREATE UNIQUE INDEX IF NOT EXISTS [users note] ON users (note);",
        'DROP INDEX IF EXISTS "users note";\nDROP INDEX IF EXISTS idx_users_email;',
    ),
    (
        "quoted-names-only-where-needed",
        "",
        'CREATE TABLE "Orders" ([order id] INT, `select` INT, "a""b" INT);\n'
        'ALTER TABLE "Orders" ADD COLUMN "index" INT;',
        'ALTER TABLE Orders DROP COLUMN "index";\nDROP TABLE IF EXISTS Orders;',
    ),
    (
        "view",
        USERS,
        "CREATE VIEW IF NOT EXISTS active_users AS SELECT id FROM users;",
        "DROP VIEW IF EXISTS active_users;",
    ),
    (
        "trigger-with-body",
        USERS,
        "CREATE TRIGGER users_touch AFTER UPDATE ON users BEGIN\n"
        "  UPDATE users SET note = 'touched; again' WHERE id = NEW.id;\nEND;",
        "DROP TRIGGER IF EXISTS users_touch;",
    ),
    (
        "rename-column-and-table",
        USERS,
        "ALTER TABLE users RENAME COLUMN email TO email_address;\n"
        "ALTER TABLE users RENAME TO members;",
        "ALTER TABLE members RENAME TO users;\n"
        "ALTER TABLE users RENAME COLUMN email_address TO email;",
    ),
]

MYSQL_USERS = (
    "CREATE TABLE teams (id INT PRIMARY KEY);\n"
    "CREATE TABLE users (id INT NOT NULL, team_id INT, email VARCHAR(100), note VARCHAR(10),"
    " KEY users_team (team_id));"
)

MYSQL = [
    ("create-table", "", "CREATE TABLE users (id INT);", "DROP TABLE IF EXISTS users;"),
    (
        "index-and-quoting",
        MYSQL_USERS,
        "CREATE UNIQUE INDEX `Users Email` ON `users` (email);",
        "DROP INDEX `Users Email` ON users;",
    ),
    (
        # team_id is already indexed: MySQL adds no index of its own for the foreign key.
        "constraints",
        MYSQL_USERS,
        "ALTER TABLE users ADD CONSTRAINT users_team_fk FOREIGN KEY (team_id) "
        "REFERENCES teams (id), ADD UNIQUE KEY users_email (email), ADD PRIMARY KEY (id), "
        "ADD CONSTRAINT users_note_check CHECK (note <> '');",
        "ALTER TABLE users DROP CONSTRAINT users_note_check;\n"
        "ALTER TABLE users DROP PRIMARY KEY;\n"
        "ALTER TABLE users DROP INDEX users_email;\n"
        "ALTER TABLE users DROP FOREIGN KEY users_team_fk;",
    ),
    (
        "rename-default",
        MYSQL_USERS,
        "ALTER TABLE users RENAME COLUMN email TO email_address;\n"
        "ALTER TABLE users ALTER COLUMN note SET DEFAULT 'x';\n"
        "ALTER TABLE users RENAME TO members;",
        "ALTER TABLE members RENAME TO users;\n"
        "ALTER TABLE users ALTER COLUMN note DROP DEFAULT;\n"
        + UNKNOWN_DEFAULT.format("note")
        + "\nALTER TABLE users RENAME COLUMN email_address TO email;",
    ),
    (
        "routines",
        "CREATE TABLE t (a INT);",
        "CREATE FUNCTION f(x INT) RETURNS INT DETERMINISTIC BEGIN RETURN x; END;\n"
        "CREATE TRIGGER t_touch BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END;\n"
        "CREATE VIEW v AS SELECT 1 AS one;",
        "DROP VIEW IF EXISTS v;\nDROP TRIGGER IF EXISTS t_touch;\nDROP FUNCTION IF EXISTS f;",
    ),
    (
        "add-column-and-index",
        MYSQL_USERS,
        "ALTER TABLE users ADD COLUMN `order` INT, ADD INDEX users_order (`order`);",
        "ALTER TABLE users DROP INDEX users_order;\nALTER TABLE users DROP COLUMN `order`;",
    ),
]


def _params(dialect: str, cases: list[tuple[str, str, str, str]]) -> list[object]:
    return [pytest.param(*case[1:], id=f"{dialect}-{case[0]}") for case in cases]


# --- Text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "setup", "migration", "expected"),
    [
        pytest.param(dialect, *case[1:], id=f"{dialect}-{case[0]}")
        for dialect, cases in (("postgresql", POSTGRESQL), ("sqlite", SQLITE), ("mysql", MYSQL))
        for case in cases
    ],
)
def test_exact_rollback_text(dialect: str, setup: str, migration: str, expected: str) -> None:
    script = generate_rollback(migration.format(schema="s"), dialect)

    assert script.text == expected.format(schema="s")
    assert script.is_complete


# --- On the engines --------------------------------------------------------------------------


def _run(execute, sql: str, dialect: str) -> None:
    for statement in parse_statements(sql, dialect):
        execute(statement.text)


SQLITE_SNAPSHOT = """
SELECT m.type, m.name, m.tbl_name, p.cid, p.name, p.type, p."notnull", p.dflt_value, p.pk
FROM sqlite_master m LEFT JOIN pragma_table_xinfo(m.name) p ON m.type = 'table'
WHERE m.name NOT LIKE 'sqlite_%' ORDER BY 1, 2, 4
"""


def _sqlite_snapshot(connection: sqlite3.Connection) -> list[tuple]:
    rows = connection.execute(SQLITE_SNAPSHOT).fetchall()
    # Index, view and trigger definitions are compared as written.
    rows += connection.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE type <> 'table' ORDER BY 1, 2"
    ).fetchall()
    return rows


@pytest.mark.parametrize(("setup", "migration", "expected"), _params("sqlite", SQLITE))
def test_sqlite_rollback_restores_the_catalog(setup: str, migration: str, expected: str) -> None:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    _run(connection.execute, setup, "sqlite")
    before = _sqlite_snapshot(connection)

    _run(connection.execute, migration, "sqlite")
    assert _sqlite_snapshot(connection) != before  # the migration did something
    _run(connection.execute, generate_rollback(migration, "sqlite").text, "sqlite")

    assert _sqlite_snapshot(connection) == before


POSTGRES_SNAPSHOT = [
    # Relations and their columns.
    """SELECT c.relname, c.relkind::text, a.attname, format_type(a.atttypid, a.atttypmod),
              a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
       WHERE n.nspname LIKE %(schema)s ORDER BY 1, 3""",
    """SELECT indexname, indexdef FROM pg_indexes WHERE schemaname LIKE %(schema)s ORDER BY 1""",
    """SELECT conname, conrelid::regclass::text, pg_get_constraintdef(c.oid), convalidated
       FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
       WHERE n.nspname LIKE %(schema)s ORDER BY 1""",
    """SELECT p.proname, pg_get_function_identity_arguments(p.oid) FROM pg_proc p
       JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname LIKE %(schema)s
       ORDER BY 1, 2""",
    """SELECT t.typname, t.typtype::text FROM pg_type t JOIN pg_namespace n
       ON n.oid = t.typnamespace WHERE n.nspname LIKE %(schema)s ORDER BY 1""",
    """SELECT tgname, tgrelid::regclass::text FROM pg_trigger t JOIN pg_class c
       ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname LIKE %(schema)s AND NOT t.tgisinternal ORDER BY 1""",
    """SELECT c.relname, d.objsubid, d.description FROM pg_description d
       JOIN pg_class c ON c.oid = d.objoid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname LIKE %(schema)s ORDER BY 1, 2""",
    """SELECT nspname FROM pg_namespace WHERE nspname LIKE %(schema)s ORDER BY 1""",
    """SELECT extname FROM pg_extension ORDER BY 1""",
]


@pytest.fixture
def pg_schema() -> Iterator[tuple[object, str]]:
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_SKIP_REASON)
    import psycopg

    schema = f"sm_rollback_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
        connection.execute(f"SET search_path TO {schema}")
        try:
            yield connection, schema
        finally:
            connection.execute(f"DROP SCHEMA IF EXISTS {schema}_billing CASCADE")
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


def _pg_snapshot(connection, schema: str) -> list[list[tuple]]:
    return [
        connection.execute(query, {"schema": f"{schema}%"}).fetchall()
        for query in POSTGRES_SNAPSHOT
    ]


@pytest.mark.parametrize(("setup", "migration", "expected"), _params("postgresql", POSTGRESQL))
def test_postgresql_rollback_restores_the_catalog(
    pg_schema: tuple[object, str], setup: str, migration: str, expected: str
) -> None:
    connection, schema = pg_schema
    migration = migration.format(schema=schema)
    _run(connection.execute, setup, "postgresql")
    before = _pg_snapshot(connection, schema)

    _run(connection.execute, migration, "postgresql")
    assert _pg_snapshot(connection, schema) != before  # the migration did something
    _run(connection.execute, generate_rollback(migration, "postgresql").text, "postgresql")

    assert _pg_snapshot(connection, schema) == before


# --- What cannot be inverted from the SQL alone says why --------------------------------------

BY_HAND = "write the rollback by hand."


@pytest.mark.parametrize(
    ("dialect", "sql", "why"),
    [
        (
            "postgresql",
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
            "OR REPLACE may have replaced an existing function whose definition is not in "
            "this script; " + BY_HAND,
        ),
        (
            "postgresql",
            "CREATE OR REPLACE VIEW v AS SELECT 1;",
            "OR REPLACE may have replaced an existing view whose definition is not in this "
            "script; " + BY_HAND,
        ),
        (
            "postgresql",
            "ALTER TABLE t ADD UNIQUE (x);",
            "the constraint has no name (the database chose one), so it cannot be dropped by "
            "name; name it with ADD CONSTRAINT <name>.",
        ),
        (
            "sqlite",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (x > 0);",
            "SQLite cannot drop a constraint without rebuilding the table; " + BY_HAND,
        ),
        (
            "postgresql",
            "ALTER TABLE t ALTER COLUMN x DROP DEFAULT;",
            "the previous default is not in this script; " + BY_HAND,
        ),
        (
            "postgresql",
            "ALTER TABLE t ALTER COLUMN x TYPE bigint;",
            "the previous type is not in this script; " + BY_HAND,
        ),
        (
            "postgresql",
            "ALTER TABLE t ALTER COLUMN x SET DATA TYPE bigint;",
            "the previous type is not in this script; " + BY_HAND,
        ),
        (
            "mysql",
            "ALTER TABLE t ALTER COLUMN x SET NOT NULL;",
            "MySQL changes nullability only with MODIFY and the full type; " + BY_HAND,
        ),
        (
            "sqlite",
            "ALTER TABLE t ALTER COLUMN x SET DEFAULT 1;",
            "SQLite cannot alter a column; " + BY_HAND,
        ),
        ("mysql", "COMMENT ON TABLE t IS 'x';", "COMMENT ON is PostgreSQL syntax; " + BY_HAND),
        (
            "postgresql",
            "ALTER TABLE t ADD COLUMN a INT, ALTER COLUMN b TYPE text;",
            "the previous type is not in this script; " + BY_HAND,
        ),
    ],
)
def test_not_invertible_from_the_sql_alone(dialect: str, sql: str, why: str) -> None:
    script = generate_rollback(sql, dialect)

    (warning,) = script.warnings
    assert warning.endswith(f"): {why}")
    assert script.text.startswith("-- WARNING: cannot roll back statement 1 (")


# --- MariaDB / MySQL ------------------------------------------------------------------------

MYSQL_URL = os.environ.get("SCHEMA_MANAGER_TEST_MYSQL_URL", "")
MYSQL_SKIP_REASON = (
    "SCHEMA_MANAGER_TEST_MYSQL_URL is not set (a MariaDB/MySQL server the tests may create "
    "databases on, e.g. mysql://root@127.0.0.1:3306/test)"
)
MYSQL_SNAPSHOT = [
    "SELECT table_name, column_name, ordinal_position, column_type, is_nullable, "
    "column_default FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 3",
    "SELECT table_name, index_name, seq_in_index, column_name, non_unique "
    "FROM information_schema.statistics WHERE table_schema = %s ORDER BY 1, 2, 3",
    "SELECT table_name, constraint_name, constraint_type FROM "
    "information_schema.table_constraints WHERE constraint_schema = %s ORDER BY 1, 2",
    "SELECT table_name FROM information_schema.views WHERE table_schema = %s ORDER BY 1",
    "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = %s ORDER BY 1",
    "SELECT routine_name FROM information_schema.routines WHERE routine_schema = %s ORDER BY 1",
]


@pytest.fixture
def mysql_database() -> Iterator[tuple[object, str]]:
    if not MYSQL_URL:
        pytest.skip(MYSQL_SKIP_REASON)
    import pymysql

    url = urlsplit(MYSQL_URL)
    connection = pymysql.connect(
        host=url.hostname or "127.0.0.1",
        port=url.port or 3306,
        user=unquote(url.username or "root"),
        password=unquote(url.password or ""),
        autocommit=True,
    )
    database = f"sm_rollback_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {database}")
        cursor.execute(f"USE {database}")
    try:
        yield connection, database
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {database}")
        connection.close()


def _mysql_snapshot(connection, database: str) -> list[tuple]:
    with connection.cursor() as cursor:
        rows = []
        for query in MYSQL_SNAPSHOT:
            cursor.execute(query, [database])
            rows.append(cursor.fetchall())
        return rows


@pytest.mark.parametrize(("setup", "migration", "expected"), _params("mysql", MYSQL))
def test_mysql_rollback_restores_the_catalog(
    mysql_database: tuple[object, str], setup: str, migration: str, expected: str
) -> None:
    connection, database = mysql_database
    with connection.cursor() as cursor:
        _run(cursor.execute, setup, "mysql")
        before = _mysql_snapshot(connection, database)

        _run(cursor.execute, migration, "mysql")
        assert _mysql_snapshot(connection, database) != before
        _run(cursor.execute, generate_rollback(migration, "mysql").text, "mysql")

    assert _mysql_snapshot(connection, database) == before
