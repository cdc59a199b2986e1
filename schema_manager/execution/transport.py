"""How statements reach the server: grouped per round trip, a large script in its analysed
slices, a failed group split again to name its statement, and lock timeouts retried.

Inside the migration's transaction, where the engine takes several statements per query
(``sends_statements_together``), statements go about ``GROUP_CHARS`` at a time inside a
savepoint, and the ledger write goes with the last group: a migration of a few statements
costs one round trip, and a data migration of thousands a few hundred.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import replace
from typing import Any, Protocol

from django.db import transaction

from ..security import get_logger
from ..sql import Statement
from ..sql.statements import iter_statements
from .crash import crash_point
from .outcome import Outcome, StatementError
from .session import ExecutionSession

logger = get_logger("schema_manager.executor")

Progress = Callable[[str, Statement], None]

# Characters of SQL per round trip where statements can be sent together; the analysis cuts
# large scripts at this size (read at use, so that one setting governs both).
GROUP_CHARS = 256 * 1024
RETRY_DELAY = 0.5  # seconds before the first retry after a lock timeout; doubles each time
_GROUP_SAVEPOINT = "schema_manager_statements"


class Shape(Protocol):
    """What an analysis of the script says about how it can be sent (see ``analyses``)."""

    @property
    def statements(self) -> int: ...
    @property
    def cuts(self) -> tuple[tuple[int, int], ...]: ...


class Transport:
    """Sends a migration's statements over the session's connection."""

    def __init__(self, session: ExecutionSession, progress: Progress | None = None) -> None:
        self.session = session
        self.connection = session.connection
        self.backend = session.backend
        self.progress = progress

    def retry_after(self, exc: Exception, attempt: int) -> bool:
        """Sleep and say yes if ``exc`` is a lock timeout and retries remain."""
        retries = self.session.lock_retries
        if attempt >= retries or not self.backend.is_lock_timeout(exc):
            return False
        delay = RETRY_DELAY * 2**attempt
        logger.warning(
            "Lock timeout on %r (attempt %d of %d); retrying in %gs: %s",
            self.session.alias,
            attempt + 1,
            retries + 1,
            delay,
            exc,
        )
        time.sleep(delay)
        return True

    def run_one(
        self,
        statement: Statement,
        outcome: Outcome,
        then: Callable[[], None] | None = None,
        before_retry: Callable[[], None] | None = None,
    ) -> None:
        """One statement outside the migration's transaction, retried after a lock timeout
        (``before_retry`` first cleans up what the failed try left).

        ``then`` (recording progress) commits with the statement wherever the engine lets it
        (DML on MySQL; all but CONCURRENTLY & co on PostgreSQL), so a crash cannot leave
        such a statement run but not counted.
        """
        if self.progress:
            self.progress("statement", statement)
        wrap = self.backend.refuses_transaction(statement) is None
        for attempt in range(self.session.lock_retries + 1):
            outcome.attempts = max(outcome.attempts, attempt + 1)
            try:
                with transaction.atomic(using=self.session.alias) if wrap else nullcontext():
                    with self.connection.cursor() as cursor:
                        cursor.execute(statement.text)
                    crash_point(f"in-step-{statement.index + 1}")
                    if then is not None:
                        then()
                break
            except Exception as exc:
                if not self.retry_after(exc, attempt):
                    raise StatementError(statement, exc) from exc
                if before_retry is not None:
                    before_retry()
        outcome.statements_run += 1

    def run_script(self, sql: str, shape: Shape | None, outcome: Outcome, then: str = "") -> Any:
        """Run the script in the open transaction (as ``run``): in the analysis's slices
        where it has them, else read afresh one statement at a time."""
        slices = self._slices(sql, shape)
        if slices:
            return self._run_slices(sql, slices, outcome, then)
        return self.run(iter_statements(sql, self.connection.vendor), outcome, then)

    def run(self, statements: Iterable[Statement], outcome: Outcome, then: str = "") -> Any:
        """Run ``statements`` in the open transaction; where the engine allows, several per
        round trip (see ``_run_together``), the last round trip followed by the statement
        ``then`` (a ledger write), whose returned row is returned (None if not sent)."""
        together = self.backend.sends_statements_together
        with self.connection.cursor() as cursor:
            group: list[Statement] = []
            size = 0
            for statement in statements:
                if self.progress:
                    self.progress("statement", statement)
                if not together:
                    _execute(cursor, statement)
                    outcome.statements_run += 1
                    continue
                group.append(statement)
                size += len(statement.text)
                if size >= GROUP_CHARS:
                    self._run_together(cursor, group, outcome)
                    group, size = [], 0
            if group:
                return self._run_together(cursor, group, outcome, then)
        return None

    def _run_together(
        self, cursor: Any, group: list[Statement], outcome: Outcome, then: str = ""
    ) -> Any:
        """Send ``group`` (and ``then``) as one query string, inside a savepoint."""
        if len(group) == 1 and not then:
            _execute(cursor, group[0])
            outcome.statements_run += 1
            return None
        # Each text ends at its ``;`` or at a comment on that line: the newline ends such a
        # comment, and an empty statement between two ``;`` is no statement at all.
        body = "\n;\n".join(statement.text for statement in group)
        returned = _send_in_savepoint(cursor, body, lambda: group, outcome, then)
        outcome.statements_run += len(group)
        return returned

    def _slices(self, sql: str, shape: Shape | None) -> tuple[tuple[int, int], ...]:
        """Where the script, analysed before, goes to the server as written, one slice of whole
        statements per round trip, as (end offset, statements up to it): the whole of a script
        up to GROUP_CHARS, the analysis's cuts of a larger one. Empty (it is split as it runs)
        when the engine takes one statement per query, when someone follows statement by
        statement, or for a lone statement, which needs no savepoint around it."""
        if shape is None or not self.backend.sends_statements_together or self.progress:
            return ()
        if shape.statements > 1 and len(sql) <= GROUP_CHARS:
            return ((len(sql), shape.statements),)
        # The analysis is of this very text (same checksum): its last cut is its end.
        if shape.cuts and shape.cuts[-1][0] == len(sql):
            return shape.cuts
        return ()

    def _run_slices(
        self, sql: str, slices: tuple[tuple[int, int], ...], outcome: Outcome, then: str = ""
    ) -> Any:
        """The script one slice per round trip, each as written, the last followed by ``then``
        (as in ``run``). A slice that fails is split then, to say which statement (counted
        from the script's start) failed."""
        vendor = self.connection.vendor
        returned = None
        start, before = 0, 0
        with self.connection.cursor() as cursor:
            for number, (end, upto) in enumerate(slices, start=1):
                body = sql[start:end]

                def statements(body: str = body, before: int = before) -> Iterator[Statement]:
                    for statement in iter_statements(body, vendor):
                        yield replace(statement, index=before + statement.index)

                last = number == len(slices)
                returned = _send_in_savepoint(
                    cursor, body, statements, outcome, then if last else ""
                )
                outcome.statements_run += upto - before
                start, before = end, upto
        return returned


def _send_in_savepoint(
    cursor: Any,
    body: str,
    statements: Callable[[], Iterable[Statement]],
    outcome: Outcome,
    then: str = "",
) -> Any:
    """Send ``body``, then the statement ``then`` (if any), in one query inside a savepoint;
    return the row ``then`` returns.

    If the query fails, the savepoint undoes it and ``statements()`` are run again one by
    one, so the error names the statement that failed (and counts those before it); if they
    all succeed, ``then`` runs on its own and raises its own error.
    """
    savepoint = _GROUP_SAVEPOINT
    # The newline ends a comment on the body's last line; ``;`` a last statement without.
    then = f"{then}\n;\n" if then else ""
    try:
        cursor.execute(f"SAVEPOINT {savepoint};\n{body}\n;\n{then}RELEASE SAVEPOINT {savepoint}")
    except Exception as exc:
        try:
            cursor.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
        except Exception:
            # No savepoint: the server refused the whole query before running its first
            # statement (a syntax error anywhere in it), so its own error says what is wrong.
            raise exc from None
        ran = outcome.statements_run
        for statement in statements():
            _execute(cursor, statement)
            outcome.statements_run += 1
        # All ran this time: the caller counts them, as when the query succeeds.
        outcome.statements_run = ran
        returned = None
        if then:  # its own error, if it fails on its own
            cursor.execute(then)
            returned = cursor.fetchone()
        cursor.execute(f"RELEASE SAVEPOINT {savepoint}")
        return returned
    return _last_row(cursor) if then else None


def _last_row(cursor: Any) -> Any:
    """The row of the query's last statement that returns rows (RELEASE returns none).

    Looked for on the driver's own cursor: the query succeeded, so stepping through its
    results raises nothing for Django's wrapper to translate, and through the wrapper each
    result's two calls cost more than the driver's work for them.
    """
    results = getattr(cursor, "cursor", cursor)
    row = None
    while True:
        if results.description is not None:
            row = results.fetchone()
        if not results.nextset():
            return row


def _execute(cursor: Any, statement: Statement) -> None:
    try:
        cursor.execute(statement.text)
    except Exception as exc:
        raise StatementError(statement, exc) from exc
