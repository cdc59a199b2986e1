"""Helpers shared by the admin tests (test client and browser)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.contrib.auth.models import Permission
from django.test import override_settings

from schema_manager import Migration
from tests.conftest import Targets, _environment_settings

CHANGELIST = "/admin/schema_manager/migration/"
HISTORY = "/admin/schema_manager/versionrecord/"
PASSWORD = "correct horse battery staple"


@contextmanager
def sqlite_environments(tmp_path: Path) -> Iterator[Targets]:
    """The three environments on SQLite files, clean (the admin is engine-agnostic)."""
    helper = Targets("sqlite")
    helper.reset()
    with override_settings(SCHEMA_MANAGER=_environment_settings(helper, tmp_path)):
        yield helper


def make_user(django_user_model, username: str, *codenames: str, superuser: bool = False):
    """A staff user with the given schema_manager permissions (codenames)."""
    if superuser:
        return django_user_model.objects.create_superuser(username, password=PASSWORD)
    user = django_user_model.objects.create_user(username, password=PASSWORD, is_staff=True)
    permissions = Permission.objects.filter(
        content_type__app_label="schema_manager", codename__in=codenames
    )
    assert permissions.count() == len(codenames), codenames
    user.user_permissions.add(*permissions)
    return user


def stored(migration_id: str, sql: str, **fields) -> Migration:
    migration = Migration(id=migration_id, name=migration_id.split("_", 1)[1], sql=sql, **fields)
    migration.save()
    return migration
