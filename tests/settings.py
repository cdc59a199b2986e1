"""Test settings: the app database in memory, target databases per engine.

SQLite targets always exist. PostgreSQL targets exist when SCHEMA_MANAGER_TEST_POSTGRES_URL
names a database the tests may use; each environment is a schema of that one database.
"""

import os
import tempfile
from pathlib import Path

import environ

SECRET_KEY = "tests-only"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "demo_project.urls"

ENVIRONMENT_NAMES = ("development", "staging", "production")
POSTGRES_URL = os.environ.get("SCHEMA_MANAGER_TEST_POSTGRES_URL", "")
SCRATCH = Path(tempfile.gettempdir()) / f"schema_manager_tests_{os.getpid()}"
# One schema per environment and test session, so that sessions sharing the database
# (a developer's and CI's, say) never see each other's tables.
POSTGRES_SCHEMAS = {name: f"sm_test_{os.getpid()}_{name}" for name in ENVIRONMENT_NAMES}
SCRATCH.mkdir(exist_ok=True)

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
for _environment in ENVIRONMENT_NAMES:
    # File databases (not shared-cache memory) so that locking behaves as in production.
    _path = SCRATCH / f"{_environment}.sqlite3"
    DATABASES[f"sqlite_{_environment}"] = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(_path),
        "TEST": {"NAME": str(_path)},
    }
    if POSTGRES_URL:
        _config = environ.Env.db_url_config(POSTGRES_URL)
        _config["OPTIONS"] = {
            **_config.get("OPTIONS", {}),
            "options": f"-c search_path={POSTGRES_SCHEMAS[_environment]}",
        }
        DATABASES[f"pg_{_environment}"] = _config

DATABASE_ROUTERS = ["tests.routers.DefaultOnlyRouter"]

SCHEMA_MANAGER = {
    "ENVIRONMENTS": {name: f"sqlite_{name}" for name in ENVIRONMENT_NAMES},
    "DEFAULT_ENVIRONMENT": "development",
    "PRISMA_SCHEMA_PATH": SCRATCH / "prisma" / "schema.prisma",
    "LOCK_WAIT": 5,
    # Prisma schema sync is exercised by tests/test_prisma_schema.py only.
    "PRISMA_SYNC_ENVIRONMENTS": [],
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "schema_manager",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
