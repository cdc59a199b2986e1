"""History records written as they come: one INSERT through the app's own connection per
record (see ``history_writes`` for when records are overlapped instead)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.db.models import Model

from .exceptions import HistoryNotWritten
from .security import get_logger

logger = get_logger("schema_manager.history")


def write_record(model: type[Model], key: dict[str, Any], fields: dict[str, Any]) -> Model:
    """Insert the record of one ledger event through the app's own connection: one INSERT.

    A process reconciling from the ledger may have recorded the same event a moment ago
    (``reconciled=True``; the unique constraint on the event refuses a second row): the
    applier's own record then replaces it. An applier's own record of the event (a resend
    whose first INSERT did arrive) is returned as it is.
    """
    try:
        return _write_record(model, key, fields)
    except DatabaseError as exc:  # e.g. this role may not INSERT into the history table
        raise HistoryNotWritten(key, fields, " ".join(str(exc).split())) from exc


def _write_record(model: type[Model], key: dict[str, Any], fields: dict[str, Any]) -> Model:
    record = model(**key, **fields, reconciled=False)
    alias = router.db_for_write(model)
    # Inside a caller's transaction a refused INSERT must not spoil it: a savepoint then.
    # Otherwise the INSERT is its own statement, and nothing needs undoing if it is refused.
    guard = transaction.atomic(using=alias) if connections[alias].in_atomic_block else nullcontext()
    try:
        with guard:
            record.save(force_insert=True, using=alias)
        return record
    except IntegrityError:
        rows = model._default_manager.using(alias)
        existing: Any = rows.filter(**key).first() if _unique(key) else None  # a record
        if existing is None:  # refused by another constraint (or a trigger): not a duplicate
            raise
        if not existing.reconciled:
            return existing
        for name, value in {**fields, "reconciled": False}.items():
            setattr(existing, name, value)
        existing.save(using=alias)
        logger.info("Replaced the reconciled record of %s with the applier's own", existing)
        return existing


def _unique(key: dict[str, Any]) -> bool:
    """Whether history holds at most one row of this event (its unique constraint): an
    apply, or a rollback that succeeded, of one ledger row. Failed rollbacks may repeat."""
    return bool(key.get("ledger_id")) and (
        key.get("operation") == "apply" or key.get("status") == "rolled_back"
    )


class RecordWriter:
    """Writes each record (an instance of ``model``, the history's: ``models`` hands it in, as
    it imports this module) as it comes, through the app's own connection."""

    def __init__(self, model: type[Model]) -> None:
        self.model = model

    def write(self, key: dict[str, Any], fields: dict[str, Any]) -> Model:
        return write_record(self.model, key, fields)

    def settle(self) -> None:
        """Make every record written so far durable (here: they already are)."""

    def close(self) -> None:
        """Settle, and release what the writer holds."""
        self.settle()
