"""Large data migrations: analysed, stored, read back and run without holding copies of them.

Memory is measured with tracemalloc (Python's own allocations), against the script's size:
the script itself is allocated before measuring starts.
"""

from __future__ import annotations

import tracemalloc

import pytest

from schema_manager import Migration, SchemaManager
from schema_manager import catalogue as catalogue_module
from schema_manager import executor as executor_module
from schema_manager.checksums import file_checksum, migration_checksum
from schema_manager.exceptions import SchemaManagerError
from schema_manager.sql import check_sql, statements
from schema_manager.validation import validate
from tests.routers import move_model

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

# Tabs, backslashes, CRLF and characters of 2 to 4 bytes: what COPY must escape and what a
# chunk boundary must not cut.
ROW = "INSERT INTO big (id, note) VALUES ({i}, 'tab\tback\\\\slash é ✓ 🚀 ''q''');\r\n"


def big_script(rows: int) -> str:
    head = "CREATE TABLE big (id INTEGER PRIMARY KEY, note TEXT);\n"
    return head + "".join(ROW.format(i=i) for i in range(rows))


def peak_while(call) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_rules_read_a_large_script_one_statement_at_a_time():
    sql = big_script(60_000)  # ~4.4 MB
    assert peak_while(lambda: check_sql(sql, "postgresql")) < len(sql) / 10


def test_a_script_over_the_streamed_limit_is_invalid_input(monkeypatch):
    monkeypatch.setattr(statements, "MAX_STREAMED_CHARS", 1_000)
    [finding] = check_sql(big_script(100), "postgresql")
    assert finding.code == "invalid-input"
    assert "the limit is 1,000" in finding.message


def test_a_rollback_is_not_generated_from_a_script_too_large_to_hold(targets, monkeypatch):
    from schema_manager.targets import resolve

    monkeypatch.setattr("schema_manager.validation.MAX_SCRIPT_CHARS", 1_000)
    sql = big_script(100)
    result = validate(Migration(id="001_big", sql=sql), resolve("development"), [])
    assert not result.is_valid
    assert "give the migration a rollback_sql" in result.errors[0]
    given = validate(
        Migration(id="001_big", sql=sql, rollback_sql="DROP TABLE big;"),
        resolve("development"),
        [],
    )
    assert given.is_valid, given.errors


def test_a_large_script_is_applied_statement_by_statement_from_one_copy(
    targets, manager: SchemaManager
):
    sql = big_script(3_000)  # over 64 KB: read as a stream, not cached as a list
    assert statements.is_streamed(sql)
    migration = Migration(id="001_big", sql=sql, rollback_sql="DROP TABLE big;")
    result = manager.apply_migration_sync(migration, "staging")

    assert result.success, result.error
    assert result.statements_run == 3_001
    assert targets.fetch("staging", "SELECT COUNT(*) FROM big") == [(3_000,)]
    [row] = targets.ledger("staging")
    assert row["checksum"] == Migration.objects.get(pk="001_big").checksum


@pytest.fixture
def postgres_catalogue(postgres_targets, monkeypatch):
    """The catalogue table in a PostgreSQL schema, as an app database on PostgreSQL has it."""
    return move_model(Migration, postgres_targets.alias("development"), monkeypatch)


def write_big(directory, migration_id: str, text: str):
    folder = directory / migration_id
    folder.mkdir(parents=True)
    (folder / "migration.sql").write_bytes(text.encode())
    (folder / "down.sql").write_text("DROP TABLE big;\n")
    return folder


def test_a_large_file_is_streamed_into_and_out_of_a_postgresql_catalogue(
    postgres_catalogue, manager: SchemaManager
):
    directory = manager.migrations_directory.path
    text = big_script(110_000)  # ~8 MB of text, ~9 MB of UTF-8
    folder = write_big(directory, "20240101000000_big", text)
    assert folder.joinpath("migration.sql").stat().st_size > catalogue_module.STREAM_ABOVE
    del text  # measured from the file, as an import reads it

    imported: list[Migration] = []
    peak = peak_while(lambda: imported.extend(manager.import_migrations()))
    size = folder.joinpath("migration.sql").stat().st_size
    assert peak < size / 2  # never the whole text, let alone quoted copies of it
    assert [m.id for m in imported] == ["20240101000000_big"]

    stored = Migration.objects.get(pk="20240101000000_big")
    on_disk = folder.joinpath("migration.sql").read_bytes().decode()
    assert stored.sql == on_disk
    assert stored.checksum == file_checksum(folder / "migration.sql") == migration_checksum(on_disk)
    assert stored.rollback_sql == "DROP TABLE big;\n"
    assert stored.name == "big"

    # Read back in chunks: one string, equal to the file (no chunk cut a character).
    [pending] = manager.pending_migrations("staging")
    assert pending.sql == on_disk
    # Imported twice (a concurrent process): skipped, not an error.
    assert catalogue_module.stream_in(manager.migrations_directory.checksum_of(pending.id)) is None


def test_a_large_file_that_is_not_utf8_is_refused_and_nothing_is_stored(
    postgres_catalogue, manager: SchemaManager
):
    directory = manager.migrations_directory.path
    folder = write_big(directory, "20240101000000_big", big_script(20_000))
    with folder.joinpath("migration.sql").open("ab") as file:
        file.write(b"SELECT '\xff';\n")

    with pytest.raises(SchemaManagerError, match="not valid UTF-8"):
        manager.import_migrations()
    assert not Migration.objects.exists()


def test_statements_sent_together_still_name_the_one_that_failed(
    postgres_targets, manager: SchemaManager, monkeypatch
):
    monkeypatch.setattr(executor_module, "GROUP_CHARS", 120)  # several round trips
    rows = "".join(f"INSERT INTO g VALUES ({i}); -- row {i}\n" for i in range(30))
    sql = f"CREATE TABLE g (id INT PRIMARY KEY);\n{rows}INSERT INTO g (id) VALUES (7);\nSELECT 1"
    failing = Migration(id="001_g", sql=sql, rollback_sql="DROP TABLE g;")
    result = manager.apply_migration_sync(failing, "staging")

    assert not result.success
    assert result.error.startswith("Statement 32 (INSERT INTO g ( id ) VALUES ( 7 )) failed:")
    assert "duplicate key" in result.error
    assert "g" not in postgres_targets.tables("staging")

    fixed = Migration(id="002_g", sql=sql.replace("(id) VALUES (7)", "(id) VALUES (70)"))
    result = manager.apply_migration_sync(fixed, "staging")
    assert result.success, result.error
    assert result.statements_run == 33
    assert postgres_targets.fetch("staging", "SELECT COUNT(*) FROM g") == [(31,)]
