"""Rollback generation: SQL in, exact rollback text out, per vendor. Pure: no database."""

from __future__ import annotations

import pytest

from schema_manager.sql import generate_rollback

VENDORS = ("postgresql", "sqlite", "mysql")

USERS_SCRIPT = """
CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    email VARCHAR(255) UNIQUE NOT NULL,
    name VARCHAR(100),
    created_at TIMESTAMP DEFAULT NOW()
);
CREATE INDEX idx_users_email ON users(email);
"""

DATA_LOSS = "the data it removes cannot be restored; write the rollback by hand."
NO_INVERSE = "no automatic inverse is known for this statement; write the rollback by hand."
NO_ALTER_INVERSE = (
    "this ALTER TABLE action has no automatic inverse yet; write the rollback by hand."
)
UNNAMED_INDEX = "the index has no name (the database chose one), so it cannot be dropped by name."


def _all(text: str) -> dict[str, str]:
    return dict.fromkeys(VENDORS, text)


# (id, sql, expected rollback text per vendor). Every statement here is invertible.
INVERTIBLE = [
    # The outputs the integration guide promises (PostgreSQL), and their SQLite/MySQL forms.
    (
        "create-table",
        "CREATE TABLE users (id INT);",
        {
            "postgresql": "DROP TABLE IF EXISTS users CASCADE;",
            "sqlite": "DROP TABLE IF EXISTS users;",
            "mysql": "DROP TABLE IF EXISTS users;",
        },
    ),
    (
        "add-column",
        "ALTER TABLE users ADD COLUMN email VARCHAR(255);",
        {
            "postgresql": "ALTER TABLE users DROP COLUMN IF EXISTS email;",
            "sqlite": "ALTER TABLE users DROP COLUMN email;",
            "mysql": "ALTER TABLE users DROP COLUMN email;",
        },
    ),
    (
        "create-index",
        "CREATE INDEX idx_users_email ON users(email);",
        {
            "postgresql": "DROP INDEX IF EXISTS idx_users_email;",
            "sqlite": "DROP INDEX IF EXISTS idx_users_email;",
            "mysql": "DROP INDEX idx_users_email ON users;",
        },
    ),
    (
        "table-then-index-reversed",
        USERS_SCRIPT,
        {
            "postgresql": "DROP INDEX IF EXISTS idx_users_email;\n"
            "DROP TABLE IF EXISTS users CASCADE;",
            "sqlite": "DROP INDEX IF EXISTS idx_users_email;\nDROP TABLE IF EXISTS users;",
            "mysql": "DROP INDEX idx_users_email ON users;\nDROP TABLE IF EXISTS users;",
        },
    ),
    (
        # A unique index of a table the script made goes with the table (a foreign key made
        # later may depend on it); SQLite refuses to drop an indexed column, so there the
        # index is dropped first.
        "unique-index-of-a-table-made-goes-with-it",
        "CREATE TABLE users (id INT, email TEXT);\n"
        "CREATE UNIQUE INDEX users_email ON users (email);",
        {
            "postgresql": "DROP TABLE IF EXISTS users CASCADE;",
            "sqlite": "DROP INDEX IF EXISTS users_email;\nDROP TABLE IF EXISTS users;",
            "mysql": "DROP TABLE IF EXISTS users;",
        },
    ),
    # Names are kept exactly as written: quotes, case, schema.
    (
        "quoted-table",
        'CREATE TABLE "My Table" (id INT);',
        {
            "postgresql": 'DROP TABLE IF EXISTS "My Table" CASCADE;',
            "sqlite": 'DROP TABLE IF EXISTS "My Table";',
            "mysql": 'DROP TABLE IF EXISTS "My Table";',
        },
    ),
    (
        "schema-table",
        "CREATE TABLE s.users (id INT);",
        {
            "postgresql": "DROP TABLE IF EXISTS s.users CASCADE;",
            "sqlite": "DROP TABLE IF EXISTS s.users;",
            "mysql": "DROP TABLE IF EXISTS s.users;",
        },
    ),
    (
        "quoted-schema-table",
        'CREATE TABLE "S"."My Table" (id INT);',
        {
            "postgresql": 'DROP TABLE IF EXISTS "S"."My Table" CASCADE;',
            "sqlite": 'DROP TABLE IF EXISTS S."My Table";',  # SQLite ignores case
            "mysql": 'DROP TABLE IF EXISTS S."My Table";',
        },
    ),
    (
        "mixed-case-name",
        "CREATE TABLE UserProfiles (id INT);",
        {
            "postgresql": "DROP TABLE IF EXISTS UserProfiles CASCADE;",
            "sqlite": "DROP TABLE IF EXISTS UserProfiles;",
            "mysql": "DROP TABLE IF EXISTS UserProfiles;",
        },
    ),
    (
        "backquoted-table",
        "CREATE TABLE `orders` (id INT);",
        {
            # Quotes only where needed.
            "postgresql": "DROP TABLE IF EXISTS orders CASCADE;",
            "sqlite": "DROP TABLE IF EXISTS orders;",
            "mysql": "DROP TABLE IF EXISTS orders;",
        },
    ),
    (
        "index-on-schema-table-lives-in-that-schema",
        "CREATE INDEX idx ON s.t (x);",
        {
            "postgresql": "DROP INDEX IF EXISTS s.idx;",
            "sqlite": "DROP INDEX IF EXISTS s.idx;",
            "mysql": "DROP INDEX idx ON s.t;",
        },
    ),
    (
        "quoted-index-on-quoted-schema-table",
        'CREATE INDEX "Idx" ON "S"."T" ("Col");',
        {
            "postgresql": 'DROP INDEX IF EXISTS "S"."Idx";',
            "sqlite": "DROP INDEX IF EXISTS S.Idx;",
            "mysql": "DROP INDEX Idx ON S.T;",
        },
    ),
    (
        "add-column-schema-table",
        'ALTER TABLE s."My Table" ADD COLUMN "My Col" INT;',
        {
            "postgresql": 'ALTER TABLE s."My Table" DROP COLUMN IF EXISTS "My Col";',
            "sqlite": 'ALTER TABLE s."My Table" DROP COLUMN "My Col";',
            "mysql": 'ALTER TABLE s."My Table" DROP COLUMN "My Col";',
        },
    ),
    # IF NOT EXISTS / IF EXISTS / ONLY and other optional words.
    (
        "create-table-if-not-exists",
        "CREATE TABLE IF NOT EXISTS users (id INT);",
        {
            "postgresql": "DROP TABLE IF EXISTS users CASCADE;",
            "sqlite": "DROP TABLE IF EXISTS users;",
            "mysql": "DROP TABLE IF EXISTS users;",
        },
    ),
    (
        "create-temporary-table",
        "CREATE TEMPORARY TABLE scratch (id INT);",
        {
            "postgresql": "DROP TABLE IF EXISTS pg_temp.scratch;",
            "sqlite": "DROP TABLE IF EXISTS temp.scratch;",
            "mysql": "DROP TEMPORARY TABLE IF EXISTS scratch;",
        },
    ),
    (
        "create-unlogged-table",
        "CREATE UNLOGGED TABLE cache (k TEXT);",
        {
            "postgresql": "DROP TABLE IF EXISTS cache CASCADE;",
            "sqlite": "DROP TABLE IF EXISTS cache;",
            "mysql": "DROP TABLE IF EXISTS cache;",
        },
    ),
    (
        "create-table-no-space-before-paren",
        "CREATE TABLE users(id INT);",
        {
            "postgresql": "DROP TABLE IF EXISTS users CASCADE;",
            "sqlite": "DROP TABLE IF EXISTS users;",
            "mysql": "DROP TABLE IF EXISTS users;",
        },
    ),
    (
        "create-index-if-not-exists",
        "CREATE INDEX IF NOT EXISTS idx_a ON t (a);",
        {
            "postgresql": "DROP INDEX IF EXISTS idx_a;",
            "sqlite": "DROP INDEX IF EXISTS idx_a;",
            "mysql": "DROP INDEX idx_a ON t;",
        },
    ),
    (
        "add-column-if-not-exists",
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS a INT;",
        {
            "postgresql": "ALTER TABLE t DROP COLUMN IF EXISTS a;",
            "sqlite": "ALTER TABLE t DROP COLUMN a;",
            "mysql": "ALTER TABLE t DROP COLUMN a;",
        },
    ),
    (
        "alter-table-if-exists-only",
        "ALTER TABLE IF EXISTS ONLY t ADD COLUMN a INT;",
        {
            "postgresql": "ALTER TABLE t DROP COLUMN IF EXISTS a;",
            "sqlite": "ALTER TABLE t DROP COLUMN a;",
            "mysql": "ALTER TABLE t DROP COLUMN a;",
        },
    ),
    # UNIQUE / CONCURRENTLY / USING / partial indexes.
    (
        "unique-index",
        "CREATE UNIQUE INDEX users_email_key ON users (email);",
        {
            "postgresql": "DROP INDEX IF EXISTS users_email_key;",
            "sqlite": "DROP INDEX IF EXISTS users_email_key;",
            "mysql": "DROP INDEX users_email_key ON users;",
        },
    ),
    (
        "concurrent-index",
        "CREATE INDEX CONCURRENTLY idx_c ON t (c);",
        {
            "postgresql": "DROP INDEX IF EXISTS idx_c;",
            "sqlite": "DROP INDEX IF EXISTS idx_c;",
            "mysql": "DROP INDEX idx_c ON t;",
        },
    ),
    (
        "unique-concurrent-if-not-exists-index",
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_u ON ONLY t (u);",
        {
            "postgresql": "DROP INDEX IF EXISTS idx_u;",
            "sqlite": "DROP INDEX IF EXISTS idx_u;",
            "mysql": "DROP INDEX idx_u ON t;",
        },
    ),
    (
        "expression-partial-index",
        "CREATE INDEX idx_body ON docs USING gin (to_tsvector('english', body)) "
        "WHERE body IS NOT NULL;",
        {
            "postgresql": "DROP INDEX IF EXISTS idx_body;",
            "sqlite": "DROP INDEX IF EXISTS idx_body;",
            "mysql": "DROP INDEX idx_body ON docs;",
        },
    ),
    # Several ADD COLUMN actions: one DROP COLUMN each, last added first.
    (
        "two-add-columns",
        "ALTER TABLE users ADD COLUMN a INT, ADD COLUMN b TEXT;",
        {
            "postgresql": "ALTER TABLE users DROP COLUMN IF EXISTS b;\n"
            "ALTER TABLE users DROP COLUMN IF EXISTS a;",
            "sqlite": "ALTER TABLE users DROP COLUMN b;\nALTER TABLE users DROP COLUMN a;",
            "mysql": "ALTER TABLE users DROP COLUMN b;\nALTER TABLE users DROP COLUMN a;",
        },
    ),
    (
        "three-add-columns-with-commas-inside",
        "ALTER TABLE t\n"
        "    ADD COLUMN price NUMERIC(10, 2) DEFAULT 0,\n"
        "    ADD COLUMN status TEXT CHECK (status IN ('a', 'b')),\n"
        "    ADD COLUMN tags TEXT DEFAULT 'x,y';",
        {
            "postgresql": "ALTER TABLE t DROP COLUMN IF EXISTS tags;\n"
            "ALTER TABLE t DROP COLUMN IF EXISTS status;\n"
            "ALTER TABLE t DROP COLUMN IF EXISTS price;",
            "sqlite": "ALTER TABLE t DROP COLUMN tags;\n"
            "ALTER TABLE t DROP COLUMN status;\n"
            "ALTER TABLE t DROP COLUMN price;",
            "mysql": "ALTER TABLE t DROP COLUMN tags;\n"
            "ALTER TABLE t DROP COLUMN status;\n"
            "ALTER TABLE t DROP COLUMN price;",
        },
    ),
    # ADD without COLUMN.
    (
        "add-without-column",
        "ALTER TABLE users ADD phone VARCHAR(32);",
        {
            "postgresql": "ALTER TABLE users DROP COLUMN IF EXISTS phone;",
            "sqlite": "ALTER TABLE users DROP COLUMN phone;",
            "mysql": "ALTER TABLE users DROP COLUMN phone;",
        },
    ),
    (
        "two-adds-without-column",
        "ALTER TABLE users ADD x INT DEFAULT 0, ADD y NUMERIC(10, 2);",
        {
            "postgresql": "ALTER TABLE users DROP COLUMN IF EXISTS y;\n"
            "ALTER TABLE users DROP COLUMN IF EXISTS x;",
            "sqlite": "ALTER TABLE users DROP COLUMN y;\nALTER TABLE users DROP COLUMN x;",
            "mysql": "ALTER TABLE users DROP COLUMN y;\nALTER TABLE users DROP COLUMN x;",
        },
    ),
    # Columns and tables named like keywords.
    (
        "column-named-name",
        "ALTER TABLE users ADD COLUMN name TEXT;",
        {
            "postgresql": "ALTER TABLE users DROP COLUMN IF EXISTS name;",
            "sqlite": "ALTER TABLE users DROP COLUMN name;",
            "mysql": "ALTER TABLE users DROP COLUMN name;",
        },
    ),
    (
        "column-named-comment-without-column-keyword",
        "ALTER TABLE posts ADD comment TEXT;",
        {
            "postgresql": "ALTER TABLE posts DROP COLUMN IF EXISTS comment;",
            "sqlite": "ALTER TABLE posts DROP COLUMN comment;",
            "mysql": "ALTER TABLE posts DROP COLUMN comment;",
        },
    ),
    (
        "keyword-columns-type-and-value",
        "ALTER TABLE t ADD COLUMN type TEXT, ADD COLUMN value TEXT;",
        {
            "postgresql": "ALTER TABLE t DROP COLUMN IF EXISTS value;\n"
            "ALTER TABLE t DROP COLUMN IF EXISTS type;",
            "sqlite": "ALTER TABLE t DROP COLUMN value;\nALTER TABLE t DROP COLUMN type;",
            "mysql": "ALTER TABLE t DROP COLUMN value;\nALTER TABLE t DROP COLUMN type;",
        },
    ),
    (
        "quoted-reserved-column",
        'ALTER TABLE t ADD COLUMN "index" INT;',
        {
            "postgresql": "ALTER TABLE t DROP COLUMN IF EXISTS index;",  # not reserved there
            "sqlite": 'ALTER TABLE t DROP COLUMN "index";',
            "mysql": 'ALTER TABLE t DROP COLUMN "index";',
        },
    ),
    (
        "quoted-column-with-semicolon",
        'ALTER TABLE t ADD COLUMN "a;b" INT;',
        {
            "postgresql": 'ALTER TABLE t DROP COLUMN IF EXISTS "a;b";',
            "sqlite": 'ALTER TABLE t DROP COLUMN "a;b";',
            "mysql": 'ALTER TABLE t DROP COLUMN "a;b";',
        },
    ),
    (
        "table-and-index-named-like-keywords",
        "CREATE TABLE comment (id INT);\nCREATE INDEX name ON comment (id);",
        {
            "postgresql": "DROP INDEX IF EXISTS name;\nDROP TABLE IF EXISTS comment CASCADE;",
            "sqlite": "DROP INDEX IF EXISTS name;\nDROP TABLE IF EXISTS comment;",
            "mysql": "DROP INDEX name ON comment;\nDROP TABLE IF EXISTS comment;",
        },
    ),
    # Lowercase and mixed-case keywords.
    (
        "lowercase-keywords",
        "create table users (id int);\n"
        "alter table users add column email text;\n"
        "create unique index concurrently if not exists i on s.users (email);",
        {
            "postgresql": "DROP INDEX IF EXISTS s.i;\n"
            "ALTER TABLE users DROP COLUMN IF EXISTS email;\n"
            "DROP TABLE IF EXISTS users CASCADE;",
            "sqlite": "DROP INDEX IF EXISTS s.i;\n"
            "ALTER TABLE users DROP COLUMN email;\n"
            "DROP TABLE IF EXISTS users;",
            "mysql": "DROP INDEX i ON s.users;\n"
            "ALTER TABLE users DROP COLUMN email;\n"
            "DROP TABLE IF EXISTS users;",
        },
    ),
    (
        "mixed-case-keywords",
        "Create Table Users (Id Int);",
        {
            "postgresql": "DROP TABLE IF EXISTS Users CASCADE;",
            "sqlite": "DROP TABLE IF EXISTS Users;",
            "mysql": "DROP TABLE IF EXISTS Users;",
        },
    ),
    # Comments and blank lines between statements (a Prisma-style migration.sql).
    (
        "comments-and-blank-lines",
        "-- CreateTable\n"
        "CREATE TABLE a (id INT); -- trailing comment; with a semicolon\n"
        "\n\n"
        "/* block comment; CREATE TABLE ghost (id INT); */\n"
        "\n"
        "-- AlterTable\n"
        "ALTER TABLE a ADD COLUMN b INT;\n"
        "\n"
        "-- CreateIndex\n"
        "CREATE INDEX a_b_idx ON a(b);\n"
        "-- the end\n",
        {
            "postgresql": "DROP INDEX IF EXISTS a_b_idx;\n"
            "ALTER TABLE a DROP COLUMN IF EXISTS b;\n"
            "DROP TABLE IF EXISTS a CASCADE;",
            "sqlite": "DROP INDEX IF EXISTS a_b_idx;\n"
            "ALTER TABLE a DROP COLUMN b;\n"
            "DROP TABLE IF EXISTS a;",
            "mysql": "DROP INDEX a_b_idx ON a;\n"
            "ALTER TABLE a DROP COLUMN b;\n"
            "DROP TABLE IF EXISTS a;",
        },
    ),
    (
        "no-final-semicolon",
        "CREATE TABLE a (id INT);\nCREATE TABLE b (id INT)",
        {
            "postgresql": "DROP TABLE IF EXISTS b CASCADE;\nDROP TABLE IF EXISTS a CASCADE;",
            "sqlite": "DROP TABLE IF EXISTS b;\nDROP TABLE IF EXISTS a;",
            "mysql": "DROP TABLE IF EXISTS b;\nDROP TABLE IF EXISTS a;",
        },
    ),
    ("empty", "", _all("")),
    ("comments-only", "-- nothing\n/* here */\n", _all("")),
]


def _per_vendor(cases: list[tuple[str, str, dict[str, str]]]) -> list[object]:
    return [
        pytest.param(
            _spelled_for(vendor, sql),
            vendor,
            _spelled_for(vendor, expected[vendor]),
            id=f"{case_id}-{vendor}",
        )
        for case_id, sql, expected in cases
        for vendor in VENDORS
    ]


def _spelled_for(vendor: str, sql: str) -> str:
    """MySQL quotes names with backticks; "..." is a string there."""
    return sql.replace('"', "`") if vendor == "mysql" else sql


@pytest.mark.parametrize(("sql", "vendor", "expected"), _per_vendor(INVERTIBLE))
def test_invertible_statements(sql: str, vendor: str, expected: str) -> None:
    script = generate_rollback(sql, vendor)

    assert script.text == expected
    assert script.lines == (expected.split("\n") if expected else [])
    assert script.warnings == []
    assert script.is_complete


# (id, sql, the one WARNING line, identical for every vendor).
NOT_INVERTIBLE = [
    (
        "drop-table",
        "DROP TABLE users;",
        "-- WARNING: cannot roll back statement 1 (DROP TABLE users): it drops a table; "
        + DATA_LOSS,
    ),
    (
        "drop-table-if-exists-several",
        "DROP TABLE IF EXISTS a, b CASCADE;",
        "-- WARNING: cannot roll back statement 1 (DROP TABLE IF EXISTS a , b CASCADE): "
        "it drops a table; " + DATA_LOSS,
    ),
    (
        "drop-column",
        "ALTER TABLE users DROP COLUMN email;",
        "-- WARNING: cannot roll back statement 1 (ALTER TABLE users DROP COLUMN email): "
        "it drops a column; " + DATA_LOSS,
    ),
    (
        "drop-without-column-keyword",
        "ALTER TABLE users DROP email;",
        "-- WARNING: cannot roll back statement 1 (ALTER TABLE users DROP email): "
        "it drops a column; " + DATA_LOSS,
    ),
    (
        "add-and-drop-column",
        "ALTER TABLE t ADD COLUMN a INT, DROP COLUMN b;",
        "-- WARNING: cannot roll back statement 1 "
        "(ALTER TABLE t ADD COLUMN a INT , DROP COLUMN b): it drops a column; " + DATA_LOSS,
    ),
    (
        "truncate",
        "TRUNCATE users;",
        "-- WARNING: cannot roll back statement 1 (TRUNCATE users): it truncates a table; "
        + DATA_LOSS,
    ),
    (
        "truncate-table",
        "TRUNCATE TABLE users;",
        "-- WARNING: cannot roll back statement 1 (TRUNCATE TABLE users): it truncates a table; "
        + DATA_LOSS,
    ),
    (
        "unnamed-index",
        "CREATE INDEX ON t (x);",
        "-- WARNING: cannot roll back statement 1 (CREATE INDEX ON t ( x )): " + UNNAMED_INDEX,
    ),
    (
        "unnamed-unique-index",
        "CREATE UNIQUE INDEX ON t (x);",
        "-- WARNING: cannot roll back statement 1 (CREATE UNIQUE INDEX ON t ( x )): "
        + UNNAMED_INDEX,
    ),
    (
        "drop-primary-key-is-not-a-column",
        "ALTER TABLE t DROP PRIMARY KEY;",
        "-- WARNING: cannot roll back statement 1 (ALTER TABLE t DROP PRIMARY KEY): "
        + NO_ALTER_INVERSE,
    ),
    (
        "grant",
        "GRANT SELECT ON t TO reader;",
        "-- WARNING: cannot roll back statement 1 (GRANT SELECT ON t TO reader): " + NO_INVERSE,
    ),
    (
        "drop-index",
        "DROP INDEX i;",
        "-- WARNING: cannot roll back statement 1 (DROP INDEX i): it drops an index whose "
        "definition is not in this script; write the rollback by hand.",
    ),
    (
        "long-statement-is-shortened",
        "SELECT pg_notify_each_listener_about (event, detail) FROM audit_log WHERE "
        "event = 'migration' AND detail = 'a rather long detail that goes on and on';",
        "-- WARNING: cannot roll back statement 1 (SELECT pg_notify_each_listener_about ( event , "
        "detail ) FROM audit_log WHERE ...): " + NO_INVERSE,
    ),
    (
        # A multi-line body once broke the comment, leaving its other lines as runnable SQL.
        "multi-line-statement-stays-on-one-comment-line",
        "SELECT f(\n  1,\n  2\n)\nFROM t;",
        "-- WARNING: cannot roll back statement 1 (SELECT f ( 1 , 2 ) FROM t): " + NO_INVERSE,
    ),
    (
        "multi-line-string",
        "SELECT f('line one\nline two\r\nline three');",
        "-- WARNING: cannot roll back statement 1 (SELECT f "
        "( 'line one line two line three' )): " + NO_INVERSE,
    ),
]


@pytest.mark.parametrize(
    ("sql", "vendor", "expected"),
    [
        pytest.param(sql, vendor, line, id=f"{case_id}-{vendor}")
        for case_id, sql, line in NOT_INVERTIBLE
        for vendor in VENDORS
    ],
)
def test_statements_without_inverse_warn(sql: str, vendor: str, expected: str) -> None:
    script = generate_rollback(sql, vendor)

    assert script.lines == [expected]
    assert script.text == expected
    assert script.warnings == [expected.removeprefix("-- WARNING: ")]
    assert not script.is_complete


MIXED_SCRIPT = """\
-- 1
CREATE TABLE accounts (id INT);
-- 2
DROP TABLE legacy_accounts;
-- 3
ALTER TABLE accounts ADD COLUMN owner TEXT;
-- 4
TRUNCATE sessions;
-- 5
CREATE INDEX ON sessions (owner);
-- 6
CREATE INDEX accounts_owner_idx ON accounts (owner);
-- 7
ALTER TABLE users DROP COLUMN legacy;
-- 8
ALTER TABLE accounts ADD CONSTRAINT owner_key UNIQUE (owner);
-- 9
GRANT SELECT ON accounts TO reporting;
"""

MIXED_WARNINGS = [
    "cannot roll back statement 9 (GRANT SELECT ON accounts TO reporting): " + NO_INVERSE,
    "cannot roll back statement 7 (ALTER TABLE users DROP COLUMN legacy): "
    "it drops a column; " + DATA_LOSS,
    "cannot roll back statement 5 (CREATE INDEX ON sessions ( owner )): " + UNNAMED_INDEX,
    "cannot roll back statement 4 (TRUNCATE sessions): it truncates a table; " + DATA_LOSS,
    "cannot roll back statement 2 (DROP TABLE legacy_accounts): it drops a table; " + DATA_LOSS,
]


def test_warnings_sit_in_reverse_order_position_postgresql() -> None:
    script = generate_rollback(MIXED_SCRIPT, "postgresql")

    w = [f"-- WARNING: {warning}" for warning in MIXED_WARNINGS]
    assert script.lines == [
        w[0],  # 9
        "ALTER TABLE accounts DROP CONSTRAINT IF EXISTS owner_key;",  # 8
        w[1],  # 7
        "DROP INDEX IF EXISTS accounts_owner_idx;",  # 6
        w[2],  # 5
        w[3],  # 4
        "ALTER TABLE accounts DROP COLUMN IF EXISTS owner;",  # 3
        w[4],  # 2
        "DROP TABLE IF EXISTS accounts CASCADE;",  # 1
    ]
    assert script.warnings == MIXED_WARNINGS
    assert not script.is_complete


def test_warnings_sit_in_reverse_order_position_mysql() -> None:
    script = generate_rollback(MIXED_SCRIPT, "mysql")

    w = [f"-- WARNING: {warning}" for warning in MIXED_WARNINGS]
    assert script.lines == [
        w[0],
        "ALTER TABLE accounts DROP INDEX owner_key;",
        w[1],
        "DROP INDEX accounts_owner_idx ON accounts;",
        w[2],
        w[3],
        "ALTER TABLE accounts DROP COLUMN owner;",
        w[4],
        "DROP TABLE IF EXISTS accounts;",
    ]
    assert script.warnings == MIXED_WARNINGS


def test_warning_numbers_count_statements_not_lines_or_comments() -> None:
    sql = "-- header\n\nCREATE TABLE a (id INT);;\n/* x; y */\n\nDROP TABLE b;\n"

    script = generate_rollback(sql, "sqlite")

    assert script.lines == [
        "-- WARNING: cannot roll back statement 2 (DROP TABLE b): it drops a table; " + DATA_LOSS,
        "DROP TABLE IF EXISTS a;",
    ]


def test_a_statement_inside_a_function_body_is_not_inverted() -> None:
    sql = (
        "CREATE FUNCTION f() RETURNS void AS $$ BEGIN CREATE TABLE inner_t (id INT); END $$ "
        "LANGUAGE plpgsql;"
    )

    script = generate_rollback(sql, "postgresql")

    assert script.lines == ["DROP FUNCTION IF EXISTS f();"]


def test_warning_only_script_is_incomplete_and_empty_script_is_complete() -> None:
    assert not generate_rollback("GRANT SELECT ON t TO reader;", "postgresql").is_complete
    assert generate_rollback("", "postgresql").is_complete


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO t VALUES (1);",
        "UPDATE t SET a = 1 WHERE id = 2;",
        "DELETE FROM t WHERE id = 1;",
        "WITH gone AS (SELECT id FROM t) DELETE FROM u WHERE id IN (SELECT id FROM gone);",
    ],
)
def test_statements_that_change_rows_only_say_so_and_block_nothing(sql: str, vendor: str) -> None:
    script = generate_rollback(sql, vendor)

    assert script.is_complete
    [line] = script.lines
    assert line.startswith("-- NOTE: statement 1 (")
    assert line.endswith("changes rows only; the rollback leaves the data as it is.")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ('ALTER INDEX "a_key" RENAME TO "b_key";', "ALTER INDEX b_key RENAME TO a_key;"),
        ("ALTER INDEX IF EXISTS s.a RENAME TO b;", "ALTER INDEX s.b RENAME TO a;"),
        ('ALTER TYPE "Role" RENAME TO "UserRole";', 'ALTER TYPE "UserRole" RENAME TO "Role";'),
        ("ALTER SEQUENCE a_seq RENAME TO b_seq;", "ALTER SEQUENCE b_seq RENAME TO a_seq;"),
        ("ALTER VIEW v RENAME TO w;", "ALTER VIEW w RENAME TO v;"),
        (
            "ALTER TYPE \"Role\" RENAME VALUE 'ADMIN' TO 'OWNER';",
            "ALTER TYPE \"Role\" RENAME VALUE 'OWNER' TO 'ADMIN';",
        ),
    ],
)
def test_renames_of_indexes_types_sequences_and_views_are_undone(sql: str, expected: str) -> None:
    script = generate_rollback(sql, "postgresql")

    assert script.lines == [expected]


def test_changes_to_what_the_script_created_need_no_inverse() -> None:
    sql = (
        "ALTER TABLE envelopes ADD COLUMN level TEXT NOT NULL DEFAULT 'SES';\n"
        "ALTER TABLE envelopes ALTER COLUMN level DROP DEFAULT;\n"
        "CREATE TABLE portals (id INT, temp_id INT);\n"
        "ALTER TABLE portals DROP COLUMN temp_id, ADD COLUMN owner INT;\n"
        "ALTER TABLE portals RENAME TO sso_portals;\n"
    )

    script = generate_rollback(sql, "postgresql")

    assert script.lines == [
        "ALTER TABLE sso_portals RENAME TO portals;",
        "ALTER TABLE portals DROP COLUMN IF EXISTS owner;",
        "DROP TABLE IF EXISTS portals CASCADE;",
        "ALTER TABLE envelopes DROP COLUMN IF EXISTS level;",
    ]


def test_dropping_a_constraint_the_script_added_needs_no_inverse() -> None:
    """Shelf's: a foreign key added, dropped to set the column NOT NULL, added again with
    another rule. Each ADD's inverse drops it if it is there; the DROP between them restores
    nothing that was there before the script."""
    sql = (
        'ALTER TABLE "Image" ADD COLUMN "ownerOrgId" TEXT;\n'
        'ALTER TABLE "Image" ADD CONSTRAINT "Image_ownerOrgId_fkey" FOREIGN KEY ("ownerOrgId") '
        'REFERENCES "Org"("id") ON DELETE SET NULL;\n'
        'ALTER TABLE "Image" DROP CONSTRAINT "Image_ownerOrgId_fkey";\n'
        'ALTER TABLE "Image" RENAME CONSTRAINT "Image_key" TO "Image_unique";\n'
        'ALTER TABLE "Image" ADD CONSTRAINT "Image_ownerOrgId_fkey" FOREIGN KEY ("ownerOrgId") '
        'REFERENCES "Org"("id") ON DELETE RESTRICT;\n'
        'ALTER TABLE "Image" ADD CONSTRAINT "Image_check" CHECK (true);\n'
        'ALTER TABLE "Image" RENAME CONSTRAINT "Image_check" TO "Image_checked";\n'
        'ALTER TABLE "Image" DROP CONSTRAINT IF EXISTS "Image_checked";\n'
    )

    script = generate_rollback(sql, "postgresql")

    assert script.is_complete, script.warnings
    assert script.lines == [
        'ALTER TABLE "Image" RENAME CONSTRAINT "Image_checked" TO "Image_check";',
        'ALTER TABLE "Image" DROP CONSTRAINT IF EXISTS "Image_check";',
        'ALTER TABLE "Image" DROP CONSTRAINT IF EXISTS "Image_ownerOrgId_fkey";',
        'ALTER TABLE "Image" RENAME CONSTRAINT "Image_unique" TO "Image_key";',
        'ALTER TABLE "Image" DROP CONSTRAINT IF EXISTS "Image_ownerOrgId_fkey";',
        'ALTER TABLE "Image" DROP COLUMN IF EXISTS "ownerOrgId";',
    ]


def test_validating_a_constraint_the_script_added_needs_no_inverse() -> None:
    sql = (
        "ALTER TABLE hooks ADD CONSTRAINT hooks_shape CHECK (url <> '') NOT VALID;\n"
        "ALTER TABLE hooks VALIDATE CONSTRAINT hooks_shape;\n"
    )

    script = generate_rollback(sql, "postgresql")

    assert script.is_complete, script.warnings
    assert script.lines == ["ALTER TABLE hooks DROP CONSTRAINT IF EXISTS hooks_shape;"]


def test_set_default_without_the_catalog_says_the_previous_default_is_unknown() -> None:
    script = generate_rollback("ALTER TABLE t ALTER COLUMN a SET DEFAULT 1;", "postgresql")

    assert script.lines[0] == "ALTER TABLE t ALTER COLUMN a DROP DEFAULT;"
    assert script.lines[1].startswith("-- CAUTION: the default column a had before is not known")
    assert script.is_complete


@pytest.mark.parametrize(
    "setting",
    [
        "SET lock_timeout = '5s';",
        "SET statement_timeout TO 0;",
        "SET SESSION idle_in_transaction_session_timeout = '1min';",
        "SET maintenance_work_mem = '1GB';",
        "SET client_min_messages TO warning;",
        "SET enable_seqscan = off;",
        "RESET lock_timeout;",
    ],
)
def test_a_setting_that_governs_only_how_statements_run_needs_no_inverse(setting: str) -> None:
    """Timeouts, memory, messages and planner switches change nothing the schema keeps: the
    rollback undoes the rest of the script and says nothing about them."""
    script = generate_rollback(f"{setting}\nALTER TABLE t ADD COLUMN c INT;", "postgresql")

    assert script.lines == ["ALTER TABLE t DROP COLUMN IF EXISTS c;"]
    assert script.is_complete


@pytest.mark.parametrize(
    "setting",
    [
        "SET search_path TO billing;",
        "SET ROLE owner;",
        "SET default_tablespace = fast;",
        "SET session_replication_role = replica;",
        "RESET ALL;",
    ],
)
def test_a_setting_that_changes_what_statements_make_keeps_its_warning(setting: str) -> None:
    """Where names resolve, who owns what is made, where it is stored, whether triggers fire:
    the inverse would have to run under the same setting, so the generator does not guess."""
    script = generate_rollback(f"{setting}\nALTER TABLE t ADD COLUMN c INT;", "postgresql")

    assert not script.is_complete
    assert script.warnings[0].startswith("cannot roll back statement 1 (")


@pytest.mark.parametrize(
    "lock",
    [
        'LOCK TABLE "Newsletter" IN SHARE ROW EXCLUSIVE MODE;',
        "LOCK accounts;",
        "LOCK TABLE ONLY a, b IN ACCESS EXCLUSIVE MODE NOWAIT;",
    ],
)
def test_a_table_lock_needs_no_inverse(lock: str) -> None:
    """A lock is held until the migration's transaction ends and changes nothing: the rollback
    undoes the rest and says nothing of it (a script locks a table before de-duplicating it)."""
    script = generate_rollback(f"{lock}\nALTER TABLE t ADD COLUMN c INT;", "postgresql")

    assert script.lines == ["ALTER TABLE t DROP COLUMN IF EXISTS c;"]
    assert script.is_complete


def test_mysql_lock_tables_keeps_its_warning() -> None:
    """MySQL's LOCK TABLES commits the open transaction: not a statement to pass over."""
    script = generate_rollback("LOCK TABLES t WRITE;\nALTER TABLE t ADD COLUMN c INT;", "mysql")

    assert not script.is_complete


@pytest.mark.parametrize(
    ("vendor", "expected"),
    [
        ("postgresql", "DROP TABLE IF EXISTS pg_temp.dedup;"),
        ("mysql", "DROP TEMPORARY TABLE IF EXISTS dedup;"),
        ("sqlite", "DROP TABLE IF EXISTS temp.dedup;"),
    ],
)
@pytest.mark.parametrize("create", ["CREATE TEMP TABLE", "CREATE LOCAL TEMPORARY TABLE"])
def test_a_temporary_table_is_dropped_only_from_the_session_s_temporary_schema(
    vendor: str, expected: str, create: str
) -> None:
    """A rollback of a script that made a temporary table never names a table that a plain
    ``DROP TABLE`` could resolve to a permanent one of the same name."""
    script = generate_rollback(f"{create} dedup (id INT);", vendor)

    assert script.lines == [expected]


@pytest.mark.parametrize(
    ("action", "inverse"),
    [
        ("ENABLE ROW LEVEL SECURITY", "DISABLE ROW LEVEL SECURITY"),
        ("enable row level security", "DISABLE ROW LEVEL SECURITY"),
        ("DISABLE ROW LEVEL SECURITY", "ENABLE ROW LEVEL SECURITY"),
        ("FORCE ROW LEVEL SECURITY", "NO FORCE ROW LEVEL SECURITY"),
        ("NO FORCE ROW LEVEL SECURITY", "FORCE ROW LEVEL SECURITY"),
    ],
)
def test_row_level_security_is_switched_back(action: str, inverse: str) -> None:
    """Without the catalog, the switch is taken to have been the other way before (as a
    nullability change is); the capture reads how it was."""
    script = generate_rollback(f'ALTER TABLE "Qr" {action};', "postgresql")

    assert script.text == f'ALTER TABLE "Qr" {inverse};'
    assert script.is_complete


def test_row_level_security_is_postgresql_s_own() -> None:
    script = generate_rollback("ALTER TABLE qr ENABLE ROW LEVEL SECURITY;", "mysql")

    assert not script.is_complete
