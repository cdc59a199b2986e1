"""Settings of the fleet tests' worker processes: the app database on PostgreSQL (a schema of
the test database of its own, shared by every process), target runs enqueued on Redis through
the RQ Tasks backend, and a fleet over the tenant schemas the test names."""

import os

import environ

from tests.settings import *  # noqa: F403
from tests.settings import (
    DATABASES,
    FLEET_APP_SCHEMA,
    INSTALLED_APPS,
    POSTGRES_URL,
    REDIS_URL,
    SCHEMA_MANAGER,
    SESSION,
)

QUEUE = os.environ.get("SCHEMA_MANAGER_TEST_FLEET_QUEUE", f"sm_fleet_{SESSION}")

# A new dict: tests.settings' own must stay as it is (the test process imports it).
DATABASES = {
    **DATABASES,
    "default": {
        **environ.Env.db_url_config(POSTGRES_URL),
        "OPTIONS": {"options": f"-c search_path={FLEET_APP_SCHEMA}"},
    },
}
INSTALLED_APPS = [*INSTALLED_APPS, "django_rq"]
# "default" too: the task is declared on the Tasks default queue, and enqueued on QUEUE.
TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default", QUEUE]}}
RQ_QUEUES = {name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600} for name in ("default", QUEUE)}
SCHEMA_MANAGER = {
    **SCHEMA_MANAGER,
    "FLEETS": {
        "tenants": {
            "TARGETS": "tests.fleet_support.environment_targets",
            "QUEUE": QUEUE,
            "LEASE_SECONDS": float(os.environ.get("SCHEMA_MANAGER_TEST_FLEET_LEASE", 300)),
            "MAX_CONNECTIONS_PER_SERVER": 50,
        }
    },
}
