"""Django's ``migrate`` in the project of ``bench/deploy_settings.py``, with ``benchapp``.

For the no-op deploy measured in one project: the same apps, middleware and checks as the
schema_manager deploy, so that both commands pay the same start-up. Every database alias names
``BENCH_DATABASE_URL`` (the project's own apps are migrated there before the timing).
"""

import os

for _variable in ("DATABASE_URL", "FIRST_DATABASE_URL", "ANALYSED_DATABASE_URL"):
    os.environ[_variable] = os.environ["BENCH_DATABASE_URL"]

from bench.deploy_settings import *  # noqa: E402, F403

INSTALLED_APPS = [*INSTALLED_APPS, "benchapp"]  # noqa: F405
