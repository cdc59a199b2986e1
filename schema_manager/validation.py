"""Validation of a migration before it runs: pure SQL rules plus what the catalogue knows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db.models import Exists, OuterRef, Q, QuerySet, Value

from . import rollback_choice
from .analyses import Analyses
from .archive.planning import Prepared, annotate, prepare
from .ledger_rows import LedgerRow
from .models import Migration, VersionRecord, id_chunks
from .results import ValidationResult
from .sql import Finding, check_migration_id
from .sql.statements import MAX_SCRIPT_CHARS
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
    def read(
        cls, migration_ids: Iterable[str], checksums: Iterable[str] | None = None
    ) -> KnownMigrations:
        """``checksums`` (one per id, in order: the SQL each will be validated with): history
        is read only where some environment recorded the id applied with another checksum,
        the only histories a duplicate finding can come from. Without it, in every
        environment, whose records grow with each tenant of a fleet."""
        known = cls()
        ids = list(migration_ids)
        wanted: dict[str, set[str]] = {}
        for migration_id, checksum in zip(ids, checksums or (), strict=False):
            wanted.setdefault(migration_id, set()).add(checksum)
        for chunk in id_chunks(migration_id for migration_id in ids if migration_id):
            # Whether some environment applied the entry with a checksum other than the
            # catalogue's, asked with it: when each id is wanted with the catalogue's checksum
            # (a plan of the catalogue's entries, as a fleet's targets apply), no other query.
            other = VersionRecord.objects.filter(
                migration_id=OuterRef("pk"), status=VersionRecord.Status.APPLIED
            ).exclude(checksum=OuterRef("checksum"))
            entries = Migration.objects.filter(pk__in=chunk).annotate(
                other=Exists(other) if checksums is not None else Value(True)
            )
            usual = True
            for migration_id, *entry, another in entries.values_list(
                "id", "checksum", "name", "rollback_sql", "other"
            ):
                known.stored[migration_id] = Stored(*entry)
                usual = usual and not another and wanted.get(migration_id) == {entry[0]}
            records: QuerySet[VersionRecord] = VersionRecord.objects.filter(
                migration_id__in=chunk,
                status__in=[VersionRecord.Status.APPLIED, VersionRecord.Status.ROLLED_BACK],
            )
            if checksums is not None:
                if usual and len(known.stored.keys() & set(chunk)) == len(set(chunk)):
                    continue
                environments = _where_another_was_applied(chunk, wanted)
                if not environments:
                    continue
                records = records.filter(environment__in=environments)
            latest: set[tuple[str, str]] = set()
            for migration_id, environment, status, checksum in records.order_by(
                "-recorded_at", "-id"
            ).values_list("migration_id", "environment", "status", "checksum"):
                if (migration_id, environment) in latest:
                    continue
                latest.add((migration_id, environment))
                if status == VersionRecord.Status.APPLIED:
                    known.applied.setdefault(migration_id, {})[environment] = checksum
        return known

    def record_stored(self, migration: Migration) -> None:
        self.stored[migration.id] = Stored(
            migration.checksum, migration.name, migration.rollback_sql
        )

    def record_applied(self, migration_id: str, environment: str, checksum: str) -> None:
        self.applied.setdefault(migration_id, {})[environment] = checksum


def _where_another_was_applied(chunk: list[str], wanted: dict[str, set[str]]) -> list[str]:
    """The environments where one of the chunk's migrations was once applied with a checksum
    other than the one wanted: none, usually. An id wanted with several checksums keeps every
    environment it was applied in.

    First the distinct (id, checksum) pairs ever applied, a handful however many tenants
    recorded them; then, only for the odd pairs, their environments. One query with a
    condition per id would leave the join order to the planner, and on a young history
    table (no statistics yet) it chose a nested loop that took 30 s for 1,000 ids."""
    odd = Q()
    # order_by(): the model's ordering would otherwise join the DISTINCT.
    applied = VersionRecord.objects.filter(
        migration_id__in=chunk, status=VersionRecord.Status.APPLIED
    ).order_by()
    for migration_id, checksum in applied.values_list("migration_id", "checksum").distinct():
        sums = wanted.get(migration_id, set())
        if len(sums) != 1 or checksum not in sums:
            odd |= Q(migration_id=migration_id, checksum=checksum)
    if not odd:
        return []
    # A superset of the pairs, which the duplicate check compares by checksum anyway.
    return list(applied.filter(odd).values_list("environment", flat=True).distinct())


def validate(
    migration: Migration,
    target: Target,
    ledger_rows: list[LedgerRow],
    *,
    known: KnownMigrations,
    analyses: Analyses,
    checksum: str,
    allow_destructive: bool = False,
) -> ValidationResult:
    """Check ``migration``, whose SQL's checksum is ``checksum``, for ``target``: ``known``
    holds what the catalogue and history say about the plan's ids, ``analyses`` its scripts'
    analyses for the target, read once for the whole plan (a single migration is a plan of
    one)."""
    rollback_script, rollback_generated = "", False
    archive = Prepared()
    analysis = analyses.get(migration.sql, checksum)
    findings = [*check_migration_id(migration.id), *analysis.findings]
    # SQL that is not SQL text (invalid-input) cannot be analysed any further either.
    if analysis.readable and not any(finding.code == "invalid-id" for finding in findings):
        findings.extend(_duplicates(migration, checksum, ledger_rows, known))
        if migration.rollback_sql.strip() or len(migration.sql) <= MAX_SCRIPT_CHARS:
            # What the apply archives, and the script it will store (captured from the target
            # where it can be): made once here and carried on the result, not made again.
            archive = prepare(
                migration, target, stepwise=analysis.stepwise, allow_destructive=allow_destructive
            )
            findings = [*annotate(findings, archive.plan), *archive.findings]
            rollback_script, rollback_generated = rollback_choice.script_for(
                migration, target.vendor, target.alias, archive=archive.plan
            )
        else:  # generating one would hold every statement at once
            findings.append(_too_large_to_invert(migration))
        if rollback_generated:
            findings.extend(_rollback_gaps(rollback_script))
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
        statements=analysis.statements,
        archive=archive.plan if archive.plan and archive.plan.steps else None,
        atomicity=analysis.atomicity,
    )


def _duplicates(
    migration: Migration, checksum: str, ledger_rows: list[LedgerRow], known: KnownMigrations
) -> list[Finding]:
    """Another migration with this id but different SQL (whose is ``checksum``), stored,
    recorded or applied."""
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
        for warning in rollback_choice.script_warnings(generated_script)
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
