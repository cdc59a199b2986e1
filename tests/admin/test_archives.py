"""The archives admin: purge and restore, each under its own permission, through a
confirmation page; the apply confirmation says what will be archived."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.test import Client, override_settings
from django.utils import timezone

from schema_manager import Migration
from schema_manager.models import ArchiveRecord
from tests.admin_support import CHANGELIST, make_user, sqlite_environments, stored
from tests.conftest import Targets
from tests.engine.test_archive import fill_items, row_checksums

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

ARCHIVES = "/admin/schema_manager/archiverecord/"


@pytest.fixture
def archiving_targets(tmp_path, transactional_db) -> Iterator[Targets]:
    with sqlite_environments(tmp_path) as helper:
        from django.conf import settings

        archive = {**settings.SCHEMA_MANAGER, "ARCHIVE_ENVIRONMENTS": ["development"]}
        with override_settings(SCHEMA_MANAGER=archive):
            yield helper


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def offered(client: Client) -> set[str]:
    response = client.get(ARCHIVES)
    assert response.status_code == 200
    form = response.context["action_form"]  # None when no action is offered
    return {name for name, _label in form.fields["action"].choices} if form else set()


def act(client: Client, action: str, *records: ArchiveRecord, **extra):
    data = {
        "action": action,
        helpers.ACTION_CHECKBOX_NAME: [str(r.pk) for r in records],
        **extra,
    }
    return client.post(ARCHIVES, data)


def applied_with_archive(targets: Targets) -> tuple[Migration, list[str]]:
    from schema_manager import SchemaManager

    fill_items(targets)
    before = row_checksums(targets)
    migration = Migration(id="001_trim_items", sql="DELETE FROM items WHERE id > 50;")
    assert SchemaManager().apply_migration_sync(migration).success
    return migration, before


@pytest.mark.parametrize(
    ("codenames", "expected"),
    [
        (("view_archiverecord",), set()),
        (("view_archiverecord", "purge_archive"), {"purge_archives"}),
        (("view_archiverecord", "restore_archive"), {"restore_archives"}),
        (
            ("view_archiverecord", "purge_archive", "restore_archive"),
            {"purge_archives", "restore_archives"},
        ),
    ],
)
def test_purge_and_restore_each_need_their_own_permission(
    archiving_targets, django_user_model, codenames, expected
):
    client = client_for(make_user(django_user_model, "olga", *codenames))
    assert offered(client) - {""} == expected


def test_a_forged_purge_without_the_permission_changes_nothing(
    archiving_targets, django_user_model
):
    applied_with_archive(archiving_targets)
    ArchiveRecord.objects.update(expires_at=timezone.now() - timedelta(days=1))
    record = ArchiveRecord.objects.get()
    client = client_for(make_user(django_user_model, "olga", "view_archiverecord"))
    act(client, "purge_archives", record, post="yes")
    assert ArchiveRecord.objects.get().is_held
    assert record.archive in archiving_targets.tables()


def test_purge_confirms_then_drops_only_expired_archives_no_rollback_needs(
    archiving_targets, django_user_model
):
    applied_with_archive(archiving_targets)  # applied: its rollback needs its archive
    needed = ArchiveRecord.objects.get()
    archiving_targets.execute("development", "CREATE TABLE _schema_manager_archive__old (a INT)")
    past = timezone.now() - timedelta(days=1)
    old = ArchiveRecord.objects.create(
        migration_id="000_gone",
        environment="development",
        statement=1,
        kind="rows",
        table="t",
        archive="_schema_manager_archive__old",
        expires_at=past,
    )
    fresh = ArchiveRecord.objects.create(
        migration_id="000_fresh",
        environment="development",
        statement=1,
        kind="rows",
        table="t",
        archive="_schema_manager_archive__fresh",
        expires_at=timezone.now() + timedelta(days=1),
    )
    ArchiveRecord.objects.filter(pk=needed.pk).update(expires_at=past)
    client = client_for(make_user(django_user_model, "olga", "view_archiverecord", "purge_archive"))

    page = act(client, "purge_archives", needed, old, fresh)
    html = page.content.decode()
    assert page.status_code == 200
    assert "dropped from the target" in html
    assert "is applied in development and its rollback restores" in html
    assert "not expired" in html
    assert "_schema_manager_archive__old" in archiving_targets.tables()  # shown, not done

    done = act(client, "purge_archives", needed, old, fresh, post="yes")
    assert done.status_code == 302
    assert "_schema_manager_archive__old" not in archiving_targets.tables()
    assert needed.archive in archiving_targets.tables()
    states = {r.pk: r.purged_at is not None for r in ArchiveRecord.objects.all()}
    assert states == {needed.pk: False, old.pk: True, fresh.pk: False}


def test_restore_rolls_back_the_migration_and_the_rows_come_back(
    archiving_targets, django_user_model
):
    _migration, before = applied_with_archive(archiving_targets)
    record = ArchiveRecord.objects.get()
    user = make_user(
        django_user_model, "rita", "view_archiverecord", "restore_archive", "rollback_migration"
    )
    client = client_for(user)
    page = act(client, "restore_archives", record)
    assert "the rollback restores this archive" in page.content.decode()
    assert row_checksums(archiving_targets) != before

    done = act(client, "restore_archives", record, post="yes")
    assert done.status_code == 302
    assert row_checksums(archiving_targets) == before
    assert ArchiveRecord.objects.get().restored_at is not None


def test_restore_without_the_rollback_permission_rolls_back_nothing(
    archiving_targets, django_user_model
):
    _migration, _before = applied_with_archive(archiving_targets)
    record = ArchiveRecord.objects.get()
    user = make_user(django_user_model, "rita", "view_archiverecord", "restore_archive")
    client = client_for(user)
    page = act(client, "restore_archives", record)
    assert "you may not roll back in this environment" in page.content.decode()
    act(client, "restore_archives", record, post="yes")
    assert ArchiveRecord.objects.get().is_held


def test_the_apply_confirmation_says_how_much_will_be_archived(
    archiving_targets, django_user_model
):
    fill_items(archiving_targets)
    stored("001_trim_items", "DELETE FROM items WHERE id > 50;")
    user = make_user(django_user_model, "alice", "view_migration", "apply_migration")
    page = client_for(user).post(
        CHANGELIST,
        {"action": "apply_to_development", helpers.ACTION_CHECKBOX_NAME: ["001_trim_items"]},
    )
    html = page.content.decode()
    assert re.search(r"50 rows / [\d.]+ MB will be archived", html)
    assert "INSERT INTO items" in html  # the rollback shown restores them
