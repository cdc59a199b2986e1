"""Ready-made target callables for ``SCHEMA_MANAGER['FLEETS'][name]['TARGETS']``.

Both are objects built in settings and called later, so building one imports no model and
opens no connection.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from ..exceptions import SchemaManagerError
from .specs import TargetSpec


class TenantSchemas:
    """One target per row of a django-tenants-style tenant model: a schema per tenant of
    the database ``alias`` (django-tenants itself is not needed).

    ``model`` is an ``"app_label.ModelName"``; ``schema_field`` the field naming the schema
    (django-tenants: ``schema_name``); ``key_field`` the target's key (the schema name by
    default); ``label_fields`` fields copied into labels (``{"tier": "tier"}``: label name ->
    field); ``exclude`` schemas that are not tenants (``public``).
    """

    def __init__(
        self,
        model: str,
        *,
        alias: str = "default",
        schema_field: str = "schema_name",
        key_field: str | None = None,
        label_fields: Mapping[str, str] | None = None,
        exclude: Sequence[str] = ("public",),
        using: str | None = None,
    ) -> None:
        self.model, self.alias, self.schema_field = model, alias, schema_field
        self.key_field = key_field or schema_field
        self.label_fields = dict(label_fields or {})
        self.exclude = tuple(exclude)
        self.using = using  # the alias the tenant table is read from (the model's router)

    def __call__(self) -> list[TargetSpec]:
        from django.apps import apps

        model = apps.get_model(self.model)
        fields = {self.schema_field, self.key_field, *self.label_fields.values()}
        rows = model._default_manager.db_manager(self.using).order_by(self.key_field)
        return [
            TargetSpec(
                key=str(row[self.key_field]),
                alias=self.alias,
                schema=str(row[self.schema_field]),
                labels={label: str(row[name]) for label, name in self.label_fields.items()},
            )
            for row in rows.exclude(**{f"{self.schema_field}__in": self.exclude}).values(*fields)
        ]


class TenantDatabases:
    """One target per tenant database on the server(s) of a base DATABASES ``alias``.

    Each entry is a mapping: ``key``; ``labels``; Django's own keys overriding the base
    alias's (``NAME``, ``HOST``, ``PORT``, ``USER``, ``PASSWORD``); ``PASSWORD_ENV`` or
    ``URL_ENV`` to read the password or a whole ``postgres://`` URL from an environment
    variable when the target runs. ``entries`` may be a callable returning them. Nothing of
    it is stored in the app's database: a target run stores the key alone.
    """

    def __init__(
        self,
        alias: str,
        entries: Iterable[Mapping[str, Any]] | Callable[[], Iterable[Mapping[str, Any]]],
    ) -> None:
        self.alias, self.entries = alias, entries

    def __call__(self) -> list[TargetSpec]:
        entries = self.entries() if callable(self.entries) else self.entries
        return [self._spec(dict(entry)) for entry in entries]

    def _spec(self, entry: dict[str, Any]) -> TargetSpec:
        key = str(entry.pop("key", entry.get("NAME", "")))
        labels = {str(k): str(v) for k, v in dict(entry.pop("labels", {})).items()}
        overrides = {name: value for name, value in entry.items() if name.isupper()}
        password_env = overrides.pop("PASSWORD_ENV", None)
        url_env = overrides.pop("URL_ENV", None)
        if password_env:
            overrides["PASSWORD"] = _environ(password_env, key)
        if url_env:
            overrides.update(parse_url(_environ(url_env, key)))
        return TargetSpec(key=key, alias=self.alias, labels=labels, overrides=overrides)


def _environ(variable: str, key: str) -> str:
    try:
        return os.environ[variable]
    except KeyError:
        raise SchemaManagerError(
            f"Target {key!r}: environment variable {variable!r} is not set."
        ) from None


def parse_url(url: str) -> dict[str, Any]:
    """NAME, HOST, PORT, USER and PASSWORD from a ``postgres://user:pw@host:port/name`` URL."""
    parts = urlsplit(url)
    found: dict[str, Any] = {
        "NAME": unquote(parts.path.lstrip("/")),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
    }
    return {name: value for name, value in found.items() if value}
