"""The safety rule table: one test per rule (SQL that breaks it, SQL that does not),
severities from settings, and acknowledgement comments. Pure: no database."""

from __future__ import annotations

import re

import pytest

from schema_manager.sql import check_sql
from schema_manager.sql.directives import Directives, parse_directives
from schema_manager.sql.rule_table import RULES

USERS = "CREATE TABLE users (id INT, email TEXT);\n"

# rule id -> (dialect, SQL breaking it, similar SQL that does not)
CASES: dict[str, tuple[str, str, str]] = {
    "drop-database": ("postgresql", "DROP DATABASE app;", "DROP VIEW v;"),
    "drop-table": ("sqlite", "DROP TABLE users;", "DROP VIEW users_v;"),
    "drop-column": (
        "mysql", "ALTER TABLE users DROP COLUMN email;", "ALTER TABLE users DROP INDEX i;",
    ),
    "drop-schema": ("postgresql", "DROP SCHEMA billing CASCADE;", "CREATE SCHEMA billing;"),
    "truncate": ("postgresql", "TRUNCATE users;", "DELETE FROM users WHERE id = 1;"),
    "truncate-cascade": ("postgresql", "TRUNCATE users CASCADE;", "TRUNCATE users;"),
    "delete-without-where": ("sqlite", "DELETE FROM users;", "DELETE FROM users WHERE id = 1;"),
    "update-without-where": (
        "sqlite", "UPDATE users SET email = NULL;", "UPDATE users SET email = NULL WHERE id = 1;",
    ),
    "create-index-not-concurrently": (
        "postgresql",
        "CREATE INDEX users_email ON users (email);",
        USERS + "CREATE INDEX users_email ON users (email);",  # a new table is empty
    ),
    "drop-index-not-concurrently": (
        "postgresql", "DROP INDEX users_email;",
        "-- schema-manager: no-transaction\nDROP INDEX CONCURRENTLY users_email;",
    ),
    "concurrently-in-transaction": (
        # Alone, such a statement runs outside a transaction; beside others it gets one.
        "postgresql",
        "UPDATE users SET email = lower(email) WHERE true;\n"
        "CREATE INDEX CONCURRENTLY users_email ON users (email);",
        "-- schema-manager: no-transaction\n"
        "CREATE INDEX CONCURRENTLY users_email ON users (email);",
    ),
    "add-column-not-null-without-default": (
        "postgresql", "ALTER TABLE users ADD COLUMN age INT NOT NULL;",
        "ALTER TABLE users ADD COLUMN age INT NOT NULL DEFAULT 0;",
    ),
    "set-not-null": (
        "postgresql", "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
        "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
    ),
    "alter-column-type": (
        "postgresql", "ALTER TABLE users ALTER COLUMN id TYPE bigint;",
        USERS + "ALTER TABLE users ALTER COLUMN id SET DATA TYPE bigint;",
    ),
    "foreign-key-without-not-valid": (
        "postgresql",
        "ALTER TABLE users ADD CONSTRAINT users_team_fk FOREIGN KEY (team) REFERENCES teams (id);",
        "ALTER TABLE users ADD CONSTRAINT users_team_fk FOREIGN KEY (team) REFERENCES teams (id) "
        "NOT VALID;",
    ),
    "check-without-not-valid": (
        "postgresql", "ALTER TABLE users ADD CONSTRAINT c CHECK (id > 0);",
        "ALTER TABLE users ADD CONSTRAINT c CHECK (id > 0) NOT VALID;",
    ),
    "unique-without-using-index": (
        "postgresql", "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
        "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email;",
    ),
    "rename-column": (
        "sqlite", "ALTER TABLE users RENAME COLUMN email TO mail;",
        USERS + "ALTER TABLE users RENAME COLUMN email TO mail;",
    ),
    "rename-table": (
        "mysql", "ALTER TABLE users RENAME TO members;",
        USERS + "ALTER TABLE users RENAME TO members;",
    ),
    "volatile-default": (
        "postgresql", "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();",
        "ALTER TABLE users ADD COLUMN created timestamptz DEFAULT now();",  # stable: no rewrite
    ),
    "vacuum-full": ("postgresql", "VACUUM FULL users;", "VACUUM users;"),
    "cluster": ("postgresql", "CLUSTER users USING users_pkey;", "ANALYZE users;"),
    "transaction-control": ("sqlite", "BEGIN TRANSACTION;", "SAVEPOINT a;"),
    "session-setting": (
        "postgresql", "SET search_path TO billing;", "SET LOCAL statement_timeout = 1000;",
    ),
    "foreign-savepoint": (
        "postgresql", "RELEASE SAVEPOINT schema_manager_statements;",
        "SAVEPOINT mine;\nUPDATE users SET email = NULL WHERE id = 1;\nRELEASE SAVEPOINT mine;",
    ),
    "dynamic-sql": (
        "postgresql", "DO $$ BEGIN EXECUTE 'DROP TABLE ' || 'users'; END $$;",
        "DO $$ BEGIN PERFORM pg_sleep(0); END $$;",
    ),
    "ledger-table": (
        "postgresql", "DELETE FROM _prisma_migrations WHERE migration_name = '001_a';",
        "-- unlike _prisma_migrations, an archive may be edited\n"
        "DELETE FROM migrations_archive WHERE id = 1;",
    ),
    "advisory-unlock": (
        "postgresql", "SELECT pg_advisory_unlock_all();", "SELECT pg_advisory_xact_lock(1);",
    ),
    "mysql-table-copy": (
        "mysql", "ALTER TABLE users MODIFY email VARCHAR(500);",
        "ALTER TABLE users ADD COLUMN age INT, ALGORITHM=INSTANT;",
    ),
}  # fmt: skip


def test_every_rule_has_a_case_and_a_kebab_case_id() -> None:
    assert set(CASES) == set(RULES)
    for rule in RULES.values():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", rule.id)
        assert rule.severity in ("error", "warning")
        assert rule.advice.endswith(".")


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires_with_its_severity_and_advice(rule_id: str) -> None:
    dialect, sql, _ = CASES[rule_id]
    rule = RULES[rule_id]

    findings = [f for f in check_sql(sql, dialect) if f.code == rule_id]

    assert len(findings) == 1
    (finding,) = findings
    assert (finding.severity, finding.destructive, finding.acknowledged) == (
        rule.severity,
        rule.destructive,
        False,
    )
    assert finding.message.startswith("Statement ")
    if rule_id != "drop-database":
        assert rule.advice in finding.message


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_stays_quiet_on_the_safe_form(rule_id: str) -> None:
    dialect, _, safe = CASES[rule_id]

    assert rule_id not in [f.code for f in check_sql(safe, dialect)]


@pytest.mark.parametrize(
    "rule_id", sorted(r.id for r in RULES.values() if r.dialects == frozenset({"postgresql"}))
)
def test_postgresql_lock_rules_stay_out_of_other_dialects(rule_id: str) -> None:
    _, sql, _ = CASES[rule_id]

    assert rule_id not in [f.code for f in check_sql(sql, "sqlite")]
    assert rule_id not in [f.code for f in check_sql(sql)]  # no dialect: generic rules only


def test_messages_say_what_to_do_and_name_the_rule() -> None:
    (finding,) = check_sql("CREATE INDEX users_email ON users (email);", "postgresql")

    assert finding.message == (
        "Statement 1 (CREATE INDEX users_email ON users ( email )) indexes an existing table "
        "without CONCURRENTLY. It blocks writes to the table while it builds; use CREATE INDEX "
        "CONCURRENTLY in a migration marked '-- schema-manager: no-transaction'. "
        "(rule create-index-not-concurrently)"
    )


def test_truncate_cascade_also_reports_truncate() -> None:
    codes = [f.code for f in check_sql("TRUNCATE users CASCADE;", "postgresql")]

    assert codes == ["truncate", "truncate-cascade"]


def test_tables_renamed_in_the_script_are_still_new() -> None:
    sql = USERS + "ALTER TABLE users RENAME TO members;\nCREATE INDEX m ON members (id);"

    assert check_sql(sql, "postgresql") == []


@pytest.mark.parametrize(
    "definition",
    [
        "id BIGSERIAL",
        "n INT GENERATED ALWAYS AS IDENTITY",
        "r FLOAT DEFAULT random()",
        "t TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()",
        "s INT DEFAULT nextval('seq')",
    ],
)
def test_volatile_defaults(definition: str) -> None:
    codes = [f.code for f in check_sql(f"ALTER TABLE users ADD COLUMN {definition};", "postgresql")]

    assert codes == ["volatile-default"]


@pytest.mark.parametrize(
    "sql",
    [
        "BEGIN;",
        "BEGIN WORK;",
        "BEGIN ISOLATION LEVEL SERIALIZABLE;",
        "START TRANSACTION;",
        "COMMIT;",
        "END;",
        "ROLLBACK;",
        "ABORT;",
    ],
)
def test_transaction_control_is_a_warning_told_once(sql: str) -> None:
    # The script runs as written, its blocks its own (as Prisma and psql run it): said once.
    for script in (sql, f"-- schema-manager: no-transaction\n{sql}", f"{sql}\n{sql}\n{sql}"):
        findings = check_sql(script)
        assert [(f.code, f.severity) for f in findings] == [("transaction-control", "warning")]
        assert "what its COMMITs commit stays if a later statement fails" in findings[0].message


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE t CHANGE a b INT;",
        "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4;",
        "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id);",
        "ALTER TABLE t ENGINE = InnoDB;",
        "ALTER TABLE t ADD COLUMN c INT, ALGORITHM = COPY;",
        "ALTER TABLE t FORCE;",
        "OPTIMIZE TABLE t;",
    ],
)
def test_mysql_table_copies(sql: str) -> None:
    assert "mysql-table-copy" in [f.code for f in check_sql(sql, "mysql")]
    assert "mysql-table-copy" not in [f.code for f in check_sql(sql, "postgresql")]


# --- Severities from settings ---------------------------------------------------------------


def test_severities_can_be_raised_lowered_and_turned_off() -> None:
    sql = "ALTER TABLE users DROP COLUMN email;\nCREATE INDEX i ON users (email);"

    def codes(severities: dict[str, str]) -> list[tuple[str, str]]:
        return [(f.code, f.severity) for f in check_sql(sql, "postgresql", severities)]

    assert codes({}) == [
        ("drop-column", "warning"),
        ("create-index-not-concurrently", "warning"),
    ]
    assert codes({"drop-column": "error"}) == [
        ("drop-column", "error"),
        ("create-index-not-concurrently", "warning"),
    ]
    assert codes({"create-index-not-concurrently": "off"}) == [("drop-column", "warning")]


# --- Acknowledgements -----------------------------------------------------------------------


def test_acknowledged_rules_become_notes_sorted_last() -> None:
    sql = (
        "-- schema-manager: allow drop-column\n"
        "ALTER TABLE users DROP COLUMN email;\n"
        "DELETE FROM users;\n"
    )

    findings = check_sql(sql, "postgresql")

    assert [(f.code, f.acknowledged) for f in findings] == [
        ("delete-without-where", False),
        ("drop-column", True),
    ]


def test_errors_that_may_not_be_acknowledged_stay_errors() -> None:
    sql = "-- schema-manager: allow drop-database, session-setting\nDROP DATABASE x;\nSET ROLE x;"

    assert [(f.code, f.acknowledged) for f in check_sql(sql)] == [
        ("drop-database", False),
        ("session-setting", False),
    ]


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgresql", "TRUNCATE _prisma_migrations;"),
        ("postgresql", 'DROP TABLE "_prisma_migrations";'),
        ("postgresql", "ALTER TABLE public._prisma_migrations ADD COLUMN note TEXT;"),
        ("postgresql", "UPDATE _Prisma_Migrations SET rolled_back_at = now() WHERE true;"),
        ("postgresql", "CREATE TEMP TABLE _prisma_migrations (id TEXT);"),
        ("postgresql", "DO $$ BEGIN EXECUTE 'DELETE FROM _prisma_migrations'; END $$;"),
        ("mysql", "DELETE FROM `_prisma_migrations` WHERE id = 'x';"),
        ("mysql", "RENAME TABLE _prisma_migrations TO old_ledger;"),
        ("sqlite", "DROP TABLE [_prisma_migrations];"),
        ("sqlite", "INSERT INTO main._prisma_migrations (id) VALUES ('x');"),
    ],
)
def test_statements_touching_the_ledger_are_errors(dialect: str, sql: str) -> None:
    findings = [f for f in check_sql(sql, dialect) if f.code == "ledger-table"]

    assert [(f.severity, f.acknowledged) for f in findings] == [("error", False)]
    assert "names the ledger table _prisma_migrations" in findings[0].message


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgresql", "SELECT pg_advisory_unlock(72707369);"),
        ("postgresql", "SELECT PG_ADVISORY_UNLOCK_SHARED(1, 2);"),
        ("postgresql", 'SELECT "pg_advisory_unlock_all"();'),
        ("postgresql", "DO $$ BEGIN PERFORM pg_advisory_unlock_all(); END $$;"),
        (
            "postgresql",
            "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'SELECT pg_advisory_unlock_all()';",
        ),
        ("mysql", "DO RELEASE_ALL_LOCKS();"),
        ("mysql", "SELECT RELEASE_LOCK('prisma_migrate');"),
        ("mysql", "PREPARE s FROM 'DO release_all_locks ()';"),
    ],
)
def test_releasing_session_locks_is_an_error(dialect: str, sql: str) -> None:
    findings = [f for f in check_sql(sql, dialect) if f.code == "advisory-unlock"]

    assert [(f.severity, f.acknowledged) for f in findings] == [("error", False)]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_advisory_xact_lock(72707369);",
        "SELECT pg_advisory_lock(1);",
        "SELECT release_lock FROM locks WHERE id = 1;",  # a column, not a call
        "-- never call pg_advisory_unlock_all() here\nSELECT 1;",
        "INSERT INTO notes (body) VALUES ('the ledger lives elsewhere');",
    ],
)
def test_lock_and_ledger_rules_stay_quiet(sql: str) -> None:
    codes = {f.code for f in check_sql(sql, "postgresql")}

    assert not codes & {"ledger-table", "advisory-unlock"}


def test_ledger_and_unlock_rules_cannot_be_acknowledged() -> None:
    sql = (
        "-- schema-manager: allow ledger-table, advisory-unlock\n"
        "DELETE FROM _prisma_migrations WHERE id = 'x';\nSELECT pg_advisory_unlock_all();"
    )

    assert [(f.code, f.acknowledged) for f in check_sql(sql, "postgresql")] == [
        ("ledger-table", False),
        ("advisory-unlock", False),
    ]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1;", Directives(no_transaction=False, allowed_rules=frozenset())),
        (
            "-- schema-manager: no-transaction\nSELECT 1;",
            Directives(no_transaction=True, allowed_rules=frozenset()),
        ),
        (
            "  --schema-manager:   allow drop-column,  rename-column \r\n"
            "-- schema-manager: allow truncate\nSELECT 1;",
            Directives(
                no_transaction=False,
                allowed_rules=frozenset({"drop-column", "rename-column", "truncate"}),
            ),
        ),
        # Only whole comment lines count: not text after SQL, not other tools' comments.
        (
            "SELECT 1; -- schema-manager: no-transaction\n-- other: allow drop-column",
            Directives(no_transaction=False, allowed_rules=frozenset()),
        ),
        (
            "-- schema-manager: something-new\n",
            Directives(no_transaction=False, allowed_rules=frozenset()),
        ),
    ],
)
def test_parse_directives(sql: str, expected: Directives) -> None:
    assert parse_directives(sql) == expected
