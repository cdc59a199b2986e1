"""What must run outside a transaction: the no-transaction directive read from comment
lines, the PostgreSQL statements that refuse a transaction, and the one decision whether a
script runs in one transaction on an engine. Pure: no database."""

from __future__ import annotations

from schema_manager.sql import parse_statements
from schema_manager.sql.directives import Directives, parse_directives
from schema_manager.sql.transactional import (
    Atomicity,
    Engine,
    TransactionMix,
    atomicity,
    controls_transactions,
    may_control_transactions,
    refuses_transaction,
)


def test_directives_are_read_from_comment_lines():
    sql = (
        "-- schema-manager: no-transaction\n"
        "--schema-manager: allow drop-table, Lock-Heavy\n"
        "CREATE INDEX CONCURRENTLY i ON t (c); -- schema-manager: allow not-a-line-of-its-own\n"
        "-- schema-manager: no-transaction please\n"
    )
    assert parse_directives(sql) == Directives(
        no_transaction=True, allowed_rules=frozenset({"drop-table", "lock-heavy"})
    )
    assert parse_directives("CREATE TABLE t (id int);") == Directives(False, frozenset())


def test_enum_values_on_old_postgresql_servers():
    [statement] = parse_statements("ALTER TYPE mood ADD VALUE 'meh'", "postgresql")
    assert "before PostgreSQL 12" in refuses_transaction(statement, "postgresql", 110000)
    assert refuses_transaction(statement, "postgresql", 150000) is None


# -- the one decision: does a script run in one transaction? --------------------------------

POSTGRESQL = Engine("postgresql", can_rollback_ddl=True, server_version=160000)
SQLITE = Engine("sqlite", can_rollback_ddl=True)
MYSQL = Engine("mysql", can_rollback_ddl=False)


def test_a_script_runs_in_one_transaction_where_the_engine_rolls_ddl_back():
    sql = "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n"
    assert atomicity(sql, POSTGRESQL) is Atomicity.ONE_TRANSACTION
    assert atomicity(sql, SQLITE) is Atomicity.ONE_TRANSACTION
    assert not Atomicity.ONE_TRANSACTION.stepwise


def test_where_ddl_commits_implicitly_every_script_runs_statement_by_statement():
    for sql in ("CREATE TABLE t (id int);", "-- schema-manager: no-transaction\nSELECT 1;"):
        assert atomicity(sql, MYSQL) is Atomicity.DDL_COMMITS
    assert Atomicity.DDL_COMMITS.stepwise


def test_a_script_runs_outside_a_transaction_if_it_says_so_or_its_statements_refuse_one():
    declared = "-- schema-manager: no-transaction\nCREATE TABLE t (id int);\n"
    assert atomicity(declared, POSTGRESQL) is Atomicity.OUTSIDE_TRANSACTION
    assert atomicity(declared, SQLITE) is Atomicity.OUTSIDE_TRANSACTION
    index = "CREATE INDEX CONCURRENTLY i ON t (c);"
    assert atomicity(index, POSTGRESQL) is Atomicity.OUTSIDE_TRANSACTION
    assert atomicity(index, SQLITE) is Atomicity.ONE_TRANSACTION  # SQLite has no such thing
    assert atomicity("VACUUM;", SQLITE) is Atomicity.OUTSIDE_TRANSACTION
    assert Atomicity.OUTSIDE_TRANSACTION.stepwise


def test_the_engines_version_decides_where_its_rules_changed():
    sql = "ALTER TYPE mood ADD VALUE 'meh';"
    assert atomicity(sql, Engine("postgresql", True, 110000)) is Atomicity.OUTSIDE_TRANSACTION
    assert atomicity(sql, POSTGRESQL) is Atomicity.ONE_TRANSACTION


def test_the_decision_sees_statements_as_the_analysis_reads_them():
    sql = "CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY i ON t (id);\n"
    mix = TransactionMix(POSTGRESQL, sql)
    for statement in parse_statements(sql, "postgresql"):
        mix.see(statement)
    assert mix.atomicity is atomicity(sql, POSTGRESQL) is Atomicity.OUTSIDE_TRANSACTION
    statement, why = mix.mixed
    assert statement.index == 1
    assert "CONCURRENTLY cannot run inside a transaction block" in why


def test_a_stored_decision_reads_back_as_made():
    for engine in (POSTGRESQL, SQLITE, MYSQL):
        for sql in ("SELECT 1;", "-- schema-manager: no-transaction\nSELECT 1;", "VACUUM;"):
            made = atomicity(sql, engine)
            assert Atomicity.of_stepwise(made.stepwise, engine) is made


CONTROLLING = [
    "BEGIN;\nCREATE TABLE t (id INT);\nCOMMIT;",
    "begin transaction;\ncreate table t (id int);\ncommit work;",
    "CREATE TABLE t (id INT);/* then */COMMIT",
    "-- schema-manager: allow transaction-control\nSTART TRANSACTION;\nEND;",
    "CREATE TABLE t (id INT);\n  Rollback;",
    "ABORT;",
    "CREATE TABLE t (id INT);\ncommit--done",
]


def test_a_script_that_controls_its_transactions_is_never_waved_through_unread():
    for sql in CONTROLLING:
        assert controls_transactions(parse_statements(sql, "postgresql")), sql
        assert may_control_transactions(sql), sql


def test_a_script_without_the_words_of_transaction_control_needs_no_reading():
    sql = (
        'CREATE TABLE "Backend" (id INT, "beginsAt" TIMESTAMP, commit_sha TEXT, x$end INT);\n'
        "CREATE INDEX appended ON \"Backend\" (commit_sha);\nINSERT INTO t VALUES ('pending');"
    )
    assert not may_control_transactions(sql)
    assert not controls_transactions(parse_statements(sql, "postgresql"))
    # A word that may start one (here CASE … END) leaves the decision to the statements.
    with_end = "UPDATE t SET x = CASE WHEN y THEN 1 END;"
    assert may_control_transactions(with_end)
    assert not controls_transactions(parse_statements(with_end, "postgresql"))
