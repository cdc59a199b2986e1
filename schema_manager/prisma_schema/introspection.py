"""Read a target database into the neutral model (``model.Database``)."""

from __future__ import annotations

from django.db import connections

from ..backends import LEDGER_TABLE
from ..exceptions import UnsupportedDatabaseError
from ..kept_records import TABLE as KEPT_TABLE
from ..sql.archive_sql import ARCHIVE_PREFIX
from .model import Database

PROVIDERS = {"postgresql": "postgresql", "sqlite": "sqlite"}


def introspect(alias: str) -> Database:
    """The tables, views and enums of the database behind ``alias`` (its current schema)."""
    connection = connections[alias]
    vendor = connection.vendor
    if vendor == "postgresql":
        from .postgresql import read
    elif vendor == "sqlite":
        from .sqlite import read
    else:
        raise UnsupportedDatabaseError(
            f"Prisma schema sync does not support {vendor!r} databases yet "
            f"(database {alias!r}); supported: PostgreSQL, SQLite."
        )
    with connection.cursor() as cursor:
        names = connection.introspection.get_table_list(cursor)
        # The app's own tables on the target are not the application's schema.
        ours = {LEDGER_TABLE, KEPT_TABLE}
        tables = sorted(
            n.name
            for n in names
            if n.type == "t" and n.name not in ours and not n.name.startswith(ARCHIVE_PREFIX)
        )
        views = sorted(n.name for n in names if n.type == "v")
        database = read(cursor, tables, views)
    database.provider = PROVIDERS[vendor]
    return database
