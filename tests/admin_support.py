"""Helpers shared by the admin tests (test client and browser)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.test import Client, override_settings

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


def confirmation_form(page_html: str) -> list[tuple[str, str]]:
    """The fields a browser would send from a confirmation page's form (its hidden inputs)."""
    [form] = re.findall(
        r'<form method="post" class="sm-confirm-form">(.*?)</form>', page_html, re.S
    )
    return [
        (html.unescape(name), html.unescape(value))
        for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', form)
    ]


def confirm_as_shown(client: Client, action: str, *ids: str, **extra: str):
    """Open the confirmation page of ``action`` on ``ids``, then confirm it as a browser does."""
    page = client.post(CHANGELIST, {"action": action, ACTION_CHECKBOX_NAME: list(ids)})
    assert page.status_code == 200, page.status_code
    return submit(client, confirmation_form(page.content.decode()), **extra)


def submit(client: Client, fields: list[tuple[str, str]], **extra: str):
    data: dict[str, list[str]] = {}
    for name, value in [*fields, *extra.items()]:
        data.setdefault(name, []).append(value)
    return client.post(CHANGELIST, data)
