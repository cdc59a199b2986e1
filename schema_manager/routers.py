"""A database router that keeps Django's own tables off the target databases.

Targets hold only what migrations create (and ``_prisma_migrations``); ``manage.py migrate
--database=<target>`` must not add Django's tables to them.
"""

from __future__ import annotations

from .conf import app_settings


class TargetDatabaseRouter:
    def allow_migrate(self, db: str, app_label: str, **hints) -> bool | None:
        targets = set(app_settings.ENVIRONMENTS.values()) - {"default"}
        return False if db in targets else None
