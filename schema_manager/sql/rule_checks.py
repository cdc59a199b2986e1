"""Running the safety rules before anything touches a database. Pure: text in, findings out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from itertools import chain

from . import pg_syntax
from .directives import parse_directives
from .lexer import DIALECTS
from .migration_ids import id_problems
from .reading import describe
from .rule_detection import Context, hits
from .rule_table import RULES, Rule, Severity
from .statements import SqlInputError, Statement, iter_statements, large_input_gc_pause
from .transactional import runs_outside_transaction


@dataclass(frozen=True)
class Finding:
    """One problem: ``code`` is stable (for settings and acknowledgements), ``message`` is prose."""

    code: str
    severity: Severity
    message: str
    destructive: bool = False
    # The script says ``-- schema-manager: allow <code>``: shown, neither error nor warning.
    acknowledged: bool = False


def check_migration_id(migration_id: str) -> list[Finding]:
    """Whether ``migration_id`` can name a migration's folder (see ``migration_ids``)."""
    return [Finding("invalid-id", "error", problem) for problem in id_problems(migration_id)]


def check_sql(
    sql: str,
    vendor: str | None = None,
    severities: Mapping[str, str] | None = None,
    each: Callable[[Statement], object] | None = None,
) -> list[Finding]:
    """Every finding for the script ``sql``, errors first in statement order.

    ``vendor`` enables that dialect's rules (and PostgreSQL's own parser when installed);
    ``severities`` overrides rule severities by id (``"error"``, ``"warning"`` or ``"off"``).
    Rules the script acknowledges (``-- schema-manager: allow <id>``) come back with
    ``acknowledged=True`` and sort last. ``each`` is called with every statement as the rules
    read it, so that a caller's own check of a large script needs no reading of its own.
    """
    with large_input_gc_pause(sql or ""):
        return _check_sql(sql, vendor, severities, each)


def _check_sql(
    sql: str,
    vendor: str | None,
    severities: Mapping[str, str] | None,
    each: Callable[[Statement], object] | None,
) -> list[Finding]:
    # isspace(), not strip(): no copy of what may be a large script. An empty migration.sql
    # is one `prisma migrate deploy` runs and records as applied: so do we, with a warning.
    if not sql or (isinstance(sql, (str, bytes)) and sql.isspace()):
        return [
            Finding(
                "no-statements",
                "warning",
                "SQL is empty: applying it changes nothing and records it as applied, as "
                "Prisma does with an empty migration.sql.",
            )
        ]
    # One statement at a time: a large data migration is checked in flat memory.
    statements = iter_statements(sql, vendor)
    try:
        first = next(statements, None)
    except SqlInputError as exc:
        return [Finding("invalid-input", "error", str(exc))]
    if first is None:
        # Prisma's `migrate dev --create-only` writes such a script when there is nothing to
        # change, and `migrate deploy` records it as applied: so do we, with this warning.
        return [
            Finding(
                "no-statements",
                "warning",
                "SQL has no statements, only comments: applying it changes nothing and "
                "records it as applied, as Prisma does with an empty migration.",
            )
        ]
    directives = parse_directives(sql)
    dialect = vendor if vendor in DIALECTS else None
    # A migration made only of statements the engine refuses in a transaction runs without one.
    transactional = not directives.no_transaction and not runs_outside_transaction(
        iter_statements(sql, vendor), dialect
    )
    context = Context(dialect, transactional=transactional)
    findings: list[Finding] = []
    for statement in chain([first], statements):
        if each is not None:
            each(statement)
        findings.extend(_syntax(statement, vendor))
        for rule_id, what in hits(statement, describe(statement), context):
            finding = _finding(RULES[rule_id], statement, what, dialect, severities or {})
            if finding is not None:
                acknowledged = (
                    finding.code in directives.allowed_rules and RULES[rule_id].acknowledgeable
                )
                findings.append(replace(finding, acknowledged=acknowledged))
    return sorted(findings, key=lambda f: (f.acknowledged, f.severity != "error"))


def _where(statement: Statement) -> str:
    return f"Statement {statement.index + 1} ({statement.summary})"


def _syntax(statement: Statement, vendor: str | None) -> list[Finding]:
    problems = list(statement.problems)
    if not problems and vendor == "postgresql" and (error := pg_syntax.syntax_error(statement)):
        problems.append(error)
    return [
        Finding("syntax", "error", f"{_where(statement)} does not parse: {problem}.")
        for problem in problems
    ]


def _finding(
    rule: Rule, statement: Statement, what: str, dialect: str | None, severities: Mapping[str, str]
) -> Finding | None:
    if rule.dialects is not None and dialect not in rule.dialects:
        return None
    severity = severities.get(rule.id, rule.severity)
    if severity not in ("error", "warning"):
        return None  # "off"
    where = _where(statement)
    if rule.id == "drop-database":
        message = f"{where} drops a whole database; migrations may never do that."
    elif rule.destructive:
        message = f"{where} {what}; {rule.consequence}. {rule.advice}"
    else:
        message = f"{where} {what}. {rule.advice} (rule {rule.id})"
    return Finding(rule.id, severity, message, destructive=rule.destructive)  # type: ignore[arg-type]
