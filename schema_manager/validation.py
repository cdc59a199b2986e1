"""Validation of a migration before it runs: pure SQL rules plus what the catalogue knows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db import connections

from . import rollback_scripts
from .backends import get_backend
from .checksums import migration_checksum
from .conf import app_settings
from .ledger import LedgerRow
from .models import Migration, VersionRecord, id_chunks
from .results import ValidationResult
from .sql import Finding, Statement, check_migration_id, check_sql
from .sql.directives import parse_directives
from .sql.statements import MAX_SCRIPT_CHARS, iter_statements
from .targets import Target


class Stored(NamedTuple):
    """A catalogue entry, without its SQL (known by checksum; it can be megabytes)."""

    checksum: str
    name: str
    rollback_sql: str


@dataclass
class KnownMigrations:
    """What the catalogue and history hold for a plan's ids, read in a constant number of
    queries for the whole plan, so that validating and storing each migration costs none."""

    stored: dict[str, Stored] = field(default_factory=dict)
    # Migration id -> {environment: checksum} where its latest history leaves it applied.
    applied: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def read(cls, migration_ids: Iterable[str]) -> KnownMigrations:
        known = cls()
        for chunk in id_chunks(migration_id for migration_id in migration_ids if migration_id):
            entries = Migration.objects.filter(pk__in=chunk)
            for migration_id, *entry in entries.values_list(
                "id", "checksum", "name", "rollback_sql"
            ):
                known.stored[migration_id] = Stored(*entry)
            records = (
                VersionRecord.objects.filter(
                    migration_id__in=chunk, status__in=["applied", "rolled_back"]
                )
                .order_by("-recorded_at", "-id")
                .values_list("migration_id", "environment", "status", "checksum")
            )
            latest: set[tuple[str, str]] = set()
            for migration_id, environment, status, checksum in records:
                if (migration_id, environment) in latest:
                    continue
                latest.add((migration_id, environment))
                if status == "applied":
                    known.applied.setdefault(migration_id, {})[environment] = checksum
        return known

    def record_stored(self, migration: Migration) -> None:
        self.stored[migration.id] = Stored(
            migration.checksum, migration.name, migration.rollback_sql
        )

    def record_applied(self, migration_id: str, environment: str, checksum: str) -> None:
        self.applied.setdefault(migration_id, {})[environment] = checksum


def validate(
    migration: Migration,
    target: Target,
    ledger_rows: list[LedgerRow],
    *,
    allow_destructive: bool = False,
    known: KnownMigrations | None = None,
) -> ValidationResult:
    """Check ``migration`` for ``target``; ``known`` (else read now) holds what the catalogue
    and history say about its id."""
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
        if known is None:
            known = KnownMigrations.read([migration.id])
        findings.extend(_duplicates(migration, ledger_rows, known))
        if migration.rollback_sql.strip() or len(migration.sql) <= MAX_SCRIPT_CHARS:
            # The script apply will store (captured from the target where it can be): made
            # once here and carried on the result, not generated again by apply.
            rollback_script, rollback_generated = rollback_scripts.script_for(
                migration, target.vendor, target.alias
            )
        else:  # generating one would hold every statement at once
            findings.append(_too_large_to_invert(migration))
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


def _duplicates(
    migration: Migration, ledger_rows: list[LedgerRow], known: KnownMigrations
) -> list[Finding]:
    """Another migration with this id but different SQL, stored, recorded or applied."""
    checksum = migration_checksum(migration.sql)
    where = []
    stored = known.stored.get(migration.id)
    if stored is not None and stored.checksum != checksum:
        where.append(f"the catalogue (checksum {stored.checksum[:12]}…)")
    for environment, applied in sorted(known.applied.get(migration.id, {}).items()):
        if applied != checksum:
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


def _too_large_to_invert(migration: Migration) -> Finding:
    return Finding(
        "no-rollback",
        "error",
        f"The script has {len(migration.sql):,} characters, more than the "
        f"{MAX_SCRIPT_CHARS:,} a rollback can be generated from; give the migration a "
        "rollback_sql (down.sql).",
    )


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
    # One statement at a time (a data migration can be large): the first refusing one, and
    # whether any other statement would have shared its transaction.
    first: tuple[Statement, str] | None = None
    others = False
    for statement in iter_statements(migration.sql, target.vendor):
        why = backend.refuses_transaction(statement)
        if why and first is None:
            first = (statement, why)
        others = others or not why
        if first is not None and others:
            break
    if first is None or not others:
        return []
    statement, why = first
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
