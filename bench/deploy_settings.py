"""Settings of a deployed project for ``bench/deploy.py``: every database from a URL.

A project as it runs in production: the demo's apps and middleware, ``DEBUG`` off, the app's
own database (``DATABASE_URL``) and one target per environment (``FIRST_DATABASE_URL``,
``ANALYSED_DATABASE_URL``), with no Prisma schema sync, no files written and no prompts (a
deploy). Nothing here starts a server: unlike ``demo_project.settings``, a database whose
variable is unset is an error, not the demo's embedded PostgreSQL.
"""

import os

import environ

env = environ.Env()

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "demo_project.urls"
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
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
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
STATIC_URL = "static/"

DATABASES = {
    "default": env.db("DATABASE_URL"),
    "target_first": env.db("FIRST_DATABASE_URL"),
    "target_analysed": env.db("ANALYSED_DATABASE_URL"),
}
DATABASE_ROUTERS = ["schema_manager.routers.TargetDatabaseRouter"]

SCHEMA_MANAGER = {
    "ENVIRONMENTS": {"first": "target_first", "analysed": "target_analysed"},
    "DEFAULT_ENVIRONMENT": "first",
    "PRISMA_SCHEMA_PATH": os.environ["BENCH_PRISMA_SCHEMA_PATH"],
    "PRISMA_SYNC_ENVIRONMENTS": [],
    "WRITE_FILES_ENVIRONMENTS": [],
    "INTERACTIVE_ENVIRONMENTS": [],
    "PROTECTED_ENVIRONMENTS": [],
}

# As in the demo: the app's records go to stderr at SCHEMA_MANAGER_LOG_LEVEL and above (the
# bench sets ERROR), otherwise nowhere.
_LOG_LEVEL = os.environ.get("SCHEMA_MANAGER_LOG_LEVEL")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "quiet": {"class": "logging.NullHandler"},
    },
    "loggers": {
        "schema_manager": {
            "handlers": ["console" if _LOG_LEVEL else "quiet"],
            "level": _LOG_LEVEL or "INFO",
            "propagate": False,
        },
    },
}
