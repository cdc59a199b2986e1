"""Per-vendor target behaviour, chosen from the connection's ``vendor``."""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

from ..exceptions import UnsupportedDatabaseError
from .base import LEDGER_TABLE, TargetBackend, Timeouts
from .mysql import MySQLBackend
from .postgresql import PostgreSQLBackend
from .sqlite import SQLiteBackend

BACKENDS: dict[str, type[TargetBackend]] = {
    backend.vendor: backend for backend in (PostgreSQLBackend, SQLiteBackend, MySQLBackend)
}


def get_backend(connection: BaseDatabaseWrapper) -> TargetBackend:
    try:
        backend_class = BACKENDS[connection.vendor]
    except KeyError:
        raise UnsupportedDatabaseError(
            f"Database {connection.alias!r} is {connection.vendor}; schema_manager supports "
            f"{', '.join(sorted(BACKENDS))} targets."
        ) from None
    return backend_class(connection)


__all__ = ["BACKENDS", "LEDGER_TABLE", "TargetBackend", "Timeouts", "get_backend"]
