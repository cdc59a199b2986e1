"""The demo project's settings, with the migrations directory taken from the environment.

``BENCH_PRISMA_SCHEMA_PATH`` points at the generated project's ``prisma/schema.prisma``;
the databases come from the demo's usual ``DATABASE_URL`` / ``DEVELOPMENT_DATABASE_URL``.
A target whose URL is not set names the app's database: unset, the demo's settings would
start the demo's embedded PostgreSQL for it (where the ``demo`` extra is installed) in every
timed process, half a second and more of start-up that no deploy pays.
"""

import os

for _variable in ("DEVELOPMENT_DATABASE_URL", "STAGING_DATABASE_URL", "PRODUCTION_DATABASE_URL"):
    os.environ.setdefault(_variable, os.environ["DATABASE_URL"])

from demo_project.settings import *  # noqa: E402, F403

SCHEMA_MANAGER = {
    **SCHEMA_MANAGER,  # noqa: F405
    "PRISMA_SCHEMA_PATH": os.environ["BENCH_PRISMA_SCHEMA_PATH"],
    # bench/archive.py: the same apply with and without the archive, no cap.
    "ARCHIVE_ENVIRONMENTS": ["development"] if os.environ.get("BENCH_ARCHIVE") else [],
    "ARCHIVE_MAX_BYTES": {"*": None},
}

# As in a deploy: DEBUG would keep every query's SQL (a whole data migration included) in
# memory, and Django migrate's baseline settings run without it too.
DEBUG = False
