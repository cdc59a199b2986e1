"""Applier processes for the multi-process tests, running the command a deploy would run.

``python -m tests.apply_process migrate`` prepares the shared app database.
``python -m tests.apply_process`` prints ``ready`` once Django is set up (so a test can kill it
inside the apply, not during start-up), then runs ``apply_schema_migration --all``.
``python -m tests.apply_process serve`` prints ``ready``, then runs one command per line read
from stdin (``apply``: ``apply_schema_migration --all``; ``rollback-to ID``:
``rollback_schema_migration --to ID``; ``rollback ID``: ``rollback_schema_migration ID``),
answering ``done <exit status> <seconds> <error>`` for each: the start-up is paid before the
moment that matters (a round, or a kill).
The parent test sets the SCHEMA_MANAGER_TEST_* variables that tests/settings.py reads.
"""

from __future__ import annotations

import os
import sys
import time


def apply_all() -> tuple[int, float, str]:
    return run("apply_schema_migration", "--all")


def run(command: str, *args: str) -> tuple[int, float, str]:
    from django.core.management import CommandError, call_command
    from django.db import connections

    started = time.monotonic()
    try:
        call_command(command, *args, verbosity=0)
        status, error = 0, ""
    except CommandError as exc:
        status, error = 1, " ".join(str(exc).split())
    finally:
        connections.close_all()  # each round starts on fresh sessions, as a new deploy would
    return status, time.monotonic() - started, error


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.core.management import call_command

    django.setup()
    if sys.argv[1:] == ["migrate"]:
        call_command("migrate", verbosity=0)
        return 0
    if sys.argv[1:] == ["serve"]:
        print("ready", flush=True)
        for line in sys.stdin:
            words = line.split()
            if words[:1] == ["rollback-to"]:
                status, elapsed, error = run("rollback_schema_migration", "--to", *words[1:])
            elif words[:1] == ["rollback"]:
                status, elapsed, error = run("rollback_schema_migration", *words[1:])
            else:
                status, elapsed, error = apply_all()
            print(f"done {status} {elapsed:.3f} {error}", flush=True)
        return 0
    print("ready", flush=True)
    status, elapsed, error = apply_all()
    print(f"done {status} {elapsed:.3f} {error}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
