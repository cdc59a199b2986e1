"""Settings for the Django ``migrate`` baseline: only the generated ``benchapp``.

The generated project directory must be on ``PYTHONPATH``; ``BENCH_DATABASE_URL`` names the
fresh database.
"""

import os

import environ

SECRET_KEY = "bench-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["benchapp"]
DATABASES = {"default": environ.Env.db_url_config(os.environ["BENCH_DATABASE_URL"])}
