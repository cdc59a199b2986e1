"""Where the ledger's table is, creating it as Prisma does, and whether it is Prisma's and
this role may write it: each refusal a ``LedgerUnusable`` saying what to do, before anything
runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from django.db import DatabaseError, transaction

from .backends import LEDGER_TABLE, TargetBackend
from .backends.base import LedgerLocation
from .exceptions import LedgerUnusable
from .ledger_rows import COLUMNS

_NOTHING_RUN = "nothing was run"


class LedgerTable:
    """The ``_prisma_migrations`` table of one target."""

    def __init__(self, backend: TargetBackend) -> None:
        self.backend = backend
        self.connection = backend.connection
        # Found once by this (short-lived) ledger, before the run's migrations can move
        # search_path; once seen to exist, not looked up again.
        self._location: LedgerLocation | None = None
        self._writable = False  # once this role is known to write it, not asked again
        # While the migration lock is held (``locked``), a table found missing stays missing
        # until this applier creates it: Prisma and other appliers create it under that lock.
        self._locked = False

    @property
    def name(self) -> str:
        """The table, qualified with the schema it was found (or is to be created) in."""
        if self._location is None:
            self._location = self.backend.locate_ledger()
        return self._location.table

    def exists(self) -> bool:
        if self._location is None or not (self._location.exists or self._locked):
            self._location = self.backend.locate_ledger()
        return self._location.exists

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The block holds the migration lock: the table is looked up once in it (found
        missing before the lock, it may have been created since), not at every question."""
        if self._location is not None and not self._location.exists:
            self._location = None
        self._locked = True
        try:
            yield
        finally:
            self._locked = False

    def ensure(self) -> None:
        """Create the table exactly as Prisma would, if it is missing; if it exists, make sure
        this role may write it (before anything runs, not after the migration's statements)."""
        if self.exists():
            self._check_writable()
            return
        try:
            with self.savepoint(), self.connection.cursor() as cursor:
                cursor.execute(self.backend.ledger_ddl.format(table=self.name))
        except DatabaseError as exc:
            timeout = self.backend.lock_timeout(exc)  # another applier is creating it
            if timeout is not None:
                raise timeout from exc
            raise LedgerUnusable(
                f"The ledger {LEDGER_TABLE} does not exist on {self.connection.alias!r} and "
                f"could not be created ({_one_line(exc)}); create it as Prisma does, or grant "
                f"this role CREATE on the schema; {_NOTHING_RUN}."
            ) from exc
        self._location = LedgerLocation(self.name, exists=True)
        self._writable = True  # this role's own table, just created

    @contextmanager
    def reading(self) -> Iterator[None]:
        """A read of the table; if it fails because the table named ``_prisma_migrations`` is
        not Prisma's ledger, say so (the check costs nothing while reads succeed)."""
        try:
            yield
        except DatabaseError as exc:
            missing = self._missing_columns()
            if not missing:
                raise
            raise self._not_prisma(missing) from exc

    def savepoint(self) -> AbstractContextManager[Any]:
        """A savepoint inside a transaction, so that a refused statement does not spoil it."""
        if self.connection.in_atomic_block:
            return transaction.atomic(using=self.connection.alias)
        return nullcontext()

    def _not_prisma(self, missing: list[str]) -> LedgerUnusable:
        self._location = None
        return LedgerUnusable(
            f"The table {LEDGER_TABLE} on {self.connection.alias!r} is not Prisma's migration "
            f"ledger (it has no {', '.join(missing)} column); rename or drop it, or point the "
            f"environment at another database; {_NOTHING_RUN}."
        )

    def _missing_columns(self) -> list[str]:
        expected = [name.strip() for name in COLUMNS.split(",")]
        try:
            with self.savepoint(), self.connection.cursor() as cursor:
                found = self.connection.introspection.get_table_description(cursor, LEDGER_TABLE)
        except DatabaseError:  # e.g. inside a transaction the failed read has aborted
            return []
        names = {column.name.lower() for column in found}
        return [name for name in expected if name not in names] if names else []

    def _check_writable(self) -> None:
        """Statements that write nothing but need INSERT and UPDATE on the table: a role
        without them is told so now, rather than after running a migration it cannot record."""
        if self._writable or not self.backend.has_privileges:
            return
        try:
            with self.savepoint(), self.connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {self.name} ({COLUMNS}) "
                    f"SELECT {COLUMNS} FROM {self.name} WHERE 1 = 0"
                )
                cursor.execute(f"UPDATE {self.name} SET logs = logs WHERE 1 = 0")
        except DatabaseError as exc:
            missing = self._missing_columns()
            if missing:
                raise self._not_prisma(missing) from exc
            user = self.connection.settings_dict.get("USER") or "this role"
            raise LedgerUnusable(
                f"The role {user!r} cannot write the ledger {LEDGER_TABLE} on "
                f"{self.connection.alias!r} ({_one_line(exc)}); grant it INSERT and UPDATE on "
                f"the table; {_NOTHING_RUN}."
            ) from exc
        self._writable = True


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
