"""Settings of django-tenants' ``migrate_schemas`` in bench/fleet.py: the generated
``benchapp`` (the same SQL as ``RunSQL`` migrations) as the tenant app. The generated project
directory must be on ``PYTHONPATH``; ``BENCH_DATABASE_URL`` names the tenants' database."""

import os

import environ

SECRET_KEY = "bench-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {
    "default": {
        **environ.Env.db_url_config(os.environ["BENCH_DATABASE_URL"]),
        "ENGINE": "django_tenants.postgresql_backend",
    }
}
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
SHARED_APPS = ["django_tenants", "django.contrib.contenttypes", "bench.tenants_app"]
TENANT_APPS = ["benchapp"]
INSTALLED_APPS = [*SHARED_APPS, "benchapp"]
TENANT_MODEL = "tenants_app.Client"
TENANT_DOMAIN_MODEL = "tenants_app.Domain"
# Its multiprocessing executor: one process per core of this machine.
TENANT_MULTIPROCESSING_MAX_PROCESSES = int(os.environ.get("BENCH_PROCESSES", "2"))
