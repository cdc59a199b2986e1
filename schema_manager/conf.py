"""Settings for schema_manager, read from ``settings.SCHEMA_MANAGER`` at access time.

Reading lazily (never at import) keeps ``override_settings`` working in tests and lets the
app be imported before settings are configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # environment name -> DATABASES alias of the target database.
    "ENVIRONMENTS": {"development": "default"},
    "DEFAULT_ENVIRONMENT": "development",
    # The migrations directory is ``migrations/`` beside this file, as with Prisma.
    "PRISMA_SCHEMA_PATH": Path("prisma") / "schema.prisma",
    # Environments whose schema.prisma is rewritten from the database after each successful
    # apply or rollback ([] disables). Staging and production are never written.
    "PRISMA_SYNC_ENVIRONMENTS": ["development"],
    # Command run after a sync that changed schema.prisma, e.g. ["npx", "prisma", "generate"].
    "PRISMA_POST_SYNC_COMMAND": None,
    # Environments where destructive warnings block unless explicitly allowed.
    "PROTECTED_ENVIRONMENTS": ["production"],
    # Seconds an applier waits for another one to finish on the same target.
    "LOCK_WAIT": 60.0,
}


class SchemaManagerSettings:
    """One property per setting, each falling back to its documented default."""

    def _get(self, name: str) -> Any:
        user = getattr(settings, "SCHEMA_MANAGER", None) or {}
        return user.get(name, DEFAULTS[name])

    @property
    def ENVIRONMENTS(self) -> dict[str, str]:
        return dict(self._get("ENVIRONMENTS"))

    @property
    def DEFAULT_ENVIRONMENT(self) -> str:
        return str(self._get("DEFAULT_ENVIRONMENT"))

    @property
    def PRISMA_SCHEMA_PATH(self) -> Path:
        return Path(self._get("PRISMA_SCHEMA_PATH"))

    @property
    def PRISMA_SYNC_ENVIRONMENTS(self) -> frozenset[str]:
        return frozenset(self._get("PRISMA_SYNC_ENVIRONMENTS"))

    @property
    def PRISMA_POST_SYNC_COMMAND(self) -> list[str] | None:
        command = self._get("PRISMA_POST_SYNC_COMMAND")
        return list(command) if command else None

    def raw(self, name: str) -> Any:
        """A setting as given, for the system checks."""
        return self._get(name)

    @property
    def PROTECTED_ENVIRONMENTS(self) -> frozenset[str]:
        return frozenset(self._get("PROTECTED_ENVIRONMENTS"))

    @property
    def LOCK_WAIT(self) -> float:
        return float(self._get("LOCK_WAIT"))


app_settings = SchemaManagerSettings()
