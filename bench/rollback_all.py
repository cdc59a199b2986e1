"""Roll back every applied migration of an environment, newest first, in one process.

``rollback_schema_migration --to ID`` keeps ID applied, so this driver takes the command's
code path for every migration: ``SchemaManager.rollback_migration_sync`` once per migration in
one process, inside ``deferred_schema_sync()`` as the command runs it — the honest equivalent
of one ``psql`` reading all the down scripts.

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
    with manager.deferred_schema_sync():
        for migration_id in sorted(applied, reverse=True):
            result = manager.rollback_migration_sync(migration_id, environment)
            if not result.success:
                print(result.message, result.error, file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
