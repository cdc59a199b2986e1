"""Settings for schema_manager, read from ``settings.SCHEMA_MANAGER`` at access time.

Reading lazily (never at import) keeps ``override_settings`` working in tests and lets the
app be imported before settings are configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from .backends.base import Timeouts

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
    # Environments whose applies write prisma/migrations/<id>/ (like `prisma migrate dev`).
    "WRITE_FILES_ENVIRONMENTS": ["development"],
    # Environments where apply_schema_migration may ask before destructive statements.
    "INTERACTIVE_ENVIRONMENTS": ["development"],
    # e.g. ["development", "staging", "production"]: each needs the migration applied in the
    # one before it. None (off) lets the guide apply straight to production.
    "PROMOTION_ORDER": None,
    # Rule severities per environment ("*": all): {env: {rule id: "error"/"warning"/"off"}}.
    "RULES": {},
    # environment -> {"lock_timeout": seconds, "statement_timeout": seconds}; None (or a
    # missing key or environment) leaves the server's own setting.
    "TIMEOUTS": {"production": {"lock_timeout": 2.0, "statement_timeout": None}},
    # How often a migration is retried after hitting lock_timeout (0.5 s, 1 s, 2 s... apart).
    "LOCK_TIMEOUT_RETRIES": 2,
    # Fleets of tenant databases or schemas: name -> {"TARGETS": callable, ...} (see
    # fleets.specs.FLEET_DEFAULTS for the other keys and docs/fleets.md).
    "FLEETS": {},
    # Environments where destructive statements keep what they remove in an archive on the
    # target, which the generated rollback restores (see docs/archive.md).
    "ARCHIVE_ENVIRONMENTS": [],
    # environment ("*": every one) -> bytes an apply may copy into the archive; above it the
    # apply is refused unless confirmed or the migration accepts the loss. None: no cap.
    "ARCHIVE_MAX_BYTES": {"*": 1024**3},
    # Days an archive is kept before purge_schema_archives may remove it.
    "ARCHIVE_RETENTION_DAYS": 30,
    # environment -> approval policy (see change_requests/policy.py); an environment without
    # one needs no change request, so the guide's direct apply to production works.
    "APPROVALS": {},
    # Where change-request notifications go: {"WEBHOOKS": [url, ...], "EMAILS": [address, ...]}.
    "CHANGE_NOTIFICATIONS": {},
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

    @property
    def WRITE_FILES_ENVIRONMENTS(self) -> frozenset[str]:
        return frozenset(self._get("WRITE_FILES_ENVIRONMENTS"))

    @property
    def INTERACTIVE_ENVIRONMENTS(self) -> frozenset[str]:
        return frozenset(self._get("INTERACTIVE_ENVIRONMENTS"))

    @property
    def PROMOTION_ORDER(self) -> list[str]:
        return list(self._get("PROMOTION_ORDER") or [])

    @property
    def RULES(self) -> dict[str, dict[str, str]]:
        return {env: dict(rules) for env, rules in dict(self._get("RULES")).items()}

    def rule_severities(self, environment: str) -> dict[str, str]:
        """Rule id -> severity for ``environment``: its own entries over those of "*"."""
        rules = self.RULES
        return {**rules.get("*", {}), **rules.get(environment, {})}

    @property
    def TIMEOUTS(self) -> dict[str, dict[str, float | None]]:
        return {env: dict(values) for env, values in self._get("TIMEOUTS").items()}

    @property
    def LOCK_TIMEOUT_RETRIES(self) -> int:
        return int(self._get("LOCK_TIMEOUT_RETRIES"))

    @property
    def ARCHIVE_ENVIRONMENTS(self) -> frozenset[str]:
        return frozenset(self._get("ARCHIVE_ENVIRONMENTS"))

    def archive_max_bytes(self, environment: str) -> int | None:
        """The archive cap of ``environment``: its own entry, else that of "*"."""
        caps = dict(self._get("ARCHIVE_MAX_BYTES") or {})
        cap = caps.get(environment, caps.get("*"))
        return None if cap is None else int(cap)

    @property
    def ARCHIVE_RETENTION_DAYS(self) -> int:
        return int(self._get("ARCHIVE_RETENTION_DAYS"))

    def timeouts_for(self, environment: str) -> Timeouts:
        values = self.TIMEOUTS.get(environment) or {}
        return Timeouts(
            lock_timeout=values.get("lock_timeout"),
            statement_timeout=values.get("statement_timeout"),
        )


app_settings = SchemaManagerSettings()
