"""Roll back every applied migration of an environment, newest first, in one process.

There is no "roll back everything" command, so this driver calls the same code path as
``rollback_schema_migration`` (``SchemaManager.rollback_migration_sync``) once per migration,
in one Python process — the honest equivalent of one ``psql`` reading all the down scripts.

Usage: DJANGO_SETTINGS_MODULE=bench.settings python bench/rollback_all.py [ENVIRONMENT]
"""

from __future__ import annotations

import sys

import django


def main(environment: str | None) -> int:
    django.setup()
    from schema_manager import SchemaManager
    from schema_manager.executor import MigrationExecutor
    from schema_manager.targets import resolve

    manager = SchemaManager()
    target = resolve(environment)
    applied = MigrationExecutor(target.alias, 60).ledger.applied()
    for migration_id in sorted(applied, reverse=True):
        result = manager.rollback_migration_sync(migration_id, environment)
        if not result.success:
            print(result.message, result.error, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
