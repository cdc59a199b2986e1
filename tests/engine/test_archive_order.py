"""Rollbacks that put back archived values and constraints alike: the values first, then the
constraints they must satisfy (NOT NULL, CHECK), on PostgreSQL and SQLite."""

from __future__ import annotations

import pytest

from schema_manager import Migration
from tests.engine.test_archive import archiving, row_checksums, unique_id

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

STRICT = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL,
    qty INTEGER NOT NULL CHECK (qty >= 0), note TEXT CHECK (note IS NOT NULL));
"""

KINDS = {
    "drop a NOT NULL column": "ALTER TABLE items DROP COLUMN name;",
    "drop a column with a CHECK": "ALTER TABLE items DROP COLUMN note;",
    "drop a NOT NULL column with a CHECK": "ALTER TABLE items DROP COLUMN qty;",
}
POSTGRES_KINDS = {
    "drop two constrained columns": "ALTER TABLE items DROP COLUMN qty, DROP COLUMN name;",
    "drop NOT NULL then update to NULL": (
        "ALTER TABLE items ALTER COLUMN qty DROP NOT NULL;\nUPDATE items SET qty = NULL;"
    ),
    "drop a CHECK then update past it": (
        "ALTER TABLE items DROP CONSTRAINT items_qty_check;\nUPDATE items SET qty = -1;"
    ),
    "drop NOT NULL, update, drop the column": (
        "ALTER TABLE items ALTER COLUMN name DROP NOT NULL;\n"
        "UPDATE items SET name = NULL WHERE id > 50;\n"
        "ALTER TABLE items DROP COLUMN name;"
    ),
}
CASES = [
    (engine, kind)
    for engine in ("postgresql", "sqlite")
    for kind in [*KINDS, *(POSTGRES_KINDS if engine == "postgresql" else {})]
]


def fill_strict(targets) -> None:
    targets.execute("development", STRICT)
    values = ", ".join(f"({i}, 'item {i}', {i % 11}, 'note {i}')" for i in range(1, 101))
    targets.execute("development", f"INSERT INTO items VALUES {values}")


@pytest.mark.parametrize(("engine", "kind"), CASES, indirect=["engine"])
def test_values_come_back_before_the_constraints_they_satisfy(targets, manager, kind):
    fill_strict(targets)
    before = row_checksums(targets)
    migration = Migration(id=unique_id("strict"), sql={**KINDS, **POSTGRES_KINDS}[kind])
    with archiving():
        applied = manager.apply_migration_sync(migration)
        assert applied.success, applied.message
        rolled_back = manager.rollback_migration_sync(migration.id, environment="development")
        assert rolled_back.success, f"{rolled_back.message}\n{applied.rollback_script}"
    assert row_checksums(targets) == before
