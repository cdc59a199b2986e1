"""Operators' gates: the validate-only run, --dry-run's exit status, migration order, and
catalogue entries whose folder was deleted."""

from __future__ import annotations

import shutil

import pytest

from schema_manager import Migration, SchemaManager, services
from tests.utils import run_command, write_migration

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def folders(directory, *specs: tuple[str, str]) -> None:
    for migration_id, sql in specs:
        write_migration(directory, migration_id, sql)


# -- the validate-only gate and --dry-run ------------------------------------------------------


def test_validate_command_exits_1_on_any_error_and_runs_nothing(targets, migrations_dir):
    folders(
        migrations_dir,
        ("001_a", "CREATE TABLE a (id INTEGER);"),
        ("002_drop", "DROP DATABASE production;"),
    )

    out, err, status = run_command("validate_schema_migration", check=False)

    assert status == 1
    assert "  001_a ... ok" in out
    assert "  002_drop ... refused (1 error(s))" in out
    assert "drops a whole database" in out
    assert err == "CommandError: 1 of 2 migration(s) would be refused in development.\n"
    assert targets.ledger() == []
    assert "a" not in targets.tables()

    out, err, status = run_command("validate_schema_migration", "001_a", check=False)
    assert (status, err) == (0, "")
    assert out.splitlines()[-1] == "1 migration(s) would be applied in development."


def test_validate_command_follows_production_rules(targets, migrations_dir):
    folders(migrations_dir, ("001_drop", "DROP TABLE legacy;"))

    out, _, status = run_command("validate_schema_migration", "-e", "production", check=False)
    assert status == 1
    assert "Blocked in production" in out
    assert run_command("validate_schema_migration", "-e", "staging", check=False).status == 0
    allowed = run_command(
        "validate_schema_migration", "-e", "production", "--allow-destructive", check=False
    )
    assert allowed.status == 0


def test_dry_run_prints_the_plan_and_exits_1_when_a_migration_would_be_refused(
    targets, migrations_dir
):
    folders(
        migrations_dir,
        ("001_a", "CREATE TABLE a (id INTEGER);"),
        ("002_drop", "DROP DATABASE production;"),
    )

    out, err, status = run_command("apply_schema_migration", "--all", "--dry-run", check=False)

    assert status == 1
    assert "[1/2] Would apply 001_a" in out
    assert "[2/2] Would apply 002_drop" in out
    assert "  SQL:" in out
    assert "error: Statement 1 (DROP DATABASE production) drops a whole database" in out
    assert err == (
        "CommandError: 1 of 2 migration(s) would be refused in development; see the errors above.\n"
    )
    assert targets.ledger() == []

    out, err, status = run_command("apply_schema_migration", "001_a", "--dry-run", check=False)
    assert (status, err) == (0, "")
    assert "Would apply 001_a" in out


# -- migration order ----------------------------------------------------------------------------


def test_out_of_order_is_refused_in_production_unless_allowed(targets, migrations_dir):
    folders(
        migrations_dir,
        ("001_a", "CREATE TABLE a (id INTEGER);"),
        ("002_b", "CREATE TABLE b (id INTEGER);"),
    )
    manager = SchemaManager()
    services.import_folders()
    later = Migration.objects.get(pk="002_b")

    refused = manager.apply_migration_sync(later, "production")

    assert not refused.success
    assert refused.message == (
        "Migration '002_b' was not applied to production: it would run out of order, before "
        "'001_a' (earlier by id, still pending there); apply those first, or pass "
        "allow_out_of_order=True (--allow-out-of-order)."
    )
    assert "b" not in targets.tables("production")
    assert targets.ledger("production") == []

    _, err, status = run_command("apply_schema_migration", "002_b", "-e", "production", check=False)
    assert status == 1
    assert "it would run out of order, before '001_a'" in err
    out, _, status = run_command(
        "apply_schema_migration", "002_b", "-e", "production", "--dry-run", check=False
    )
    assert status == 1
    assert "out of order" in out
    assert (
        run_command("validate_schema_migration", "002_b", "-e", "production", check=False).status
        == 1
    )

    allowed = manager.apply_migration_sync(later, "production", allow_out_of_order=True)
    assert allowed.success, allowed.error
    assert "b" in targets.tables("production")
    # In order, the earlier one is no longer refused; nothing is pending before it.
    assert manager.apply_migration_sync(Migration.objects.get(pk="001_a"), "production").success


def test_a_migration_rolled_back_is_pending_again_for_the_order(targets, migrations_dir):
    folders(
        migrations_dir,
        ("001_a", "CREATE TABLE a (id INTEGER);"),
        ("002_b", "CREATE TABLE b (id INTEGER);"),
    )
    manager = SchemaManager()
    services.import_folders()
    assert manager.apply_migration_sync(Migration.objects.get(pk="001_a"), "production").success
    assert manager.rollback_migration_sync("001_a", "production").success

    refused = manager.apply_migration_sync(Migration.objects.get(pk="002_b"), "production")

    assert not refused.success
    assert "out of order, before '001_a'" in refused.message


def test_out_of_order_elsewhere_applies_with_a_warning(targets, migrations_dir):
    folders(
        migrations_dir,
        ("001_a", "CREATE TABLE a (id INTEGER);"),
        ("002_b", "CREATE TABLE b (id INTEGER);"),
    )

    out, _, _ = run_command("apply_schema_migration", "002_b", "-e", "staging", "-v", "2")

    assert "002_b ... applied" in out
    assert "warning: Applied out of order: '001_a' (earlier by id) still pending in staging." in out
    assert "b" in targets.tables("staging")


def test_a_plan_in_order_is_not_out_of_order(targets, migrations_dir):
    folders(
        migrations_dir,
        ("001_a", "CREATE TABLE a (id INTEGER);"),
        ("002_b", "CREATE TABLE b (id INTEGER);"),
    )
    assert run_command("validate_schema_migration", "-e", "production", check=False).status == 0
    assert (
        run_command("apply_schema_migration", "--all", "-e", "production", check=False).status == 0
    )
    assert {"a", "b"} <= targets.tables("production")


# -- folders deleted from disk -----------------------------------------------------------------


def test_a_deleted_folder_never_applied_is_not_pending_and_can_be_pruned(targets, migrations_dir):
    folders(
        migrations_dir,
        ("001_a", "CREATE TABLE a (id INTEGER);"),
        ("002_broken", "CREATE TABLE broken (id INTEGER REFERENCES nowhere_at_all(id)) x;"),
    )
    assert run_command("apply_schema_migration", "--all", check=False).status == 1  # 002 fails
    shutil.rmtree(migrations_dir / "002_broken")
    # An entry made in code or in the admin never had a folder: it stays pending.
    Migration(id="003_from_code", sql="CREATE TABLE c (id INTEGER);").save()

    out, _, _ = run_command("schema_migration_status")
    assert "[missing on disk] 002_broken  folder deleted before it was applied anywhere" in out
    assert "[  pending  ] 003_from_code" in out
    assert [m.id for m in services.pending()] == ["003_from_code"]
    assert run_command("schema_migration_status", "--check", check=False).status == 1  # 003 pending

    out, _, _ = run_command("apply_schema_migration", "--prune")
    assert out == "Removed 002_broken: its folder is gone and it was never applied.\n"
    assert not Migration.objects.filter(pk="002_broken").exists()
    assert run_command("apply_schema_migration", "--prune")[0] == "No migrations to prune.\n"

    out, _, _ = run_command("apply_schema_migration", "--all")
    assert "003_from_code ... applied" in out
    assert "002_broken" not in out


def test_a_deleted_folder_once_applied_is_kept(targets, migrations_dir):
    folders(migrations_dir, ("001_a", "CREATE TABLE a (id INTEGER);"))
    run_command("apply_schema_migration", "--all", "-e", "staging")
    shutil.rmtree(migrations_dir / "001_a")

    assert run_command("apply_schema_migration", "--prune")[0] == "No migrations to prune.\n"
    assert [m.id for m in services.pending()] == ["001_a"]
