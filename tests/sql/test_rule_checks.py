"""Safety rules: every finding ``check_migration_id`` and ``check_sql`` can produce. Pure."""

from __future__ import annotations

import pytest

from schema_manager.sql import Finding, check_migration_id, check_sql

BACK_UP = (
    "; this cannot be undone by a rollback script. "
    "Back the data up first or make the change additive."
)


def _codes(sql: str) -> list[tuple[str, str, bool]]:
    return [(f.code, f.severity, f.destructive) for f in check_sql(sql)]


# --- Migration ids -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "migration_id",
    [
        "001_add_users_table",
        "20240101120000_add_users",
        "20240101120000_",  # Prisma's folder for a migration created without a name
        "1_a",
        "001__double_underscore",
        # Prisma lists every folder under migrations/ by its name, whatever it is.
        "migration1",
        "001_Add_Users",
        "001-add-users",
        "001_add users",
        "001_add.users",
        "_001_add",
        "001",
        " 001_add",
        ".hidden",
        "...",
        "\u0661\u0662_add",
        "001_caf\u00e9",
        "001_\u65e5\u672c",
    ],
)
def test_every_folder_name_prisma_lists_is_a_valid_id(migration_id: str) -> None:
    assert check_migration_id(migration_id) == []


def test_255_character_id_is_valid() -> None:
    migration_id = "001_" + "a" * 251
    assert len(migration_id) == 255

    assert check_migration_id(migration_id) == []


def _problems(migration_id: str) -> list[str]:
    findings = check_migration_id(migration_id)
    kinds = {(f.code, f.severity, f.destructive) for f in findings}
    assert kinds == {("invalid-id", "error", False)}
    return [f.message for f in findings]


def test_empty_id() -> None:
    assert _problems("") == ["Migration id is empty."]


@pytest.mark.parametrize("migration_id", [".", ".."])
def test_the_folder_itself_or_its_parent_is_refused(migration_id: str) -> None:
    assert _problems(migration_id) == [
        f"Migration id {migration_id!r} names the migrations folder or its parent, not a "
        "folder of its own."
    ]


@pytest.mark.parametrize(
    ("migration_id", "named"),
    [("../001_x", "'/'"), ("001/x", "'/'"), ("001\\x", "'\\\\'"), ("/etc", "'/'")],
)
def test_a_path_is_refused(migration_id: str, named: str) -> None:
    assert _problems(migration_id) == [
        f"Migration id {migration_id!r} contains {named}; it must be the name of one folder "
        "under migrations/, not a path."
    ]


@pytest.mark.parametrize(
    ("migration_id", "code"),
    [
        ("001_add\n", "U+000A"),  # would end a log line or a -- comment of generated SQL
        ("001\x00", "U+0000"),
        ("001_\x1b[31m", "U+001B"),  # a terminal escape
        ("001_\u202egnp", "U+202E"),  # right-to-left override: reads otherwise than stored
        ("001_\udcff", "U+DCFF"),  # a folder name that is not UTF-8, as Python lists it
        ("001_\u2028", "U+2028"),
    ],
)
def test_control_direction_and_undecodable_characters_are_refused(
    migration_id: str, code: str
) -> None:
    assert _problems(migration_id) == [
        f"Migration id {migration_id!r} contains a control, text-direction or undecodable "
        f"character ({code}); rename its folder."
    ]


def test_256_character_id_is_too_long() -> None:
    assert _problems("001_" + "a" * 252) == [
        "Migration id is 256 characters long; the limit is 255 (a folder name's, and the "
        "ledger's migration_name column)."
    ]


def test_an_id_over_255_bytes_of_utf8_is_too_long() -> None:
    migration_id = "001_" + "\u00e9" * 126  # 130 characters, 256 bytes
    assert _problems(migration_id) == [
        "Migration id is 256 bytes of UTF-8 long; the limit is 255 (a folder name's, and the "
        "ledger's migration_name column)."
    ]


def test_a_long_path_gets_both_findings() -> None:
    problems = _problems("a/" * 200)

    assert len(problems) == 2
    assert "not a path" in problems[0]
    assert problems[1].startswith("Migration id is 400 characters long")


# --- Empty SQL -------------------------------------------------------------------------------


@pytest.mark.parametrize("sql", ["", " ", "\n\n\t  \r\n"])
def test_empty_sql(sql: str) -> None:
    assert check_sql(sql) == [
        Finding(
            "no-statements",
            "warning",
            "SQL is empty: applying it changes nothing and records it as applied, as Prisma "
            "does with an empty migration.sql.",
        )
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "-- just a comment",
        "-- one\n-- two; with a semicolon\n",
        "/* a block comment */",
        "/* multi\n   line; comment */\n",
        "-- line\n/* block */\n  -- line again\n",
        ";",
        "; ;\n;",
    ],
)
def test_comment_only_sql_is_prismas_empty_migration(sql: str) -> None:
    assert check_sql(sql) == [
        Finding(
            "no-statements",
            "warning",
            "SQL has no statements, only comments: applying it changes nothing and records it "
            "as applied, as Prisma does with an empty migration.",
        )
    ]


# --- Syntax ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            # The quote runs to the end of the script, so the "(" is never closed either.
            "INSERT INTO t VALUES ('oops);",
            "Statement 1 (INSERT INTO t VALUES ( 'oops);) does not parse: "
            "unterminated quoted string or identifier.",
        ),
        (
            'SELECT "unclosed FROM t;',
            'Statement 1 (SELECT "unclosed FROM t;) does not parse: '
            "unterminated quoted string or identifier.",
        ),
        (
            "CREATE TABLE t (id INT); /* never closed",
            "Statement 2 (/* never closed) does not parse: unterminated /* comment.",
        ),
        (
            "CREATE TABLE t (id INT;",
            "Statement 1 (CREATE TABLE t ( id INT) does not parse: unbalanced parentheses.",
        ),
        (
            "SELECT 1);",
            "Statement 1 (SELECT 1 )) does not parse: unbalanced parentheses.",
        ),
        (
            "SELECT (1));",
            "Statement 1 (SELECT ( 1 ) )) does not parse: unbalanced parentheses.",
        ),
        (
            "hello world;",
            "Statement 1 (hello world) does not parse: "
            "does not start with an SQL keyword (starts with 'hello').",
        ),
        (
            "CREATE TABLE a (id INT);\n42;",
            "Statement 2 (42) does not parse: "
            "does not start with an SQL keyword (starts with '42').",
        ),
        (
            "SELECT $$never closed;",
            "Statement 1 (SELECT $$never closed;) does not parse: "
            "unterminated quoted string or identifier.",
        ),
    ],
)
def test_syntax_errors(sql: str, message: str) -> None:
    assert check_sql(sql)[0] == Finding("syntax", "error", message)


def test_syntax_error_message_names_the_right_statement() -> None:
    sql = "CREATE TABLE a (id INT);\nCREATE TABLE b (id INT);\nhello world;\n"

    (finding,) = check_sql(sql)

    assert finding.code == "syntax"
    assert finding.message.startswith("Statement 3 (hello world) does not parse")


@pytest.mark.parametrize(
    "sql",
    [
        "(SELECT 1);",
        "SELECT (1 + (2 * 3));",
        "SELECT ')(';",
        'SELECT "a(b" FROM t;',
        "SELECT 1 -- (\n;",
        "SELECT 1 /* ( */;",
        "SELECT 1 / 2 * 3;",
        "SELECT 'it''s';",
        "SELECT $$ ( $$;",
        "CREATE FUNCTION f() RETURNS int AS $fn$ SELECT (1; $fn$ LANGUAGE sql;",
        "COMMENT ON TABLE t IS 'x';",
        "GRANT SELECT ON t TO bob;",
        "WITH x AS (SELECT 1) SELECT * FROM x;",
        "SAVEPOINT a; ROLLBACK TO SAVEPOINT a;",  # BEGIN/COMMIT: see tests/sql/test_rule_table.py
        "VACUUM t;",
        "SET statement_timeout TO 0;",
        # Verbs sqlparse lexes as names, once refused as "does not start with an SQL keyword".
        "PRAGMA foreign_keys=OFF;",
        "PRAGMA defer_foreign_keys = ON;",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY v;",
        "SAVEPOINT a; RELEASE SAVEPOINT a;",
        "DISCARD ALL;",
        "REASSIGN OWNED BY a TO b;",
        "OPTIMIZE TABLE t;",
        "IMPORT FOREIGN SCHEMA s FROM SERVER x INTO y;",
    ],
)
def test_valid_sql_has_no_finding(sql: str) -> None:
    assert check_sql(sql) == []


def test_prisma_sqlite_redefine_table_migration_has_only_the_drop_table_warning() -> None:
    sql = """\
-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Post" ("id" INTEGER NOT NULL PRIMARY KEY, "title" TEXT NOT NULL);
INSERT INTO "new_Post" ("id", "title") SELECT "id", "title" FROM "Post";
DROP TABLE "Post";
ALTER TABLE "new_Post" RENAME TO "Post";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
"""

    assert _codes(sql) == [("drop-table", "warning", True)]
    assert check_sql(sql)[0].message.startswith('Statement 5 (DROP TABLE "Post")')


# --- DROP DATABASE ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "summary"),
    [
        ("DROP DATABASE production;", "DROP DATABASE production"),
        ("drop database if exists production;", "drop database if exists production"),
    ],
)
def test_drop_database_is_a_destructive_error(sql: str, summary: str) -> None:
    assert check_sql(sql) == [
        Finding(
            "drop-database",
            "error",
            f"Statement 1 ({summary}) drops a whole database; migrations may never do that.",
            destructive=True,
        )
    ]


# --- Destructive warnings --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "code", "what"),
    [
        (
            "DROP TABLE users;",
            "drop-table",
            "Statement 1 (DROP TABLE users) drops a table and all its rows",
        ),
        (
            "drop table if exists a, b cascade;",
            "drop-table",
            "Statement 1 (drop table if exists a , b cascade) drops a table and all its rows",
        ),
        (
            "ALTER TABLE users DROP COLUMN email;",
            "drop-column",
            "Statement 1 (ALTER TABLE users DROP COLUMN email) drops a column and its data",
        ),
        (
            "ALTER TABLE users DROP email;",
            "drop-column",
            "Statement 1 (ALTER TABLE users DROP email) drops a column and its data",
        ),
        (
            "ALTER TABLE users ADD COLUMN a INT, DROP COLUMN IF EXISTS b;",
            "drop-column",
            "Statement 1 (ALTER TABLE users ADD COLUMN a INT , DROP COLUMN IF EXISTS b) "
            "drops a column and its data",
        ),
        (
            "TRUNCATE logs;",
            "truncate",
            "Statement 1 (TRUNCATE logs) deletes every row of a table",
        ),
        (
            "TRUNCATE TABLE ONLY logs;",
            "truncate",
            "Statement 1 (TRUNCATE TABLE ONLY logs) deletes every row of a table",
        ),
        (
            "DELETE FROM sessions;",
            "delete-without-where",
            "Statement 1 (DELETE FROM sessions) deletes every row (no WHERE)",
        ),
        (
            "DELETE FROM sessions -- WHERE expired\n;",
            "delete-without-where",
            "Statement 1 (DELETE FROM sessions) deletes every row (no WHERE)",
        ),
        (
            "UPDATE users SET active = false;",
            "update-without-where",
            "Statement 1 (UPDATE users SET active = false) updates every row (no WHERE)",
        ),
        (
            "UPDATE users SET note = 'WHERE';",
            "update-without-where",
            "Statement 1 (UPDATE users SET note = 'WHERE') updates every row (no WHERE)",
        ),
        (
            # The subquery's WHERE does not limit which rows are updated.
            "UPDATE users SET plan = (SELECT id FROM plans WHERE name = 'free');",
            "update-without-where",
            "Statement 1 (UPDATE users SET plan = ( SELECT id FROM plans WHERE name = 'free' )) "
            "updates every row (no WHERE)",
        ),
    ],
)
def test_destructive_warnings(sql: str, code: str, what: str) -> None:
    assert check_sql(sql) == [Finding(code, "warning", what + BACK_UP, destructive=True)]


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM sessions WHERE expires_at < now();",
        "delete from sessions where id = 1;",
        "DELETE FROM t WHERE id IN (SELECT id FROM u);",
        "UPDATE users SET active = false WHERE id = 1;",
        "UPDATE t SET a = (SELECT 1) WHERE b = 2;",
        "UPDATE t SET a = 1 FROM u WHERE t.id = u.id;",
        "ALTER TABLE users ADD COLUMN email VARCHAR(255);",
        "ALTER TABLE users ADD email VARCHAR(255);",
        "ALTER TABLE users DROP CONSTRAINT users_email_key;",
        "ALTER TABLE users DROP PRIMARY KEY;",  # a constraint, not a column
        "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
        "ALTER TABLE users ALTER COLUMN email DROP DEFAULT;",
        "DROP INDEX idx_users_email;",
        "DROP INDEX CONCURRENTLY IF EXISTS idx_users_email;",
        "DROP VIEW v;",
        "CREATE TABLE users (id INT);",
        "INSERT INTO users (id) VALUES (1);",
        "SELECT * FROM users;",
        "CREATE FUNCTION f() RETURNS void AS $$ BEGIN DELETE FROM t WHERE id = 1; END $$ "
        "LANGUAGE plpgsql;",
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN "
        "CREATE TYPE mood AS ENUM ('ok'); END IF; END $$;",
        "CREATE TRIGGER t BEFORE DELETE ON x FOR EACH ROW EXECUTE FUNCTION keep();",
        "CREATE TABLE jobs (trigger TEXT, procedure TEXT);",
        "DELETE FROM t WHERE 1 = 1 AND id = 3;",
        "DELETE FROM t WHERE 1 = 0 OR id = 3;",
        "DELETE FROM t WHERE a = b;",
        "DELETE FROM t WHERE NULL = NULL;",
        "UPDATE t SET a = 1 WHERE a BETWEEN 1 AND 2;",
        "INSERT INTO notes (body) VALUES ('DROP TABLE users; TRUNCATE x; DROP DATABASE y;');",
        "-- DROP TABLE users;\n/* TRUNCATE users; */\nSELECT 1;",
    ],
)
def test_no_destructive_finding(sql: str) -> None:
    assert check_sql(sql) == []


# --- Several statements ----------------------------------------------------------------------


def test_messages_name_each_statement_number() -> None:
    sql = """\
CREATE TABLE a (id INT);
-- a comment is not a statement
DROP TABLE b;

TRUNCATE c;
DELETE FROM d;
UPDATE e SET x = 1;
ALTER TABLE f DROP COLUMN g;
"""

    findings = check_sql(sql)

    assert [(f.code, f.message.split(" (")[0]) for f in findings] == [
        ("drop-table", "Statement 2"),
        ("truncate", "Statement 3"),
        ("delete-without-where", "Statement 4"),
        ("update-without-where", "Statement 5"),
        ("drop-column", "Statement 6"),
    ]
    assert all(f.severity == "warning" and f.destructive for f in findings)


def test_errors_are_sorted_before_warnings_each_in_statement_order() -> None:
    sql = """\
DROP TABLE a;
hello world;
TRUNCATE b;
DROP DATABASE c;
DELETE FROM d;
SELECT (1;
"""

    findings = check_sql(sql)

    assert [(f.code, f.severity, f.message.split(" (")[0]) for f in findings] == [
        ("syntax", "error", "Statement 2"),
        ("drop-database", "error", "Statement 4"),
        ("syntax", "error", "Statement 6"),
        ("drop-table", "warning", "Statement 1"),
        ("truncate", "warning", "Statement 3"),
        ("delete-without-where", "warning", "Statement 5"),
    ]


def test_one_statement_can_have_several_syntax_problems_and_a_rule_finding() -> None:
    findings = check_sql("DELETE FROM t WHERE (a = 'x;")

    assert [(f.code, f.severity) for f in findings] == [
        ("syntax", "error"),
        ("syntax", "error"),
    ]
    assert findings[0].message.endswith("unterminated quoted string or identifier.")
    assert findings[1].message.endswith("unbalanced parentheses.")


def test_syntax_error_and_destructive_warning_on_one_statement() -> None:
    assert _codes("DROP TABLE users (;") == [
        ("syntax", "error", False),
        ("drop-table", "warning", True),
    ]


# --- What the text does not show: always-true conditions, code run later or built at run time


@pytest.mark.parametrize(
    "condition",
    [
        "true",
        "TRUE",
        "1=1",
        "1 = 1",
        "'a'='a'",
        "(1 = 1)",
        "NOT false",
        "2 > 1",
        "1 = 1 AND 2 = 2",
        "true OR id = 3",
        "id = 3 OR 1 = 1",
        "id = id",
        "1 <> 2",
    ],
)
def test_a_where_that_is_always_true_is_no_where(condition: str) -> None:
    [delete] = check_sql(f"DELETE FROM sessions WHERE {condition};")
    assert (delete.code, delete.severity, delete.destructive) == (
        "delete-without-where",
        "warning",
        True,
    )
    assert "deletes every row (its WHERE is always true)" in delete.message
    [update] = check_sql(f"UPDATE users SET active = false WHERE {condition};")
    assert update.code == "update-without-where"


def test_mysql_reads_a_number_as_a_condition() -> None:
    assert _codes_for("DELETE FROM t WHERE 1;", "mysql") == ["delete-without-where"]
    assert _codes_for("DELETE FROM t WHERE 0 LIMIT 1;", "mysql") == []


def _codes_for(sql: str, vendor: str) -> list[str]:
    return [finding.code for finding in check_sql(sql, vendor)]


@pytest.mark.parametrize(
    ("vendor", "sql", "codes", "what"),
    [
        (
            "postgresql",
            "DO $$ BEGIN EXECUTE 'DROP TABLE users'; END $$;",
            ["dynamic-sql"],
            "runs SQL built at run time (EXECUTE) in its DO block",
        ),
        (
            "postgresql",
            "DO $body$ BEGIN EXECUTE format('TRUNCATE %I', 'users'); END $body$;",
            ["dynamic-sql"],
            "runs SQL built at run time (EXECUTE) in its DO block",
        ),
        (
            "postgresql",
            "DO LANGUAGE plpgsql $$ BEGIN DROP TABLE users; END $$;",
            ["drop-table"],
            "drops a table and all its rows in its DO block",
        ),
        (
            "postgresql",
            "DO $$ BEGIN IF true THEN DELETE FROM users WHERE 1 = 1; END IF; END $$;",
            ["delete-without-where"],
            "deletes every row (its WHERE is always true) in its DO block",
        ),
        (
            "postgresql",
            "CREATE FUNCTION wipe() RETURNS void LANGUAGE plpgsql AS $$ BEGIN "
            "EXECUTE 'TRUNCATE users'; END $$;",
            ["dynamic-sql"],
            "runs SQL built at run time (EXECUTE) in the body of function wipe, when it is called",
        ),
        (
            "postgresql",
            "CREATE OR REPLACE FUNCTION app.wipe() RETURNS void LANGUAGE sql "
            "AS 'DELETE FROM users';",
            ["delete-without-where"],
            "deletes every row (no WHERE) in the body of function app.wipe, when it is called",
        ),
        (
            "postgresql",
            "CREATE PROCEDURE wipe() LANGUAGE sql BEGIN ATOMIC TRUNCATE users; END;",
            ["truncate"],
            "deletes every row of a table in the body of procedure wipe, when it is called",
        ),
        (
            "postgresql",
            "CALL wipe();",
            ["dynamic-sql"],
            "calls wipe, whose statements the rules cannot read",
        ),
        (
            "postgresql",
            "EXECUTE wipe_all;",
            ["dynamic-sql"],
            "executes a prepared statement, whose SQL the rules cannot read",
        ),
        (
            "mysql",
            "CREATE PROCEDURE wipe() BEGIN DROP TABLE users; END;",
            ["drop-table"],
            "drops a table and all its rows in the body of procedure wipe, when it is called",
        ),
        (
            "sqlite",
            "CREATE TRIGGER purge AFTER INSERT ON audit BEGIN DELETE FROM users; END;",
            ["delete-without-where"],
            "deletes every row (no WHERE) in the body of trigger purge, when it fires",
        ),
    ],
)
def test_code_run_later_or_built_at_run_time_counts_as_destructive(
    vendor: str, sql: str, codes: list[str], what: str
) -> None:
    findings = check_sql(sql, vendor)
    assert [f.code for f in findings] == codes
    assert all(f.destructive and f.severity == "warning" for f in findings)
    assert what in findings[0].message
    if codes == ["dynamic-sql"]:
        assert "the rules cannot see what that SQL does, so it may drop or delete data" in (
            findings[0].message
        )


def test_mysql_prepared_statements_count_as_destructive() -> None:
    assert _codes_for("PREPARE s FROM @sql; EXECUTE s; DEALLOCATE PREPARE s;", "mysql") == [
        "dynamic-sql"
    ]


@pytest.mark.parametrize(
    ("vendor", "sql", "what"),
    [
        ("postgresql", "SET search_path TO billing, public;", "changes the session's search_path"),
        ("postgresql", "SET LOCAL search_path = billing;", "changes the session's search_path"),
        ("postgresql", "SET SCHEMA 'billing';", "changes the session's search_path"),
        (
            "postgresql",
            "SELECT pg_catalog.set_config('search_path', '', false);",
            "changes the session's settings with set_config()",
        ),
        (
            "postgresql",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY;",
            "changes the transaction characteristics of the session",
        ),
        ("postgresql", "SET TRANSACTION READ ONLY;", "makes transactions read-only"),
        ("postgresql", "SET default_transaction_read_only = on;", "makes transactions read-only"),
        ("postgresql", "SET ROLE reporting;", "changes the role the session runs as"),
        ("postgresql", "SET SESSION AUTHORIZATION bob;", "changes the role the session runs as"),
        ("mysql", "SET SESSION TRANSACTION READ ONLY;", "makes transactions read-only"),
        ("mysql", "USE other_app;", "changes the session's default database (USE)"),
        ("sqlite", "PRAGMA query_only = 1;", "makes the connection read-only"),
        (
            "postgresql",
            "DO $$ BEGIN PERFORM set_config('default_transaction_read_only', 'on', false); END $$;",
            "changes the session's settings with set_config() in its DO block",
        ),
        (
            "postgresql",
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN SET search_path = x; "
            "END $$;",
            "changes the session's search_path in the body of function f",
        ),
    ],
)
def test_session_settings_the_tool_works_under_are_errors(vendor: str, sql: str, what: str):
    [finding] = check_sql(sql, vendor)
    assert (finding.code, finding.severity) == ("session-setting", "error")
    assert finding.message.startswith("Statement 1 (")
    assert what in finding.message
    assert finding.message.endswith("(rule session-setting)")


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        (
            "CREATE TABLE a (id INT);\nRELEASE SAVEPOINT schema_manager_statements;",
            "Statement 2 (RELEASE SAVEPOINT schema_manager_statements) releases savepoint "
            "schema_manager_statements, which it did not create",
        ),
        (
            "ROLLBACK TO SAVEPOINT outer_one;",
            "Statement 1 (ROLLBACK TO SAVEPOINT outer_one) rolls back to savepoint outer_one, "
            "which it did not create",
        ),
        (
            "SAVEPOINT a;\nRELEASE a;\nRELEASE a;",  # the second one is someone else's
            "Statement 3 (RELEASE a) releases savepoint a, which it did not create",
        ),
    ],
)
def test_releasing_a_savepoint_the_migration_did_not_create_is_an_error(sql: str, what: str):
    [finding] = check_sql(sql, "postgresql")
    assert (finding.code, finding.severity) == ("foreign-savepoint", "error")
    assert finding.message.startswith(what)


def test_the_migrations_own_savepoints_are_its_business() -> None:
    sql = "SAVEPOINT a;\nINSERT INTO t VALUES (1);\nROLLBACK TO SAVEPOINT a;\nRELEASE a;"
    assert check_sql(sql, "postgresql") == []


@pytest.mark.parametrize(
    "sql",
    [
        # A column the script added (a temporary one), dropped again: no data is lost.
        "ALTER TABLE users ADD COLUMN temp_id INT;\nALTER TABLE users DROP COLUMN temp_id;",
        # A table the script created, altered or dropped again.
        "CREATE TABLE scratch (id INT, x INT);\nALTER TABLE scratch DROP COLUMN x;",
        "CREATE TABLE scratch (id INT);\nDROP TABLE scratch;",
        # An index the script created, dropped again (its lock was the CREATE's).
        "CREATE INDEX CONCURRENTLY users_a ON users (a);\nDROP INDEX CONCURRENTLY users_a;",
        "CREATE TABLE scratch (id INT);\nCREATE INDEX scratch_id ON scratch (id);\n"
        "DROP INDEX scratch_id;",
    ],
)
def test_undoing_what_the_script_made_is_not_flagged(sql: str) -> None:
    codes = _codes_for(sql, "postgresql")

    assert not {"drop-column", "drop-table", "drop-index-not-concurrently"} & set(codes)


def test_what_if_not_exists_may_not_have_made_is_still_flagged() -> None:
    sql = "ALTER TABLE users ADD COLUMN IF NOT EXISTS a INT;\nALTER TABLE users DROP COLUMN a;"

    assert "drop-column" in _codes_for(sql, "postgresql")


def test_plain_ascii_ids_take_a_shortcut_that_refuses_nothing_the_full_check_would():
    """Printable ASCII ids skip the per-character Unicode check; for every one that takes the
    shortcut, the full check finds no problem either, and every refused kind still is."""
    import random

    from schema_manager.sql.migration_ids import _plain, _problems, id_problems

    characters = [chr(code) for code in range(32, 127)]
    rng = random.Random(20261206)
    names = [".", "..", "a/b", "a\\b", "x" * 256, "ok_name", *characters]
    names += ["".join(rng.choices(characters, k=rng.randint(1, 300))) for _ in range(3000)]
    for name in names:
        if _plain(name):
            assert _problems(name) == [], name
        assert id_problems(name) == _problems(name), name
