"""A history writer that sends each record's INSERT on a connection of its own and collects
the result later, before the target's next commit (see ``history_writes``). PostgreSQL,
psycopg 3."""

from __future__ import annotations

import selectors
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connections, models, router
from django.db.models import Field, Model

from .history_direct import RecordWriter
from .security import get_logger

logger = get_logger("schema_manager.history")

_UNIQUE_VIOLATION = b"23505"

# The log flushed past everything committed so far: a transaction with an id committed with
# synchronous_commit on (LOCAL: the session's own setting is kept).
FLUSH = "BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_catalog.txid_current(); COMMIT"


class OverlappedRecordWriter(RecordWriter):
    """Sends each record's INSERT without waiting for it; ``settle`` waits.

    At most one INSERT is in flight: writing the next record settles the previous one. The
    connection is a second Django connection to the app's database (same settings and
    initialisation), private to the writer, so the app's own connection is never left with
    a query in flight whatever the caller does meanwhile.
    """

    def __init__(self, model: type[Model], alias: str, target_alias: str | None = None) -> None:
        super().__init__(model)
        self.alias = alias
        self.wrapper = connections.create_connection(alias)
        self.wrapper.ensure_connection()
        self.wrapper.set_autocommit(True)
        self.pgconn = self.wrapper.connection.pgconn
        self.flushed_by_target = False
        self._sync_off = False  # the session's synchronous_commit is off
        self._server: int | None = None  # the app database server's system identifier
        self.pending: tuple[Model, dict[str, Any], dict[str, Any]] | None = None
        self.broken = False  # the connection failed: the rest go through the app's own
        self.aim(target_alias)
        # The INSERT, its fields and the connection's encoding: made at the first record.
        self._insert: tuple[bytes, list[tuple[Field[Any, Any], bool]], str] | None = None

    def write(self, key: dict[str, Any], fields: dict[str, Any]) -> Model:
        self.settle()
        if self.broken or not key.get("ledger_id"):
            # Without a ledger event to key it, a resend after an unknown outcome could
            # write it twice: written directly.
            return super().write(key, fields)
        record = self.model(**key, **fields, reconciled=False)
        try:
            self._send(record)
        except Exception as exc:  # the app's own connection writes it instead, now
            logger.warning("Could not send a history record (%s); writing it directly", exc)
            self.broken = True
            return super().write(key, fields)
        self.pending = (record, key, fields)
        return record

    def settle(self) -> None:
        if self.pending is None:
            return
        record, key, fields = self.pending
        self.pending = None
        try:
            pk, sqlstate, error = self._result()
        except Exception as exc:  # the connection failed: the INSERT may or may not be in
            pk, sqlstate, error = None, None, str(exc)
            self.broken = True
        if pk is not None:
            record.pk = pk
            record._state.adding, record._state.db = False, router.db_for_write(self.model)
            return
        if sqlstate != _UNIQUE_VIOLATION:
            logger.warning("A history record was not written (%s); writing it directly", error)
        # Written through the app's own connection, which settles every case: a record
        # reconciled meanwhile is replaced, a record this INSERT did write is found by its
        # unique key, and any error is the caller's.
        written = super().write(key, fields)
        record.pk, record._state = written.pk, written._state

    def aim(self, target_alias: str | None) -> None:
        """Write the records of a plan on ``target_alias``: if its commits flush this
        server's log, the records' own commits leave the flush to them; otherwise each
        waits for its own (again, where a kept writer's previous target flushed them)."""
        flushed = target_alias is not None and self._one_server(connections[target_alias])
        flushed = flushed and not self.broken
        # A kept writer's previous plan may have had the other (a broken writer sends
        # nothing more: its records go through the app's own connection).
        if not self.broken and flushed != self._sync_off:
            with self.wrapper.cursor() as cursor:
                cursor.execute(f"SET synchronous_commit = {'off' if flushed else 'on'}")
            self._sync_off = flushed
        self.flushed_by_target = flushed

    def _one_server(self, target: Any) -> bool:
        """Whether ``target`` is on this writer's server (one system identifier; its own
        asked once)."""
        if target.vendor != "postgresql" or target.in_atomic_block:
            return False
        if self._server is None:
            self._server = _system_identifier(self.wrapper)
        return self._server is not None and self._server == _system_identifier(target)

    def finish(self) -> None:
        """Settle, and flush the log past the last record (the plan's end)."""
        try:
            self.settle()
            if self.flushed_by_target and not self.broken:
                # A transaction with an id, committed with synchronous_commit on, waits for
                # the log's flush past it, hence past the last record; in one round trip,
                # the session's setting left as it was for the next plan's records.
                with self.wrapper.cursor() as cursor:
                    cursor.execute(FLUSH)
        except DatabaseError as exc:  # every record is committed: only the wait is lost
            logger.warning("Could not flush the history's last record: %s", exc)
            self.broken = True

    def close(self) -> None:
        try:
            self.finish()
        finally:
            self.wrapper.close()

    def _send(self, record: Model) -> None:
        """Send the INSERT of ``record``, its values as parameters in text form (as they go
        into the columns' own types: no literal to quote, no adapter to look up)."""
        if self._insert is None:
            self._insert = self._insert_statement()
        sql, fields, encoding = self._insert
        values = [_as_text(self._column_value(record, f, direct), encoding) for f, direct in fields]
        self.pgconn.send_query_params(sql, values)
        self._wait_until(lambda: self.pgconn.flush() == 0, selectors.EVENT_WRITE)

    def _column_value(self, record: Model, field: Field[Any, Any], direct: bool) -> Any:
        """``field``'s value of ``record`` as the column takes it. A plain value (text, number,
        boolean, aware datetime, None) of a ``direct`` field is what the field's own
        preparation would return for it on PostgreSQL, at a fraction of the cost (a record
        has 19 fields, a batch a record per migration); anything else goes through the field."""
        value = getattr(record, field.attname)
        if direct and (type(value) in _PLAIN or (type(value) is datetime and value.tzinfo)):
            return value
        return field.get_db_prep_save(field.pre_save(record, True), self.wrapper)

    def _insert_statement(self) -> tuple[bytes, list[tuple[Field[Any, Any], bool]], str]:
        """The INSERT (numbered parameters, the new id returned), its fields (each with
        whether a plain value of it goes to the column as it is) and the connection's
        encoding."""
        meta = self.model._meta
        quote = self.wrapper.ops.quote_name
        fields = [f for f in meta.concrete_fields if not f.primary_key]
        sql = "INSERT INTO {} ({}) VALUES ({}) RETURNING {}".format(
            quote(meta.db_table),
            ", ".join(quote(_column(f)) for f in fields),
            ", ".join(f"${number}" for number in range(1, len(fields) + 1)),
            quote(_column(meta.pk)),
        )
        columns = [(f, _takes_plain_values(f)) for f in fields]
        return sql.encode(), columns, self.wrapper.connection.info.encoding

    def _result(self) -> tuple[int | None, bytes | None, str]:
        """(new id, or None with the SQLSTATE and message of the error)."""

        def arrived() -> bool:
            self.pgconn.consume_input()
            return not self.pgconn.is_busy()

        self._wait_until(arrived, selectors.EVENT_READ)
        pk, sqlstate, error = None, None, ""
        while (result := self.pgconn.get_result()) is not None:
            value = result.get_value(0, 0) if result.ntuples else None
            if value is not None:
                pk = int(value)
            elif result.error_message:
                sqlstate = result.error_field(_sqlstate_field())
                error = result.error_message.decode(errors="replace").strip()
        return pk, sqlstate, error

    def _wait_until(self, done: Callable[[], bool], event: int) -> None:
        if done():
            return
        with selectors.DefaultSelector() as selector:
            selector.register(self.pgconn.socket, event)
            while not done():
                selector.select()


# Values of these types go to a direct field's column as they are (see ``_column_value``).
_PLAIN = (str, int, float, bool, type(None))


def _takes_plain_values(field: Field[Any, Any]) -> bool:
    """Whether ``field`` (of exactly one of Django's own plain types, not a subclass that may
    prepare its values otherwise) stores a plain value as it is, and sets none on save."""
    if type(field) is models.DateTimeField:
        return not (field.auto_now or field.auto_now_add)
    return type(field) in _PLAIN_FIELDS


_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.FloatField,
    models.IntegerField,
    models.BigIntegerField,
)


def _column(field: Field[Any, Any]) -> str:
    """The column of a concrete field (Django gives every concrete field one)."""
    assert field.column is not None
    return field.column


def _as_text(value: object, encoding: str) -> bytes | None:
    """A column value in PostgreSQL's text input form."""
    if type(value) is str:  # most of a record's values
        return value.encode(encoding)
    if value is None:
        return None
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, datetime):
        return value.isoformat().encode()
    if isinstance(value, (str, int, float)):
        return str(value).encode(encoding)
    raise TypeError(f"no text form for a {type(value).__name__} in a history record")


def _system_identifier(wrapper: Any) -> int | None:
    """The PostgreSQL server's system identifier (one per write-ahead log); None if it
    cannot be read. Asked once per connection (a fleet task's kept target connection serves
    its targets one after the other)."""
    known = getattr(wrapper, _SYSTEM_IDENTIFIER, None)
    if known is not None and wrapper.connection is not None and known[0] is wrapper.connection:
        return int(known[1])
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT system_identifier FROM pg_catalog.pg_control_system()")
            identifier = int(cursor.fetchone()[0])
    except DatabaseError:
        return None
    # The connection held with it: its id is not reused while it is.
    setattr(wrapper, _SYSTEM_IDENTIFIER, (wrapper.connection, identifier))
    return identifier


_SYSTEM_IDENTIFIER = "schema_manager_system_identifier"


def _sqlstate_field() -> Any:
    # Imported here: only an overlapped writer (psycopg 3, checked by writer_for) asks.
    from psycopg.pq import DiagnosticField

    return DiagnosticField.SQLSTATE
