"""The demo project's settings, with the migrations directory taken from the environment.

``BENCH_PRISMA_SCHEMA_PATH`` points at the generated project's ``prisma/schema.prisma``;
the databases come from the demo's usual ``DATABASE_URL`` / ``DEVELOPMENT_DATABASE_URL``.
"""

import os

from demo_project.settings import *  # noqa: F403

SCHEMA_MANAGER = {
    **SCHEMA_MANAGER,  # noqa: F405
    "PRISMA_SCHEMA_PATH": os.environ["BENCH_PRISMA_SCHEMA_PATH"],
}

# As in a deploy: DEBUG would keep every query's SQL (a whole data migration included) in
# memory, and Django migrate's baseline settings run without it too.
DEBUG = False
