"""Roll back every applied migration of an environment, newest first, in one process.

``rollback_schema_migration --to ID`` keeps ID applied, so this driver calls what the command
calls, ``services.rollback``, with every applied migration, newest first:
the honest equivalent of one ``psql`` reading all the down scripts.

Usage: DJANGO_SETTINGS_MODULE=bench.settings python bench/rollback_all.py [ENVIRONMENT]
"""

from __future__ import annotations

import sys

import django


def main(environment: str | None) -> int:
    django.setup()
    from schema_manager import services
    from schema_manager.execution.session import ExecutionSession
    from schema_manager.management.process import own_the_process
    from schema_manager.targets import resolve

    own_the_process()  # as the commands do when run from the command line
    target = resolve(environment)
    applied = ExecutionSession(target).ledger.applied()
    results = services.rollback(sorted(applied, reverse=True), environment)
    if results and not results[-1].success:
        print(results[-1].message, results[-1].error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
