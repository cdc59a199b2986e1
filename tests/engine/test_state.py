"""Where a migration stands: each ``State``, made by real operations on SQLite and PostgreSQL,
is what the status (text and JSON) and the admin both say."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.db import connections

from schema_manager import Migration, SchemaManager, services
from schema_manager.admin.states import read_disk, read_ledger, state_in
from schema_manager.backends import LEDGER_TABLE, get_backend
from schema_manager.checksums import migration_checksum
from schema_manager.files import UnreadableFolder
from schema_manager.ledger import Ledger
from schema_manager.ledger_rows import LedgerRow, utc_now
from schema_manager.state import Facts, State, standing
from schema_manager.targets import resolve
from tests.conftest import POSTGRES_SKIP_REASON, TRANSACTIONAL_ENGINES, _clean_targets
from tests.settings import POSTGRES_URL
from tests.utils import run_command, write_migration

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

ENV = "staging"
CREATE_A = "CREATE TABLE a (id INTEGER);"
UNREADABLE = UnreadableFolder("001_a", Path("001_a"), "'001_a/migration.sql' contains a NUL byte")


@pytest.fixture(params=TRANSACTIONAL_ENGINES)
def targets(request, tmp_path, transactional_db):
    if request.param == "postgresql" and not POSTGRES_URL:
        pytest.skip(POSTGRES_SKIP_REASON)
    yield from _clean_targets(request.param, tmp_path)


def status_of(migration_id: str) -> State:
    """What ``schema_migration_status`` says, checked against its JSON output."""
    [state] = [s for s in services.status(ENV) if s.migration_id == migration_id]
    out, _, _ = run_command("schema_migration_status", "-e", ENV, "--format", "json")
    [entry] = [m for m in json.loads(out)["migrations"] if m["migration_id"] == migration_id]
    assert entry["state"] == state.state.value
    text, _, _ = run_command("schema_migration_status", "-e", ENV)
    assert f"[{state.state.label:^11}] {migration_id}" in text
    return state.state


def admin_state_of(migration_id: str) -> State:
    """What the admin's badge for ``ENV`` says."""
    migration = Migration.objects.get(pk=migration_id)
    return state_in(migration, read_ledger(resolve(ENV)), read_disk()).state


def seen(migration_id: str) -> tuple[State, State]:
    return status_of(migration_id), admin_state_of(migration_id)


def apply(migration_id: str) -> bool:
    manager = SchemaManager()
    [migration] = [m for m in services.pending(ENV) if m.id == migration_id]
    return manager.apply_migration_sync(migration, ENV).success


def test_the_vocabulary_is_the_status_json_values():
    # Scripts read these values: changing one is a breaking change for them.
    assert [state.value for state in State] == [
        "pending",
        "applied",
        "failed",
        "rolled_back",
        "unresolved",
        "modified",
        "missing",
        "missing_on_disk",
        "unreadable",
        "unknown",
    ]


def test_a_folder_not_applied_is_pending(targets, migrations_dir):
    write_migration(migrations_dir, "001_a", CREATE_A)
    assert seen("001_a") == (State.PENDING, State.PENDING)


def test_an_applied_migration_is_applied(targets, migrations_dir):
    write_migration(migrations_dir, "001_a", CREATE_A)
    assert apply("001_a")
    assert seen("001_a") == (State.APPLIED, State.APPLIED)


def test_a_failed_attempt_is_failed(targets, migrations_dir):
    write_migration(migrations_dir, "001_bad", f"{CREATE_A} INSERT INTO nope VALUES (1);")
    assert not apply("001_bad")
    assert seen("001_bad") == (State.FAILED, State.FAILED)


def test_a_rolled_back_migration_is_rolled_back(targets, migrations_dir):
    write_migration(migrations_dir, "001_a", CREATE_A, down="DROP TABLE a;")
    assert apply("001_a")
    assert SchemaManager().rollback_migration_sync("001_a", ENV).success
    assert seen("001_a") == (State.ROLLED_BACK, State.ROLLED_BACK)


def test_an_unfinished_attempt_is_unresolved(targets, migrations_dir):
    write_migration(migrations_dir, "001_a", CREATE_A)
    ledger = Ledger(get_backend(targets.connection(ENV)))
    ledger.ensure_table()
    # What a process killed in the middle of a no-transaction script leaves.
    ledger.insert("001_a", migration_checksum(CREATE_A), utc_now(), finished_at=None)
    assert seen("001_a") == (State.UNRESOLVED, State.UNRESOLVED)


def test_a_file_changed_after_it_was_applied_is_modified(targets, migrations_dir):
    folder = write_migration(migrations_dir, "001_a", CREATE_A)
    assert apply("001_a")
    (folder / "migration.sql").write_text(CREATE_A + "\n-- edited\n")
    assert seen("001_a") == (State.MODIFIED, State.MODIFIED)


def test_a_file_changed_after_it_was_applied_elsewhere_is_modified_here_too(
    targets, migrations_dir
):
    folder = write_migration(migrations_dir, "001_a", CREATE_A)
    manager = SchemaManager()
    [migration] = services.pending("production")
    assert manager.apply_migration_sync(migration, "production").success
    (folder / "migration.sql").write_text(CREATE_A + "\n-- edited\n")
    # The catalogue keeps the SQL applied in production; staging would get other SQL.
    assert seen("001_a") == (State.MODIFIED, State.MODIFIED)


def test_an_entry_edited_in_the_catalogue_after_it_was_applied_is_modified(targets):
    manager = SchemaManager()
    migration = Migration(id="001_a", name="a", sql=CREATE_A)
    assert manager.apply_migration_sync(migration, ENV).success
    edited = CREATE_A + "\n-- edited\n"
    # Behind the model's back (its save refuses this): the stored checksum follows the SQL.
    Migration.objects.filter(pk="001_a").update(sql=edited, checksum=migration_checksum(edited))
    assert seen("001_a") == (State.MODIFIED, State.MODIFIED)


def test_an_applied_migration_gone_from_disk_and_catalogue_is_missing(targets, migrations_dir):
    folder = write_migration(migrations_dir, "001_a", CREATE_A)
    assert apply("001_a")
    shutil.rmtree(folder)
    Migration.objects.filter(pk="001_a").delete()
    assert status_of("001_a") == State.MISSING
    # The admin lists catalogue entries only; asked, the one function says the same.
    [row] = Ledger(get_backend(targets.connection(ENV))).rows()
    assert standing(Facts(row=row)).state is State.MISSING


def test_a_folder_deleted_before_it_was_applied_anywhere_is_missing_on_disk(
    targets, migrations_dir
):
    folder = write_migration(migrations_dir, "001_a", CREATE_A)
    services.import_folders()
    shutil.rmtree(folder)
    assert seen("001_a") == (State.MISSING_ON_DISK, State.MISSING_ON_DISK)


def test_a_folder_that_cannot_be_read_is_unreadable(targets, migrations_dir):
    folder = write_migration(migrations_dir, "001_a", CREATE_A)
    assert apply("001_a")
    (folder / "migration.sql").write_bytes(b"CREATE TABLE a (id INTEGER);\x00")
    assert seen("001_a") == (State.UNREADABLE, State.UNREADABLE)


def test_a_ledger_that_cannot_be_read_is_unknown(targets, migrations_dir):
    write_migration(migrations_dir, "001_a", CREATE_A)
    services.import_folders()
    # A table of that name that is not Prisma's: reading it fails.
    with connections[targets.alias(ENV)].cursor() as cursor:
        cursor.execute(f"CREATE TABLE {LEDGER_TABLE} (something_else INTEGER)")
    assert admin_state_of("001_a") is State.UNKNOWN
    # The commands fail instead of guessing; the function says the same as the admin.
    assert standing(Facts(ledger_error="no such column: id")).state is State.UNKNOWN


def row(finished: bool, rolled_back: bool) -> LedgerRow:
    now = utc_now()
    return LedgerRow(
        "id",
        "0" * 64,
        now if finished else None,
        "001_a",
        None,
        now if rolled_back else None,
        now,
        1,
    )


@pytest.mark.parametrize(
    ("facts", "state", "applied", "live"),
    [
        (Facts(), State.PENDING, False, False),
        (Facts(row=row(finished=True, rolled_back=False)), State.MISSING, True, True),
        (Facts(row=row(finished=True, rolled_back=True)), State.ROLLED_BACK, False, False),
        (Facts(row=row(finished=False, rolled_back=True)), State.FAILED, False, False),
        (Facts(row=row(finished=False, rolled_back=False)), State.UNRESOLVED, False, True),
        # Whatever the folder, the target holds what its ledger says it holds.
        (
            Facts(row=row(finished=True, rolled_back=False), unreadable=UNREADABLE),
            State.UNREADABLE,
            True,
            True,
        ),
        (Facts(unreadable=UNREADABLE), State.UNREADABLE, False, False),
        # An unreadable ledger may hold it: read-only, but nothing to roll back that is known.
        (Facts(ledger_error="gone"), State.UNKNOWN, False, True),
    ],
)
def test_what_the_ledger_holds_decides_applied_and_live(facts, state, applied, live):
    where = standing(facts)
    assert (where.state, where.is_applied, where.is_live) == (state, applied, live)
