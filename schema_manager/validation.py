"""Validation of a migration before it runs: pure SQL rules plus what the catalogue knows."""

from __future__ import annotations

from django.db import connections

from . import rollback_scripts
from .backends import get_backend
from .checksums import migration_checksum
from .conf import app_settings
from .ledger import LedgerRow
from .models import Migration, VersionRecord
from .results import ValidationResult
from .sql import Finding, check_migration_id, check_sql, parse_statements
from .sql.directives import parse_directives
from .targets import Target


def validate(
    migration: Migration,
    target: Target,
    ledger_rows: list[LedgerRow],
    *,
    allow_destructive: bool = False,
) -> ValidationResult:
    severities = app_settings.rule_severities(target.environment)
    rollback_script, rollback_generated = "", False
    findings = [
        *check_migration_id(migration.id),
        *check_sql(migration.sql, target.vendor, severities),
    ]
    # SQL that is not SQL text (invalid-input) cannot be analysed any further either.
    if not any(
        finding.code in {"empty-sql", "invalid-id", "invalid-input"} for finding in findings
    ):
        findings.extend(_duplicates(migration, ledger_rows))
        # The script apply will store (captured from the target where it can be): made once
        # here and carried on the result, not generated again by apply.
        rollback_script, rollback_generated = rollback_scripts.script_for(
            migration, target.vendor, target.alias
        )
        if rollback_generated:
            findings.extend(_rollback_gaps(rollback_script))
        findings.extend(_transaction_mix(migration, target))
    if target.is_protected and not allow_destructive:
        findings = [_blocked(finding, target) for finding in findings]
    active = [finding for finding in findings if not finding.acknowledged]
    errors = [finding.message for finding in active if finding.severity == "error"]
    warnings = [finding.message for finding in active if finding.severity == "warning"]
    acknowledged = [
        f"{finding.message} Acknowledged by '-- schema-manager: allow {finding.code}'."
        for finding in findings
        if finding.acknowledged
    ]
    return ValidationResult(
        not errors,
        errors,
        warnings,
        findings,
        acknowledged,
        rollback_script=rollback_script,
        rollback_generated=rollback_generated,
    )


def _duplicates(migration: Migration, ledger_rows: list[LedgerRow]) -> list[Finding]:
    """Another migration with this id but different SQL, stored, recorded or applied."""
    checksum = migration_checksum(migration.sql)
    where = []
    if not migration._state.adding and migration.checksum == checksum:
        # Read from the catalogue with this very SQL: no need to read it again (storing it
        # before the apply re-checks that nobody changed it since).
        stored = checksum
    else:
        stored = Migration.objects.filter(pk=migration.id).values_list("checksum", flat=True)
        stored = stored.first()
    if stored is not None and stored != checksum:
        where.append(f"the catalogue (checksum {stored[:12]}…)")
    for environment in sorted(_applied_elsewhere_with_other_sql(migration.id, checksum)):
        where.append(f"the history of {environment}")
    if any(row.is_applied and row.checksum != checksum for row in ledger_rows):
        where.append("the target's _prisma_migrations ledger")
    if not where:
        return []
    return [
        Finding(
            "duplicate-id",
            "error",
            f"Migration id {migration.id!r} is already used with different SQL in "
            f"{', '.join(where)}; choose a new id (checksum of this SQL: {checksum[:12]}…).",
        )
    ]


def _applied_elsewhere_with_other_sql(migration_id: str, checksum: str) -> set[str]:
    """Environments whose latest history says this id is applied with another checksum."""
    latest: dict[str, VersionRecord] = {}
    records = VersionRecord.objects.filter(
        migration_id=migration_id, status__in=["applied", "rolled_back"]
    ).order_by("-recorded_at", "-id")
    for record in records.only("environment", "status", "checksum"):
        latest.setdefault(record.environment, record)
    return {
        environment
        for environment, record in latest.items()
        if record.status == "applied" and record.checksum != checksum
    }


def _rollback_gaps(generated_script: str) -> list[Finding]:
    return [
        Finding(
            "no-rollback",
            "warning",
            f"No rollback_sql given, and the generated one is incomplete: {warning}",
        )
        for warning in rollback_scripts.script_warnings(generated_script)
    ]


def _transaction_mix(migration: Migration, target: Target) -> list[Finding]:
    """Statements the engine refuses in a transaction must not silently un-wrap the others."""
    backend = get_backend(connections[target.alias])
    if not backend.can_rollback_ddl or parse_directives(migration.sql).no_transaction:
        return []
    statements = parse_statements(migration.sql, target.vendor)
    refusing = [(s, why) for s in statements if (why := backend.refuses_transaction(s))]
    if not refusing or len(refusing) == len(statements):
        return []
    statement, why = refusing[0]
    return [
        Finding(
            "no-transaction-mix",
            "error",
            f"Statement {statement.index + 1} ({statement.summary}) cannot run in a "
            f"transaction ({why}), so the other statements could not be rolled back with it; "
            "split the migration, or declare `-- schema-manager: no-transaction` to run it "
            "statement by statement (a failure is then compensated).",
        )
    ]


def _blocked(finding: Finding, target: Target) -> Finding:
    if not (finding.destructive and finding.severity == "warning") or finding.acknowledged:
        return finding
    return Finding(
        finding.code,
        "error",
        f"{finding.message} Blocked in {target.environment}; pass allow_destructive=True "
        "(--allow-destructive) to apply it anyway.",
        destructive=True,
    )
