"""What a script's text says for one engine, in one reading of it: the rules' findings, how it
runs (``transactional.atomicity``), how many statements it has and, for a large script, where
it can be cut into round trips. Pure: ``analyses`` keeps the result by checksum.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .rule_checks import Finding, check_sql
from .statements import Statement, is_streamed, parse_statements
from .transactional import Atomicity, Engine, TransactionMix

# Findings after which nothing else about the script can be known.
UNREADABLE = frozenset({"invalid-input"})


@dataclass(frozen=True)
class Analysis:
    """What the script's text says, for one engine and one set of rule severities."""

    findings: tuple[Finding, ...]  # the rules' (errors first), then the transaction checks
    atomicity: Atomicity  # in one transaction, or statement by statement
    statements: int  # how many (0 if unreadable)
    # A large script (``is_streamed``): (offset, statements before it) at the end of each run
    # of whole statements of about ``group_chars``, the last at the script's end; the executor
    # sends these slices as they are, without splitting the script again.
    cuts: tuple[tuple[int, int], ...] = ()

    @property
    def readable(self) -> bool:
        return readable(self.findings)

    @property
    def stepwise(self) -> bool:
        return self.atomicity.stepwise


def readable(findings: Iterable[Finding]) -> bool:
    return not any(finding.code in UNREADABLE for finding in findings)


def analyse(sql: str, engine: Engine, severities: dict[str, str], group_chars: int) -> Analysis:
    """Analyse ``sql`` for ``engine`` now, in one reading of it; a large script's cuts fall
    after about ``group_chars`` characters of whole statements each."""
    mix = TransactionMix(engine, sql)
    cuts = _Cuts(len(sql), group_chars) if is_streamed(sql) else None

    def each(statement: Statement) -> None:
        mix.see(statement)
        if cuts is not None:
            cuts.see(statement)

    findings = check_sql(sql, engine.dialect, severities, each=each)
    if not readable(findings):
        return Analysis(tuple(findings), Atomicity.ONE_TRANSACTION, statements=0)
    findings.extend(_mix_findings(mix))
    if cuts is not None:  # a large script is not read once more: what the rules read counts
        return Analysis(tuple(findings), mix.atomicity, cuts.statements, cuts.done())
    # A small script's count comes from the parse the rules made (cached).
    return Analysis(tuple(findings), mix.atomicity, len(parse_statements(sql, engine.dialect)))


def _mix_findings(mix: TransactionMix) -> list[Finding]:
    if mix.mixed is None:
        return []
    statement, why = mix.mixed
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


class _Cuts:
    """Where a large script can be cut into queries of whole statements of about
    ``group_chars`` each: watches each statement as the rules read them (``see``)."""

    def __init__(self, length: int, group_chars: int) -> None:
        self.length = length
        self.group_chars = group_chars
        self.statements = 0
        self.group_start = 0
        self.cuts: list[tuple[int, int]] = []

    def see(self, statement: Statement) -> None:
        self.statements += 1
        end = statement.start + len(statement.text)
        if end - self.group_start >= self.group_chars:
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
