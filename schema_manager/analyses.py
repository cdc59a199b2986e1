"""A script's analysis (``sql.analysis``), kept by checksum so that a script is analysed once,
not at each apply.

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
from functools import cache
from pathlib import Path

from django.db import DatabaseError, connections, router, transaction

from . import __version__
from .backends import TargetBackend, get_backend
from .conf import app_settings
from .execution import transport
from .models import ScriptAnalysis, id_chunks
from .security import get_logger
from .sql import Finding
from .sql.analysis import Analysis, analyse
from .sql.statements import is_streamed
from .sql.transactional import Atomicity, Engine
from .targets import Target
from .thread_scopes import ThreadScope, within

logger = get_logger("schema_manager.analyses")

# Fewer unknown scripts than this are analysed when asked for, not on a thread ahead.
AHEAD_FROM = 8


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
        wanted = list(checksums)
        if _kept.depth:  # those this thread had for an earlier plan (see ``kept``)
            for checksum in wanted:
                found = _kept.known.get(analyses._memo_key(checksum))
                if found is not None:
                    analyses._known[checksum] = found
            wanted = [checksum for checksum in wanted if checksum not in analyses._known]
        with _cache_access("read"):
            for chunk in id_chunks(wanted):
                rows = ScriptAnalysis.objects.filter(context=analyses.context, checksum__in=chunk)
                for checksum, findings, stepwise, statements, cuts in rows.values_list(
                    "checksum", "findings", "stepwise", "statements", "cuts"
                ):
                    analyses._known[checksum] = Analysis(
                        tuple(Finding(*finding) for finding in findings),
                        Atomicity.of_stepwise(stepwise, analyses.engine),
                        statements,
                        tuple((offset, before) for offset, before in cuts),
                    )
        analyses._remember(analyses._known)
        return analyses

    def _memo_key(self, checksum: str) -> tuple[str, Engine, str]:
        return (self.context, self.engine, checksum)

    def _remember(self, known: dict[str, Analysis]) -> None:
        if _kept.depth:
            _kept.known.update((self._memo_key(c), analysis) for c, analysis in known.items())

    @property
    def engine(self) -> Engine:
        """The target's facts the analysis depends on (read from its connection once)."""
        return self.backend.engine

    def _analyse(self, sql: str) -> Analysis:
        return analyse(sql, self.engine, self.severities, transport.GROUP_CHARS)

    def get(self, sql: str, checksum: str) -> Analysis:
        """The analysis of ``sql`` (whose checksum is ``checksum``): stored, made ahead (waited
        for), or made now."""
        found = self._known.get(checksum)
        if found is None:
            found = self._made_ahead(checksum) or self._analyse(sql)
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
        # The thread must not use the connection (Django binds it to this thread): what the
        # engine's checks need of it is read here, first.
        engine = self.engine
        futures: dict[str, Future[Analysis]] = {checksum: Future() for checksum in todo}
        self._ahead.update(futures)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_analyse_in_order,
            args=(todo, futures, engine, self.severities, self._stop),
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
        self._remember(self._new)
        self._new.clear()  # stored or not, not offered again: the next apply analyses anew
        with _cache_access("store"):
            # Another process may store the same analysis meanwhile: it is the same result.
            ScriptAnalysis.objects.bulk_create(rows, batch_size=100, ignore_conflicts=True)


class _Kept(ThreadScope):
    def __init__(self) -> None:
        self.known: dict[tuple[str, Engine, str], Analysis] = {}


_kept = _Kept()


@contextmanager
def kept() -> Iterator[None]:
    """Within the block, the analyses this thread reads or makes are kept for its later
    plans (a fleet task's targets: the same scripts on targets of one kind), so that each
    is read from the app's database once, not once per target. An analysis depends only on
    the script, the engine and the rules' severities, which its key holds."""
    with within(_kept, _kept.known.clear):
        yield


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
    engine: Engine,
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
            future.set_result(analyse(sql, engine, severities, transport.GROUP_CHARS))
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
