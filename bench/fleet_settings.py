"""Settings of schema_manager's fleet rollouts in bench/fleet.py: the app database at
``BENCH_APP_URL``, the tenants' server at ``BENCH_TENANTS_URL`` (schemas ``t000``… of its
database, and databases ``BENCH_DATABASE_PREFIX_d00``…), target runs in process or, with
``BENCH_RQ_QUEUE``, on RQ workers over Redis."""

import os

import environ

from schema_manager.fleets.adapters import TenantDatabases
from schema_manager.fleets.specs import TargetSpec

SECRET_KEY = "bench-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DEBUG = False
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "schema_manager"]
DATABASES = {
    "default": environ.Env.db_url_config(os.environ["BENCH_APP_URL"]),
    "tenant_base": environ.Env.db_url_config(os.environ["BENCH_TENANTS_URL"]),
}
DATABASE_ROUTERS = ["schema_manager.routers.TargetDatabaseRouter"]


def schema_targets() -> list[TargetSpec]:
    count = int(os.environ["BENCH_SCHEMAS"])
    return [
        TargetSpec(key=f"t{i:03d}", alias="tenant_base", schema=f"t{i:03d}") for i in range(count)
    ]


database_targets = TenantDatabases(
    "tenant_base",
    lambda: [
        {"key": f"d{i:02d}", "NAME": f"{os.environ['BENCH_DATABASE_PREFIX']}_d{i:02d}"}
        for i in range(int(os.environ["BENCH_DATABASES"]))
    ],
)

QUEUE = os.environ.get("BENCH_RQ_QUEUE", "")
FLEET = {"QUEUE": QUEUE or "default", "MAX_CONNECTIONS_PER_SERVER": 20}
SCHEMA_MANAGER = {
    "ENVIRONMENTS": {"development": "tenant_base"},
    "PRISMA_SCHEMA_PATH": os.environ["BENCH_PRISMA_SCHEMA_PATH"],
    "PRISMA_SYNC_ENVIRONMENTS": [],
    "WRITE_FILES_ENVIRONMENTS": [],
    "FLEETS": {
        "schemas": {"TARGETS": "bench.fleet_settings.schema_targets", **FLEET},
        "databases": {"TARGETS": database_targets, **FLEET},
    },
}
if QUEUE:
    INSTALLED_APPS.append("django_rq")
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default", QUEUE]}}
    REDIS = {"URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")}
    RQ_QUEUES = {"default": REDIS, QUEUE: REDIS}
