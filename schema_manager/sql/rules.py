"""Safety rules run before anything touches a database. Pure: text in, findings out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .operations import AlterTable, DataChange, Drop, DropColumn, Truncate, describe
from .statements import Statement, statements_of

# \A...\Z and [0-9]: ``$`` would accept a trailing newline and ``\d`` any Unicode digit; the
# id names a folder and a ledger row.
MIGRATION_ID_PATTERN = re.compile(r"\A[0-9]+_[a-z0-9_]+\Z")
MIGRATION_ID_MAX_LENGTH = 255

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem: ``code`` is stable (for settings and acknowledgements), ``message`` is prose."""

    code: str
    severity: Severity
    message: str
    destructive: bool = False


def check_migration_id(migration_id: str) -> list[Finding]:
    if not migration_id:
        return [Finding("invalid-id", "error", "Migration id is empty.")]
    findings = []
    if len(migration_id) > MIGRATION_ID_MAX_LENGTH:
        findings.append(
            Finding(
                "invalid-id",
                "error",
                f"Migration id is {len(migration_id)} characters long; "
                f"the limit is {MIGRATION_ID_MAX_LENGTH}.",
            )
        )
    if not MIGRATION_ID_PATTERN.match(migration_id):
        findings.append(
            Finding(
                "invalid-id",
                "error",
                f"Migration id {migration_id!r} must be digits, an underscore, then lowercase "
                "letters, digits or underscores (e.g. '001_add_users_table' or "
                "'20240101120000_add_users').",
            )
        )
    return findings


def check_sql(sql: str) -> list[Finding]:
    """Every finding for the script ``sql``, errors first in statement order."""
    if not sql or sql.isspace():  # not strip(): that would copy a large script
        return [Finding("empty-sql", "error", "SQL is empty.")]
    findings: list[Finding] = []
    seen_statement = False
    for statement in statements_of(sql):
        seen_statement = True
        findings.extend(_syntax(statement))
        findings.extend(_operation(statement))
    if not seen_statement:
        return [Finding("empty-sql", "error", "SQL contains only comments; nothing would run.")]
    return sorted(findings, key=lambda finding: finding.severity != "error")


def _where(statement: Statement) -> str:
    return f"Statement {statement.index + 1} ({statement.summary})"


def _syntax(statement: Statement) -> list[Finding]:
    return [
        Finding("syntax", "error", f"{_where(statement)} does not parse: {problem}.")
        for problem in statement.problems
    ]


def _operation(statement: Statement) -> list[Finding]:
    operation = describe(statement)
    where = _where(statement)
    if isinstance(operation, Drop) and operation.object_type == "DATABASE":
        return [
            Finding(
                "drop-database",
                "error",
                f"{where} drops a whole database; migrations may never do that.",
                destructive=True,
            )
        ]
    if isinstance(operation, Drop) and operation.object_type == "TABLE":
        return [_destructive("drop-table", f"{where} drops a table and all its rows")]
    if isinstance(operation, AlterTable) and any(
        isinstance(action, DropColumn) for action in operation.actions
    ):
        return [_destructive("drop-column", f"{where} drops a column and its data")]
    if isinstance(operation, Truncate):
        return [_destructive("truncate", f"{where} deletes every row of a table")]
    if isinstance(operation, DataChange) and not operation.has_where:
        verb = "deletes" if operation.verb == "DELETE" else "updates"
        return [
            _destructive(
                f"{operation.verb.lower()}-without-where", f"{where} {verb} every row (no WHERE)"
            )
        ]
    return []


def _destructive(code: str, what: str) -> Finding:
    return Finding(
        code,
        "warning",
        f"{what}; this cannot be undone by a rollback script. "
        "Back the data up first or make the change additive.",
        destructive=True,
    )
