"""Large data migrations: analysed, stored, read back and run without holding copies of them.

Memory is measured with tracemalloc (Python's own allocations), against the script's size:
the script itself is allocated before measuring starts.
"""

from __future__ import annotations

import hashlib
import tracemalloc

import pytest
from django.db import connections

from schema_manager import Migration, SchemaManager, large_scripts, services
from schema_manager.backends import get_backend
from schema_manager.checksums import migration_checksum
from schema_manager.exceptions import SchemaManagerError
from schema_manager.execution import transport as transport_module
from schema_manager.execution.executor import MigrationExecutor
from schema_manager.sql import check_sql, statements
from schema_manager.sql.analysis import analyse
from schema_manager.workspace import Workspace
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
    check_sql("SELECT 1;", "postgresql")  # PostgreSQL's parser is imported on first use
    assert peak_while(lambda: check_sql(sql, "postgresql")) < len(sql) / 10


def test_a_script_over_the_streamed_limit_is_invalid_input(monkeypatch):
    monkeypatch.setattr(statements, "MAX_STREAMED_CHARS", 1_000)
    [finding] = check_sql(big_script(100), "postgresql")
    assert finding.code == "invalid-input"
    assert "the limit is 1,000" in finding.message


def test_a_rollback_is_not_generated_from_a_script_too_large_to_hold(targets, monkeypatch):
    monkeypatch.setattr("schema_manager.validation.MAX_SCRIPT_CHARS", 1_000)
    sql = big_script(100)
    [result] = services.validate([Migration(id="001_big", sql=sql)], "development")
    assert not result.is_valid
    assert "give the migration a rollback_sql" in result.errors[0]
    [given] = services.validate(
        [Migration(id="001_big", sql=sql, rollback_sql="DROP TABLE big;")], "development"
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
    directory = Workspace().directory.path
    text = big_script(110_000)  # ~8 MB of text, ~9 MB of UTF-8
    folder = write_big(directory, "20240101000000_big", text)
    assert folder.joinpath("migration.sql").stat().st_size > large_scripts.STREAM_ABOVE
    del text  # measured from the file, as an import reads it

    imported: list[Migration] = []
    peak = peak_while(lambda: imported.extend(services.import_folders().imported))
    size = folder.joinpath("migration.sql").stat().st_size
    assert peak < size / 2  # never the whole text, let alone quoted copies of it
    assert [m.id for m in imported] == ["20240101000000_big"]

    stored = Migration.objects.get(pk="20240101000000_big")
    on_disk = folder.joinpath("migration.sql").read_bytes().decode()
    assert stored.sql == on_disk
    file_digest = hashlib.sha256(folder.joinpath("migration.sql").read_bytes()).hexdigest()
    assert stored.checksum == file_digest == migration_checksum(on_disk)
    assert stored.rollback_sql == "DROP TABLE big;\n"
    assert stored.name == "big"

    # Read back in chunks: one string, equal to the file (no chunk cut a character).
    [pending] = services.pending("staging")
    assert pending.sql == on_disk
    # Imported twice (a concurrent process): skipped, not an error.
    assert large_scripts.stream_in(Workspace().directory.checksum_of(pending.id)) is None


def test_a_large_file_that_is_not_utf8_is_refused_and_nothing_is_stored(
    postgres_catalogue, manager: SchemaManager
):
    directory = Workspace().directory.path
    folder = write_big(directory, "20240101000000_big", big_script(20_000))
    listed = Workspace().directory.checksum_of("20240101000000_big")
    with folder.joinpath("migration.sql").open("ab") as file:
        file.write(b"SELECT '\xff';\n")

    done = services.import_folders()
    assert done.imported == []
    [unreadable] = done.unreadable
    assert unreadable.error.startswith(
        "'20240101000000_big/migration.sql' is not valid UTF-8 (invalid start byte at byte "
    )
    assert not Migration.objects.exists()
    # Changed after it was listed: refused while it streams, and nothing is stored either.
    with pytest.raises(SchemaManagerError, match="is not valid UTF-8"):
        large_scripts.stream_in(listed)
    assert not Migration.objects.exists()


def test_statements_sent_together_still_name_the_one_that_failed(
    postgres_targets, manager: SchemaManager, monkeypatch
):
    monkeypatch.setattr(transport_module, "GROUP_CHARS", 120)  # several round trips
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


def tricky_large_script(rows: int) -> str:
    """Over the parse cache: statements ending in comments, dollar quotes and block comments
    holding semicolons, and a closing comment after the last statement."""
    parts = ["CREATE TABLE big2 (id INTEGER PRIMARY KEY, note TEXT);\n"]
    for i in range(rows):
        if i % 50 == 0:
            parts.append(f"DO $body$ BEGIN PERFORM {i}; END $body$; -- a ; in a comment\n")
        parts.append(f"/* row; {i} */ INSERT INTO big2 VALUES ({i}, 'a; b ''{i}''');\n")
    parts.append("-- the end; nothing after this\n")
    return "".join(parts)


def test_the_analysis_cuts_a_large_script_into_runs_of_whole_statements(
    postgres_targets, monkeypatch
):
    monkeypatch.setattr(transport_module, "GROUP_CHARS", 4_000)
    sql = tricky_large_script(1_500)
    assert statements.is_streamed(sql)
    backend = get_backend(connections[postgres_targets.alias("staging")])

    analysis = analyse(sql, backend.engine, {}, transport_module.GROUP_CHARS)

    every = statements.parse_statements(sql, "postgresql")
    assert analysis.statements == len(every) == 1 + 1_500 + 30
    assert analysis.cuts[-1] == (len(sql), len(every))
    assert len(analysis.cuts) > 20
    start, before, texts = 0, 0, []
    for end, upto in analysis.cuts:
        # Each slice is whole statements: as many as the cut says, the same as in the script.
        found = statements.parse_statements(sql[start:end], "postgresql")
        assert len(found) == upto - before
        texts.extend(statement.text for statement in found)
        start, before = end, upto
    assert texts == [statement.text for statement in every]


def test_a_large_script_runs_in_its_analysed_slices_without_being_split_again(
    postgres_targets, manager: SchemaManager, monkeypatch
):
    # Slices of ~16 kB (a script up to GROUP_CHARS goes whole, in one round trip).
    monkeypatch.setattr(transport_module, "GROUP_CHARS", 16_000)
    # What the executor splits while it runs a script (the analysis before it reads the
    # script's first statement through the same function).
    split: list[int] = []
    running: list[bool] = []
    real_split, real_run = transport_module.iter_statements, MigrationExecutor._run_and_record

    def iter_statements(sql, *args):
        if running:
            split.append(len(sql))
        return real_split(sql, *args)

    def run_and_record(*args, **kwargs):
        running.append(True)
        try:
            return real_run(*args, **kwargs)
        finally:
            running.pop()

    monkeypatch.setattr(transport_module, "iter_statements", iter_statements)
    monkeypatch.setattr(MigrationExecutor, "_run_and_record", run_and_record)
    sql = tricky_large_script(1_500)
    result = manager.apply_migration_sync(
        Migration(id="001_big", sql=sql, rollback_sql="DROP TABLE big2;"), "staging"
    )
    assert result.success, result.error
    assert result.statements_run == 1 + 1_500 + 30
    assert postgres_targets.fetch("staging", "SELECT COUNT(*) FROM big2") == [(1_500,)]
    assert split == []

    # A failure deep in the script: only its slice is split, to name the statement, counted
    # from the script's start; nothing stays.
    failing = sql.replace("VALUES (1200, ", "VALUES (7, ").replace("big2", "big3")
    result = manager.apply_migration_sync(Migration(id="002_big", sql=failing), "staging")
    assert not result.success
    # CREATE TABLE, the DO blocks of rows 0, 50, ..., 1200 (25), rows 0 to 1199: 1226 before.
    [duplicate] = [s for s in statements.parse_statements(failing) if "(7, 'a; b ''1200" in s.text]
    assert duplicate.index == 1226
    assert result.error.startswith("Statement 1227 (INSERT INTO big3 VALUES ( 7 ,"), result.error
    assert "duplicate key" in result.error
    assert result.statements_run == 1226
    assert "big3" not in postgres_targets.tables("staging")
    assert len(split) == 1
    assert split[0] < len(failing) / 4
