"""The archive from the commands: --dry-run says what would be archived and shows the restores;
over the cap the apply exits 1 and changes nothing, --allow-destructive confirms it."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from tests.engine.test_archive import fill_items
from tests.utils import run_command, write_migration

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def archiving(targets, migrations_dir):
    fill_items(targets)
    write_migration(migrations_dir, "001_trim_items", "DELETE FROM items WHERE id > 40;\n")
    archive = {
        **settings.SCHEMA_MANAGER,
        "ARCHIVE_ENVIRONMENTS": ["development"],
        "ARCHIVE_MAX_BYTES": {"*": 100},
    }
    with override_settings(SCHEMA_MANAGER=archive):
        yield targets


def count(targets) -> int:
    return targets.fetch("development", "SELECT COUNT(*) FROM items")[0][0]


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"], indirect=["engine"])
def test_dry_run_says_what_would_be_archived_and_shows_the_restore(archiving):
    run = run_command("apply_schema_migration", "--all", "--dry-run", "--allow-destructive")
    assert "60 rows / 0.0 MB will be archived" in run.stdout
    assert "INSERT INTO items (id, name, qty, price, note)" in run.stdout
    assert count(archiving) == 100


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"], indirect=["engine"])
def test_over_the_cap_the_command_refuses_until_confirmed(archiving):
    refused = run_command("apply_schema_migration", "--all", check=False)
    assert refused.status == 1
    assert "ARCHIVE_MAX_BYTES" in refused.stderr
    assert count(archiving) == 100
    confirmed = run_command("apply_schema_migration", "--all", "--allow-destructive")
    assert confirmed.status == 0
    assert count(archiving) == 40
    rolled_back = run_command("rollback_schema_migration", "001_trim_items")
    assert rolled_back.status == 0
    assert count(archiving) == 100
