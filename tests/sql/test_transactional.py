"""What must run outside a transaction: the no-transaction directive read from comment
lines, and the PostgreSQL statements that refuse a transaction. Pure: no database."""

from __future__ import annotations

from schema_manager.sql import parse_statements
from schema_manager.sql.directives import Directives, parse_directives
from schema_manager.sql.transactional import refuses_transaction


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
