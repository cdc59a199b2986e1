"""A command run from the command line owns its process: the garbage collector is told that
what start-up made stays, and at exit that nothing left needs collecting. A command called
from Python (``call_command``) leaves the caller's collector alone."""

import os
import subprocess
import sys

from tests.processes import ROOT

# Prints the collector's frozen-object count after each way of running a command, and at exit
# from a handler registered before both (so it runs after any the command registers).
CHILD = """
import atexit, gc
import django
from django.core.management import call_command, execute_from_command_line

django.setup()
atexit.register(lambda: print("at exit", gc.get_freeze_count(), flush=True))
call_command("create_schema_migration", "from python", verbosity=0)
print("after call_command", gc.get_freeze_count(), flush=True)
execute_from_command_line(["manage.py", "create_schema_migration", "from the command line"])
print("after the command line", gc.get_freeze_count(), flush=True)
made_after = [[number] for number in range(1000)]
"""


def test_a_command_line_run_freezes_what_start_up_made_and_everything_at_exit(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "SCHEMA_MANAGER_TEST_PRISMA_SCHEMA": str(tmp_path / "prisma" / "schema.prisma"),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert child.returncode == 0, child.stderr
    counts = {
        line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1])
        for line in child.stdout.splitlines()
        if line.startswith(("after", "at exit"))
    }
    assert counts["after call_command"] == 0  # the caller's process: untouched
    assert counts["after the command line"] > 10_000  # Django's and the app's modules
    # At exit, what was made after the command (a thousand lists and their list) too.
    assert counts["at exit"] >= counts["after the command line"] + 1001
    assert len(list((tmp_path / "prisma" / "migrations").iterdir())) == 2
