from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError

from ..exceptions import SchemaManagerError
from .base import LEDGER_TABLE, HeldLock, LedgerLocation, TargetBackend, Timeouts

if TYPE_CHECKING:  # the module imports the driver, which only a PostgreSQL target needs
    from django.db.backends.postgresql.base import DatabaseWrapper


def is_psycopg3() -> bool:
    """Whether Django's PostgreSQL driver is psycopg 3; asked only of a PostgreSQL target, so
    that a project without a PostgreSQL driver never imports one."""
    from django.db.backends.postgresql.psycopg_any import is_psycopg3 as answer

    return answer


# Prisma Migrate's advisory lock key: holding it excludes `prisma migrate deploy` as well.
PRISMA_ADVISORY_LOCK_KEY = 72707369
# A DATABASES entry holding this key names the one schema its migrations run in (a tenant of
# a fleet): see ``SchemaScope``.
LOCK_SCHEMA_KEY = "SCHEMA_MANAGER_LOCK_SCHEMA"
# Whether the lock session is still alive, asked from any session of the database: besides
# the migration lock, the lock session holds a key of its own run (``_RunKey``), which no other
# session takes; while it is held, the session is alive, and an alive lock session still holds
# the migration lock (nothing but this process sends it anything). Trying that key shared is
# one lock-table probe; reading ``pg_locks`` instead copies the whole lock table (0.3-0.5 ms a
# migration on an idle server). If the probe succeeds, the guard fails and the transaction
# that took the shared key rolls back, letting it go.
_STILL_HELD = "NOT pg_catalog.pg_try_advisory_xact_lock_shared(%s)"


class PostgreSQLBackend(TargetBackend):
    connection: DatabaseWrapper
    vendor = "postgresql"
    has_session_lock = True
    guards_in_the_write = True
    ledger_ddl = """
CREATE TABLE IF NOT EXISTS {table} (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)"""

    @property
    def sends_statements_together(self) -> bool:
        # The simple query protocol runs a string of statements; Django's default psycopg
        # cursor binds client-side and so uses it. Server-side binding (an OPTIONS choice)
        # prepares each query, which takes one statement only. (psycopg 3, the `postgresql`
        # extra, is what Django loads; psycopg2's cursor would hide all but the last
        # statement's result.)
        return (
            is_psycopg3()
            and self.connection.settings_dict["OPTIONS"].get("server_side_binding") is not True
        )

    @property
    def clock_sql(self) -> str:
        return "clock_timestamp()"

    def for_many_rows(self, cursor: Any) -> None:
        if is_psycopg3():
            # Django reads each timestamptz through a Python subclass of psycopg's loader
            # (to set the time zone it wants); psycopg's own loader, in C, reads a ledger of
            # thousands of rows several times faster, as aware datetimes in the connection's
            # time zone (UTC, as Django sets it): the same instants.
            from psycopg.types.datetime import TimestamptzLoader

            cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)

    def locate_ledger(self) -> LedgerLocation:
        # One lookup by name (through search_path, as an unqualified name would be found):
        # listing every table costs milliseconds once the schema holds thousands.
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT n.nspname, current_schema() FROM (SELECT to_regclass(%s) AS oid) r "
                "LEFT JOIN pg_catalog.pg_class c ON c.oid = r.oid "
                "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
                [LEDGER_TABLE],
            )
            found, current = cursor.fetchone()
        if found is None and current is None:
            raise SchemaManagerError(
                f"No schema of {self.alias!r}'s search_path exists, so there is nowhere to "
                f"create {LEDGER_TABLE}; create the schema or fix search_path in OPTIONS."
            )
        return LedgerLocation(self.qualified(found or current), exists=found is not None)

    @property
    def lock_scope(self) -> SchemaScope | None:
        """The schema scope of a fleet's tenant schema (None: the database-wide Prisma lock)."""
        schema = self.connection.settings_dict.get(LOCK_SCHEMA_KEY)
        return SchemaScope(schema) if schema else None

    @contextmanager
    def migration_lock(self, wait: float) -> Iterator[HeldLock]:
        keys = self.lock_scope or _PrismaKey()
        with self.lock_session() as holder, holder.cursor() as cursor:
            self.poll_lock(cursor, wait, keys.try_lock)
            try:
                pid = _backend_pid(holder, cursor)
                yield HeldLock(f"backend pid {pid}", _STILL_HELD, (keys.run_key,))
            finally:
                # Closing the session releases them too (as Prisma does), unless the session
                # outlives the close: a pooled connection (OPTIONS "pool") goes back to the
                # pool. A session a migration ended cannot say so.
                with suppress(DatabaseError):
                    keys.unlock(cursor)

    def server_version(self) -> int | None:
        return int(self.connection.pg_version)

    def set_timeouts(self, cursor: Any, timeouts: Timeouts, *, local: bool) -> None:
        scope = "LOCAL " if local else ""
        for name, value in (
            ("lock_timeout", timeouts.lock_timeout),
            ("statement_timeout", timeouts.statement_timeout),
        ):
            if value is not None:
                # Milliseconds as an integer literal: SET takes no bind parameters.
                cursor.execute(f"SET {scope}{name} = {max(int(value * 1000), 1)}")

    def reset_timeouts(self, cursor: Any) -> None:
        # One round trip. Also undoes a script's own SET of either, which must not outlive
        # its migration on this connection.
        cursor.execute("RESET lock_timeout; RESET statement_timeout")

    def is_lock_timeout(self, exc: BaseException) -> bool:
        # SQLSTATE 55P03 lock_not_available: what lock_timeout raises.
        error: BaseException | None = exc
        while error is not None:
            if getattr(error, "sqlstate", None) == "55P03":
                return True
            error = error.__cause__ or error.__context__
        return False

    def _holder_message(self, cursor: Any, wait: float) -> str:
        cursor.execute(
            """
            SELECT a.pid, a.xact_start, a.backend_start
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted
              AND l.objid = %s AND l.database = (SELECT oid FROM pg_database
                                                 WHERE datname = current_database())
            """,
            [PRISMA_ADVISORY_LOCK_KEY],
        )
        row = cursor.fetchone()
        holder = (
            f" (backend pid {row[0]}, connected since {row[2]:%Y-%m-%d %H:%M:%S %Z})" if row else ""
        )
        return (
            f"Another apply is running on {self.alias!r}{holder}; waited {wait:g}s for its "
            "migration lock. Retry when it has finished, or raise SCHEMA_MANAGER['LOCK_WAIT']."
        )


class _RunKey:
    """A random bigint key of the run, which the lock session takes in the same round trip as
    the migration lock (see ``_STILL_HELD``). Bigint keys of a database share one space with
    Prisma's and the application's own: 2**64 values make a collision all but impossible, and
    one only makes the run draw another key."""

    def __init__(self) -> None:
        self.run_key = _random_key()

    def _taken(self, cursor: Any, held: bool, run: bool | None, release: str) -> bool:
        """Whether the lock and the run's key are both held now; a lock taken with a key
        another session holds is let go (``release``), and another key drawn."""
        if held and not run:
            cursor.execute(release)
            self.run_key = _random_key()
            return False
        return bool(held)


class _PrismaKey(_RunKey):
    """Prisma's database-wide key, exclusive."""

    def try_lock(self, cursor: Any) -> bool:
        # CASE orders the two; a volatile function keeps the subquery from being merged.
        cursor.execute(
            "SELECT held, CASE WHEN held THEN pg_catalog.pg_try_advisory_lock(%s) END "
            "FROM (SELECT pg_catalog.pg_try_advisory_lock(%s) AS held) AS prisma",
            [self.run_key, PRISMA_ADVISORY_LOCK_KEY],
        )
        held, run = cursor.fetchone()
        release = f"SELECT pg_catalog.pg_advisory_unlock({PRISMA_ADVISORY_LOCK_KEY})"
        return self._taken(cursor, held, run, release)

    def unlock(self, cursor: Any) -> None:
        cursor.execute(
            "SELECT pg_advisory_unlock(%s), pg_advisory_unlock(%s)",
            [PRISMA_ADVISORY_LOCK_KEY, self.run_key],
        )


class SchemaScope(_RunKey):
    """The migration lock of one schema of a database shared by many (a fleet's tenants).

    Prisma's key is per database, so tenants that are schemas of one database would apply one
    at a time under it. A tenant's applier takes instead an exclusive key of its own schema
    plus Prisma's key *shared*: appliers of different schemas run side by side, two appliers
    of one schema exclude each other, and ``prisma migrate deploy`` (which takes Prisma's key
    exclusively) still excludes, and is excluded by, every tenant's applier of the database.
    """

    def __init__(self, schema: str) -> None:
        super().__init__()
        self.schema = schema
        digest = hashlib.sha256(f"prisma_migrate:{schema}".encode()).digest()
        # 31 bits (an objid of its own in pg_locks, classid 0); a collision only makes two
        # schemas wait for each other.
        key = int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
        self.key = key if key != PRISMA_ADVISORY_LOCK_KEY else key + 1

    def try_lock(self, cursor: Any) -> bool:
        # One round trip: the schema's key is tried only once Prisma's is held shared, and the
        # run's key once both are (CASE orders them; a volatile function keeps a subquery
        # from being merged into the query around it).
        cursor.execute(
            "SELECT shared, own, CASE WHEN own THEN pg_try_advisory_lock(%s) END FROM ("
            "SELECT shared, CASE WHEN shared THEN pg_try_advisory_lock(%s) ELSE false END AS own "
            "FROM (SELECT pg_try_advisory_lock_shared(%s) AS shared) AS prisma) AS scope",
            [self.run_key, self.key, PRISMA_ADVISORY_LOCK_KEY],
        )
        shared, own, run = cursor.fetchone()
        if not own:
            if shared:
                cursor.execute("SELECT pg_advisory_unlock_shared(%s)", [PRISMA_ADVISORY_LOCK_KEY])
            return False
        release = (
            f"SELECT pg_advisory_unlock({self.key}), "
            f"pg_advisory_unlock_shared({PRISMA_ADVISORY_LOCK_KEY})"
        )
        return self._taken(cursor, own, run, release)

    def unlock(self, cursor: Any) -> None:
        cursor.execute(
            "SELECT pg_advisory_unlock(%s), pg_advisory_unlock_shared(%s), pg_advisory_unlock(%s)",
            [self.key, PRISMA_ADVISORY_LOCK_KEY, self.run_key],
        )


def _random_key() -> int:
    return secrets.randbits(64) - 2**63


def _backend_pid(holder: Any, cursor: Any) -> int:
    """The lock session's server process, asked once per connection (a fleet task's kept
    lock session serves its targets one after the other). Asked of the server, not taken
    from the driver: behind a pooler in session mode the driver knows the pooler's."""
    raw = holder.connection
    known = getattr(holder, _BACKEND_PID, None)
    if known is not None and known[0] is raw:
        return int(known[1])
    cursor.execute("SELECT pg_backend_pid()")
    pid = int(cursor.fetchone()[0])
    setattr(holder, _BACKEND_PID, (raw, pid))  # the connection held: its id is not reused
    return pid


_BACKEND_PID = "schema_manager_backend_pid"
