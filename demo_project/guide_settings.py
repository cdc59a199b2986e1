"""The demo's settings with databases of their own for the integration guide's workflow.

The app database and the three targets are ``guide_*`` databases on the demo's PostgreSQL
server (demo_project/guide_workflow.py makes them anew before each run), and the Prisma schema
path is a scratch one, so the workflow never meets the demo's own migrations. To look at what
it left: ``DJANGO_SETTINGS_MODULE=demo_project.guide_settings python manage.py
schema_migration_history --all-environments``.
"""

from demo_project import local_postgres
from demo_project.settings import *  # noqa: F403
from demo_project.settings import _DATABASES, SCHEMA_MANAGER, VAR_DIR

GUIDE_DATABASES = {alias: f"guide_{name}" for alias, (_, name) in _DATABASES.items()}
DATABASES = {alias: local_postgres.database(name) for alias, name in GUIDE_DATABASES.items()}
SCHEMA_MANAGER = {
    **SCHEMA_MANAGER,
    "PRISMA_SCHEMA_PATH": VAR_DIR / "guide" / "prisma" / "schema.prisma",
    "PRISMA_SYNC_ENVIRONMENTS": [],
}
