"""History records the app's database refused, kept on the target until history has them.

The ledger on the target says *that* a migration was applied or rolled back; its history
record adds who did it, how long it took and the rollback script in force (captured from the
target's catalog at apply time, and the only one that may undo it). When the app's database
refuses that record after the target has committed, the record is written here, in a small
table beside the ledger, and reconciliation (``reconciliation.reconcile``) rebuilds the history row
from the ledger with these details, then forgets them. The table exists only on targets where
that has happened.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from contextlib import nullcontext
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.dateparse import parse_datetime

TABLE = "_schema_manager_history"
_TEXT = {"mysql": "LONGTEXT", "postgresql": "TEXT", "sqlite": "TEXT"}
_DATETIMES = ("applied_at", "rolled_back_at", "recorded_at")

Key = tuple[str, str]  # (ledger row id, operation)


class KeptRecords:
    """The kept records of one target, through its connection."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.table = connection.ops.quote_name(TABLE)

    def keep(self, ledger_id: str, operation: str, fields: dict[str, Any]) -> None:
        """Store the record of the ledger event (``ledger_id``, ``operation``)."""
        text = _TEXT.get(self.connection.vendor, "TEXT")
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (ledger_id VARCHAR(36) NOT NULL, "
                f"operation VARCHAR(16) NOT NULL, record {text} NOT NULL, "
                "PRIMARY KEY (ledger_id, operation))"
            )
        record = json.dumps(fields, cls=DjangoJSONEncoder)
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {self.table} WHERE ledger_id = %s AND operation = %s",
                [ledger_id, operation],
            )
            cursor.execute(
                f"INSERT INTO {self.table} (ledger_id, operation, record) VALUES (%s, %s, %s)",
                [ledger_id, operation, record],
            )

    def read(self, keys: Collection[Key]) -> dict[Key, dict[str, Any]]:
        """The kept records of these events (none if the table does not exist)."""
        ids = sorted({ledger_id for ledger_id, _ in keys})
        if not ids:
            return {}
        found: dict[Key, dict[str, Any]] = {}
        try:
            with self._guard(), self.connection.cursor() as cursor:
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    cursor.execute(
                        f"SELECT ledger_id, operation, record FROM {self.table} "
                        f"WHERE ledger_id IN ({', '.join(['%s'] * len(chunk))})",
                        chunk,
                    )
                    for ledger_id, operation, record in cursor.fetchall():
                        found[ledger_id, operation] = _fields(record)
        except DatabaseError:  # no such table: nothing was ever kept here
            return {}
        return {key: fields for key, fields in found.items() if key in set(keys)}

    def rollbacks(self) -> dict[Key, dict[str, Any]]:
        """Every kept record of a rollback: its ledger row is gone (a rollback removes it), so
        only the record itself says it happened (none if the table does not exist)."""
        try:
            with self._guard(), self.connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT ledger_id, operation, record FROM {self.table} WHERE operation = %s",
                    ["rollback"],
                )
                return {(row[0], row[1]): _fields(row[2]) for row in cursor.fetchall()}
        except DatabaseError:  # no such table: nothing was ever kept here
            return {}

    def forget(self, keys: Collection[Key]) -> None:
        """Drop the kept records of these events (history has them now)."""
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
            for ledger_id, operation in keys:
                cursor.execute(
                    f"DELETE FROM {self.table} WHERE ledger_id = %s AND operation = %s",
                    [ledger_id, operation],
                )

    def _guard(self):
        """A savepoint inside a transaction, so that a missing table does not spoil it."""
        if self.connection.in_atomic_block:
            return transaction.atomic(using=self.connection.alias)
        return nullcontext()


def _fields(record: str) -> dict[str, Any]:
    fields = json.loads(record)
    for name in _DATETIMES:
        if isinstance(fields.get(name), str):
            fields[name] = parse_datetime(fields[name])
    return fields
