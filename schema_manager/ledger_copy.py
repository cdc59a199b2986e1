"""The ledger rows a plan reads once and answers from while it holds the migration lock.

Invariant: the copy holds exactly the committed rows of the migrations it covers. It is read
while the session-level migration lock is held, which every writer of the ledger takes (this
app and Prisma alike), so no other process changes those rows until the lock is released;
this process's own writes reach the copy only when their transaction commits (``on_commit``),
so a write that rolls back never does. A plan thus reads the ledger once, not once per
migration (each a scan that grows with history: Prisma's table has no index on
``migration_name``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from django.db import transaction

from .ledger_rows import LedgerRow, RowChanges

Fingerprint = tuple[int, int, int]  # rows, finished, rolled back


class HeldLedger:
    """Rows as read once (all, or those of ``names``), kept equal to the committed table."""

    def __init__(self, rows: list[LedgerRow], names: set[str] | None, alias: str) -> None:
        self._names = names
        self._alias = alias  # the target connection whose commits the copy follows
        self._by_id: dict[str, LedgerRow] = {}
        self._ids_by_name: dict[str, list[str]] = {}
        for row in rows:
            self._add(row)

    def covers(self, migration_name: str | None) -> bool:
        """Whether the copy answers for this migration (None: for the whole table)."""
        if self._names is None:
            return True
        return migration_name is not None and migration_name in self._names

    def rows(self, migration_name: str | None = None) -> list[LedgerRow]:
        if migration_name is not None:
            return [self._by_id[row_id] for row_id in self._ids_by_name.get(migration_name, ())]
        return sorted(self._by_id.values(), key=lambda row: (row.started_at, row.id))

    def fingerprint(self) -> Fingerprint:
        """(rows, finished, rolled back) of the whole table; only if it ``covers(None)``."""
        every = self._by_id.values()
        return (
            len(every),
            sum(row.finished_at is not None for row in every),
            sum(row.rolled_back_at is not None for row in every),
        )

    def inserted(self, row: LedgerRow) -> None:
        """``row`` was inserted in the current transaction: kept once (and if) it commits."""
        transaction.on_commit(lambda: self._add(row), using=self._alias)

    def changed(self, row_id: str, changes: RowChanges) -> None:
        """Row ``row_id`` was updated in the current transaction: changed once it commits."""
        transaction.on_commit(lambda: self._change(row_id, changes), using=self._alias)

    def removed(self, rows: Collection[LedgerRow]) -> None:
        """``rows`` were deleted in the current transaction: gone once it commits."""
        row_ids = {row.id for row in rows}
        transaction.on_commit(lambda: self._remove(row_ids), using=self._alias)

    def _add(self, row: LedgerRow) -> None:
        if not self.covers(row.migration_name):
            return
        self._by_id[row.id] = row
        self._ids_by_name.setdefault(row.migration_name, []).append(row.id)

    def _change(self, row_id: str, changes: RowChanges) -> None:
        if row_id in self._by_id:
            self._by_id[row_id] = replace(self._by_id[row_id], **changes)

    def _remove(self, row_ids: set[str]) -> None:
        for row_id in row_ids & self._by_id.keys():
            name = self._by_id.pop(row_id).migration_name
            self._ids_by_name[name].remove(row_id)
