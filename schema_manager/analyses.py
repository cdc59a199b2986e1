"""A script's analysis, kept by checksum so that a script is analysed once, not at each apply.

The rules' findings, the transaction checks and how the script runs (in one transaction, or
statement by statement) depend only on the script's text, the target's engine, the rule
severities in force and the analyser's own code. Together with the script's checksum they
key a stored ``ScriptAnalysis``: validating a script in development (or a ``--dry-run`` in
CI) lets the applies in the other environments of the same engine skip the parsing.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.db import DatabaseError, connections, router, transaction

from . import __version__
from .backends import TargetBackend, get_backend
from .conf import app_settings
from .execution import transport
from .models import ScriptAnalysis, id_chunks
from .security import get_logger
from .sql import Finding, Statement, check_sql
from .sql.directives import parse_directives
from .sql.statements import is_streamed, parse_statements
from .targets import Target

logger = get_logger("schema_manager.analyses")

# Fewer unknown scripts than this are analysed when asked for, not on a thread ahead.
AHEAD_FROM = 8

# Findings after which nothing else about the script can be known.
UNREADABLE = frozenset({"invalid-input"})


@dataclass(frozen=True)
class Analysis:
    """What the script's text says, for one engine and one set of rule severities."""

    findings: tuple[Finding, ...]  # the rules' (errors first), then the transaction checks
    stepwise: bool  # runs statement by statement, outside a transaction
    statements: int  # how many (0 if unreadable)
    # A large script (``is_streamed``): (offset, statements before it) at the end of each run
    # of whole statements of about GROUP_CHARS, the last at the script's end; the executor
    # sends these slices as they are, without splitting the script again.
    cuts: tuple[tuple[int, int], ...] = ()

    @property
    def readable(self) -> bool:
        return _readable(self.findings)


def _readable(findings: Iterable[Finding]) -> bool:
    return not any(finding.code in UNREADABLE for finding in findings)


def analyse(sql: str, backend: TargetBackend, severities: dict[str, str]) -> Analysis:
    """Analyse ``sql`` for ``backend``'s engine now (no cache), in one reading of it."""
    vendor = backend.vendor
    mix = _TransactionMix(backend, sql)
    cuts = _Cuts(len(sql)) if is_streamed(sql) else None

    def each(statement: Statement) -> None:
        mix.see(statement)
        if cuts is not None:
            cuts.see(statement)

    findings = check_sql(sql, vendor, severities, each=each)
    if not _readable(findings):
        return Analysis(tuple(findings), stepwise=False, statements=0)
    findings.extend(mix.findings())
    stepwise = mix.stepwise
    if cuts is not None:  # a large script is not read once more: what the rules read counts
        return Analysis(tuple(findings), stepwise, cuts.statements, cuts.done())
    # A small script's count comes from the parse the rules made (cached).
    return Analysis(tuple(findings), stepwise, len(parse_statements(sql, vendor)))


class Analyses:
    """The analyses of a plan's scripts for one target: those stored are read in one query
    per ``IDS_PER_QUERY`` scripts; the others are made on first use and stored by ``save``."""

    def __init__(self, target: Target) -> None:
        self.backend = get_backend(connections[target.alias])
        self.severities = app_settings.rule_severities(target.environment)
        self.context = _context(self.backend, self.severities)
        self._known: dict[str, Analysis] = {}
        self._new: dict[str, Analysis] = {}
        self._ahead: dict[str, Future[Analysis]] = {}  # being made on a thread (analyse_ahead)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @classmethod
    def read(cls, target: Target, checksums: Iterable[str]) -> Analyses:
        analyses = cls(target)
        with _cache_access("read"):
            for chunk in id_chunks(checksums):
                rows = ScriptAnalysis.objects.filter(context=analyses.context, checksum__in=chunk)
                for checksum, findings, stepwise, statements, cuts in rows.values_list(
                    "checksum", "findings", "stepwise", "statements", "cuts"
                ):
                    analyses._known[checksum] = Analysis(
                        tuple(Finding(*finding) for finding in findings),
                        stepwise,
                        statements,
                        tuple((offset, before) for offset, before in cuts),
                    )
        return analyses

    def get(self, sql: str, checksum: str) -> Analysis:
        """The analysis of ``sql`` (whose checksum is ``checksum``): stored, made ahead (waited
        for), or made now."""
        found = self._known.get(checksum)
        if found is None:
            found = self._made_ahead(checksum) or analyse(sql, self.backend, self.severities)
            self._known[checksum] = self._new[checksum] = found
        return found

    def _made_ahead(self, checksum: str) -> Analysis | None:
        """The analysis made ahead (waited for); None if none was, or it failed there (it is
        then made, and any error raised, by the thread that asks)."""
        ahead = self._ahead.get(checksum)
        if ahead is None:
            return None
        try:
            return ahead.result()
        except Exception:  # an error or a cancellation: handled by the caller
            return None

    def analyse_ahead(self, scripts: Iterable[tuple[str, str]]) -> None:
        """Analyse the (sql, checksum) ``scripts`` not known yet, in order, on a thread of
        their own, while this thread runs migrations; ``get`` waits for each as needed.

        The analysis is pure Python work and the migrations are mostly waits on the target,
        so the two overlap: the thread gives the interpreter back after each script, so a
        migration whose server answered waits at most one script's analysis to carry on.
        Hence large scripts (``is_streamed``), whose analysis takes seconds, are left to
        ``get``, as are a few scripts, which are not worth a thread.
        """
        if self._thread is not None:  # already analysing ahead
            return
        todo = {
            checksum: sql
            for sql, checksum in scripts
            if checksum not in self._known and not is_streamed(sql)
        }
        if len(todo) < AHEAD_FROM:
            return
        # The thread must not use the connection (Django binds it to this thread): whatever
        # the engine's checks read from it is read here, first.
        self.backend.read_for_analysis()
        futures: dict[str, Future[Analysis]] = {checksum: Future() for checksum in todo}
        self._ahead.update(futures)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_analyse_in_order,
            args=(todo, futures, self.backend, self.severities, self._stop),
            name="schema_manager-analyses",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop analysing ahead (what is left is made on demand, if ever asked for)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def save(self) -> None:
        """Store the analyses made since the last save (ahead, too), in one INSERT per 100."""
        for checksum, ahead in self._ahead.items():
            done = ahead.done() and not ahead.cancelled() and ahead.exception() is None
            if done and checksum not in self._known:
                self._known[checksum] = self._new[checksum] = ahead.result()
        if not self._new:
            return
        rows = [
            ScriptAnalysis(
                checksum=checksum,
                context=self.context,
                findings=[_as_list(finding) for finding in analysis.findings],
                stepwise=analysis.stepwise,
                statements=analysis.statements,
                cuts=[list(cut) for cut in analysis.cuts],
            )
            for checksum, analysis in self._new.items()
        ]
        self._new.clear()  # stored or not, not offered again: the next apply analyses anew
        with _cache_access("store"):
            # Another process may store the same analysis meanwhile: it is the same result.
            ScriptAnalysis.objects.bulk_create(rows, batch_size=100, ignore_conflicts=True)


@contextmanager
def _cache_access(what: str) -> Iterator[None]:
    """Stored analyses are a cache: a database that refuses to read or store them costs a
    new analysis, never the operation that asked (a warning says why)."""
    alias = router.db_for_write(ScriptAnalysis)
    # Inside a caller's transaction, a refused query must not spoil it: a savepoint then.
    guard = transaction.atomic(using=alias) if connections[alias].in_atomic_block else nullcontext()
    try:
        with guard:
            yield
    except DatabaseError as exc:
        logger.warning(
            "Could not %s script analyses (a cache; scripts are analysed again instead): %s",
            what,
            " ".join(str(exc).split()),
        )


def _analyse_in_order(
    todo: dict[str, str],
    futures: dict[str, Future[Analysis]],
    backend: TargetBackend,
    severities: dict[str, str],
    stop: threading.Event,
) -> None:
    for checksum, sql in todo.items():
        future = futures[checksum]
        if stop.is_set():
            future.cancel()
            continue
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(analyse(sql, backend, severities))
        except BaseException as exc:  # made again, and raised, by the thread that asks
            future.set_exception(exc)
        time.sleep(0)  # the interpreter goes back to a migration whose server has answered


def _as_list(finding: Finding) -> list[object]:
    return [
        finding.code,
        finding.severity,
        finding.message,
        finding.destructive,
        finding.acknowledged,
    ]


def _context(backend: TargetBackend, severities: dict[str, str]) -> str:
    """A digest of what, besides the script, an analysis depends on."""
    facts = [
        _analyser_fingerprint(),
        backend.vendor,
        type(backend).__name__,
        backend.can_rollback_ddl,
        sorted(severities.items()),
    ]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()


@cache
def _analyser_fingerprint() -> str:
    """The package's version and a digest of the analyser's source (the rules, and the
    engines' own transaction rules): a change to either (even without a new version, as in
    development) makes every stored analysis stale."""
    package = Path(__file__).parent
    digest = hashlib.sha256(__version__.encode())
    sources = [*package.glob("sql/*.py"), *package.glob("backends/*.py"), package / "analyses.py"]
    for path in sorted(sources):
        try:
            digest.update(path.read_bytes())
        except OSError:  # installed without sources: the version alone
            continue
    return digest.hexdigest()


class _Cuts:
    """Where a large script can be cut into queries of whole statements of about
    ``GROUP_CHARS`` each: watches each statement as the rules read them (``see``)."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.statements = 0
        self.group_start = 0
        self.cuts: list[tuple[int, int]] = []

    def see(self, statement: Statement) -> None:
        self.statements += 1
        end = statement.start + len(statement.text)
        if end - self.group_start >= transport.GROUP_CHARS:
            self.cuts.append((end, self.statements))
            self.group_start = end

    def done(self) -> tuple[tuple[int, int], ...]:
        """The cuts, the last at the script's end (what follows the last statement, such as
        a closing comment, goes with it)."""
        cuts = self.cuts
        if cuts and cuts[-1][1] == self.statements:
            cuts[-1] = (self.length, self.statements)
        else:
            cuts.append((self.length, self.statements))
        return tuple(cuts)


class _TransactionMix:
    """Statements the engine refuses in a transaction must not silently un-wrap the others:
    watches each statement as the rules read them (``see``), then says (``findings``)."""

    def __init__(self, backend: TargetBackend, sql: str) -> None:
        self.backend = backend
        self.applies = backend.can_rollback_ddl and not parse_directives(sql).no_transaction
        self.first: tuple[Statement, str] | None = None  # the first refusing statement
        self.others = False  # whether any other statement would have shared its transaction

    def see(self, statement: Statement) -> None:
        if not self.applies or (self.first is not None and self.others):
            return
        why = self.backend.refuses_transaction(statement)
        if why and self.first is None:
            self.first = (statement, why)
        self.others = self.others or not why

    @property
    def stepwise(self) -> bool:
        """Whether the script runs statement by statement (``stepwise.runs_stepwise``, from
        this reading): where the engine cannot roll DDL back, where the script says so, or
        where a statement refuses a transaction."""
        return not self.applies or self.first is not None

    def findings(self) -> list[Finding]:
        if self.first is None or not self.others:
            return []
        statement, why = self.first
        return [
            Finding(
                "no-transaction-mix",
                "error",
                f"Statement {statement.index + 1} ({statement.summary}) cannot run in a "
                f"transaction ({why}), so the other statements could not be rolled back with "
                "it; split the migration, or declare `-- schema-manager: no-transaction` to "
                "run it statement by statement (a failure is then compensated).",
            )
        ]
