"""Settings for mypy's Django plugin: the installed apps only, no database to reach.

The plugin imports the settings to learn the models; tests/settings.py would start a
PostgreSQL server when no URL is set, which type checking does not need.
"""

SECRET_KEY = "typing-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "schema_manager",
]
