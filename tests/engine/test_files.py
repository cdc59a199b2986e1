"""The prisma/migrations directory: a bad file is named, refused unread, and blocks no other.

Each bad folder is written beside a good one; status must still answer (listing the bad one
with its error), the good one must import and apply, and nothing of the bad one is stored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError

from schema_manager import Migration, file_reads, services
from schema_manager.workspace import Workspace
from tests.routers import move_model
from tests.utils import run_command

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

GOOD = "20240101000000_good"
BAD = "20240102000000_bad"
SECRET = "SELECT 'a system file, never to be quoted';\n"


@pytest.fixture
def directory(targets) -> Path:
    path = Workspace().directory.path
    (path / GOOD).mkdir(parents=True)
    (path / GOOD / "migration.sql").write_text("CREATE TABLE good (id INTEGER);\n")
    (path / BAD).mkdir()
    return path


def nul_byte(folder: Path) -> None:
    (folder / "migration.sql").write_bytes(b"CREATE TABLE bad (id INTEGER);\n\0\n")


def fifo(folder: Path) -> None:
    os.mkfifo(folder / "migration.sql")


def device(folder: Path) -> None:
    (folder / "migration.sql").symlink_to("/dev/zero")


def file_outside(folder: Path) -> None:
    outside = folder.parent.parent / "outside.sql"
    outside.write_text(SECRET)
    (folder / "migration.sql").symlink_to(outside)


def folder_outside(folder: Path) -> None:
    outside = folder.parent.parent / "outside"
    outside.mkdir()
    (outside / "migration.sql").write_text(SECRET)
    folder.rmdir()
    folder.symlink_to(outside, target_is_directory=True)


def not_utf8(folder: Path) -> None:
    (folder / "migration.sql").write_bytes(b"SELECT '\xff';\n")


def bad_rollback(folder: Path) -> None:
    (folder / "migration.sql").write_text("CREATE TABLE bad (id INTEGER);\n")
    (folder / "down.sql").write_bytes(b"DROP TABLE bad;\0\n")


def no_migration_file(folder: Path) -> None:
    (folder / "notes.txt").write_text("nothing to run\n")


# What is wrong, and the words the error must say about it (besides the file's name).
BAD_FILES: list[tuple[Callable[[Path], None], str, str]] = [
    (nul_byte, "migration.sql", "NUL byte"),
    (fifo, "migration.sql", "not a regular file"),
    (device, "migration.sql", "outside the migrations directory"),  # checked before its kind
    (file_outside, "migration.sql", "outside the migrations directory"),
    (folder_outside, "", "outside the migrations directory"),
    (not_utf8, "migration.sql", "not valid UTF-8"),
    (bad_rollback, "down.sql", "NUL byte"),
    (no_migration_file, "", "has no migration.sql"),
]
BAD_IDS = [make.__name__ for make, _, _ in BAD_FILES]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("make", "file", "words"), BAD_FILES, ids=BAD_IDS)
def test_status_lists_a_bad_folder_with_its_error_and_stores_nothing_of_it(
    directory, make, file, words
):
    make(directory / BAD)
    named = f"{BAD}/{file}" if file else BAD

    out = run_command("schema_migration_status").stdout
    good_line, bad_line = out.splitlines()[1:3]
    assert good_line.startswith(f"  [  pending  ] {GOOD}")
    assert bad_line.startswith(f"  [unreadable ] {BAD}  ")
    assert repr(named) in bad_line
    assert words in bad_line
    assert "never to be quoted" not in out
    assert str(directory.parent) not in bad_line

    payload = json.loads(run_command("schema_migration_status", "--format", "json").stdout)
    [bad] = [m for m in payload["migrations"] if m["migration_id"] == BAD]
    assert bad["state"] == "unreadable"
    assert words in bad["error"]
    assert list(Migration.objects.values_list("id", flat=True)) == [GOOD]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("make", "file", "words"), BAD_FILES, ids=BAD_IDS)
def test_other_migrations_apply_and_apply_all_refuses_naming_the_file(
    targets, directory, make, file, words
):
    make(directory / BAD)

    run_command("apply_schema_migration", GOOD)
    assert "good" in targets.tables()
    with pytest.raises(CommandError, match=rf"^Refusing to apply: .*'{BAD}.*{words}"):
        run_command("apply_schema_migration", "--all", "-e", "staging")
    assert "good" not in targets.tables("staging")
    with pytest.raises(CommandError, match=rf"'{BAD}.*{words}"):
        run_command("apply_schema_migration", BAD, "-e", "staging")
    assert targets.ledger("staging") == []


def test_a_nul_byte_never_reaches_a_postgresql_catalogue(postgres_targets, directory, monkeypatch):
    move_model(Migration, postgres_targets.alias("development"), monkeypatch)
    nul_byte(directory / BAD)

    out = run_command("schema_migration_status").stdout
    assert f"[unreadable ] {BAD}  '{BAD}/migration.sql' contains a NUL byte" in out
    assert list(Migration.objects.values_list("id", flat=True)) == [GOOD]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_link_inside_the_directory_is_followed(directory):
    (directory / BAD / "migration.sql").symlink_to(Path("..", GOOD, "migration.sql"))
    linked = directory / "20240103000000_linked"
    linked.symlink_to(GOOD, target_is_directory=True)

    services.import_folders()
    assert Migration.objects.get(pk=BAD).sql == "CREATE TABLE good (id INTEGER);\n"
    assert Migration.objects.get(pk=linked.name).sql == "CREATE TABLE good (id INTEGER);\n"


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_folder_that_goes_bad_after_its_import_is_named(directory):
    (directory / BAD / "migration.sql").write_text("CREATE TABLE bad (id INTEGER);\n")
    services.import_folders()
    nul_byte(directory / BAD)

    states = {state.migration_id: state for state in services.status()}
    assert states[BAD].state == "unreadable"
    assert f"'{BAD}/migration.sql' contains a NUL byte" in states[BAD].error
    assert Migration.objects.get(pk=BAD).sql == "CREATE TABLE bad (id INTEGER);\n"


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_unchanged_files_are_not_read_again(directory, monkeypatch):
    """Their checksums are remembered by the files' identity (inode, size, times)."""
    monkeypatch.setattr(file_reads, "SETTLED_NS", 0)
    (directory / BAD / "migration.sql").write_text("CREATE TABLE bad (id INTEGER);\n")
    services.import_folders()
    opened: list[Path | str] = []
    real_open = file_reads.open_file

    def spy(file: file_reads.Located):
        opened.append(file.path)
        return real_open(file)

    monkeypatch.setattr(file_reads, "open_file", spy)
    services.status()
    assert opened == []
    (directory / BAD / "migration.sql").write_text("CREATE TABLE bad (id BIGINT);\n")
    services.status()
    assert [Path(path).parent.name for path in opened] == [BAD, BAD]  # hashed, then imported
    assert Migration.objects.get(pk=BAD).sql == "CREATE TABLE bad (id BIGINT);\n"


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_the_api_does_not_apply_a_migration_whose_folder_cannot_be_read(targets, directory):
    (directory / BAD / "migration.sql").write_text("CREATE TABLE bad (id INTEGER);\n")
    services.import_folders()
    nul_byte(directory / BAD)  # the catalogue still holds the text it had
    good, bad = Migration.objects.order_by("id")

    results = services.apply([good, bad], "staging")

    assert [result.success for result in results] == [True, False]
    assert results[1].message.startswith(
        f"Migration {BAD!r} was not applied to staging: its folder cannot be read: "
        f"'{BAD}/migration.sql' contains a NUL byte (at byte 31)"
    )
    assert [row["migration_name"] for row in targets.ledger("staging")] == [GOOD]
    assert "bad" not in targets.tables("staging")
