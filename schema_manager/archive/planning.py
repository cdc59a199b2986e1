"""Whether and how a migration's apply archives what it removes in an environment: the plan,
its estimated size, and what validation must say about it (refusals included)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from django.db import DatabaseError, connections, transaction

from ..conf import app_settings
from ..models import Migration
from ..security import get_logger
from ..sql import Finding, parse_directives, parse_statements
from ..sql.archive_plan import ArchivePlan, ArchiveStep, tables_named
from ..sql.archive_steps import plan_archive
from ..sql.transactional import controls_transactions
from ..targets import Target
from .catalog import read_tables

logger = get_logger("schema_manager.archive")


@dataclass
class Prepared:
    """The archive an apply would take: ``plan`` None when it takes none."""

    plan: ArchivePlan | None = None
    findings: list[Finding] = field(default_factory=list)
    rows: int = 0
    copied_bytes: int = 0
    sizes: dict[int, tuple[int, int] | None] = field(default_factory=dict)  # step -> size


def enabled(target: Target) -> bool:
    return target.environment in app_settings.ARCHIVE_ENVIRONMENTS


def prepare(
    migration: Migration, target: Target, *, stepwise: bool, allow_destructive: bool
) -> Prepared:
    """The archive plan of ``migration`` for ``target``, with its size and findings:
    statements that cannot be archived refuse the apply in a protected environment (unless
    the migration accepts the loss), and so does a size over the cap unless the operator
    confirmed (``allow_destructive``)."""
    if not enabled(target) or migration.rollback_sql.strip():
        return Prepared()  # a hand-written rollback would not restore an archive
    vendor = target.vendor
    try:
        # A TRUNCATE … CASCADE empties the tables referencing its own: read those too.
        cascades = "CASCADE" in migration.sql.upper()
        tables = read_tables(target.alias, tables_named(migration.sql, vendor), cascades)
    except DatabaseError as exc:
        return _refused(target, f"the target's catalog could not be read: {exc}")
    plan = plan_archive(migration.sql, vendor, migration.id, tables)
    accepts = parse_directives(migration.sql).accept_data_loss
    prepared = Prepared(plan)
    if plan.steps and (apart := _runs_apart(migration, target, stepwise)):
        plan.gaps.append(apart)
        plan.steps.clear()
    for gap in plan.gaps:
        prepared.findings.append(_gap(gap, target, accepts))
    if not plan.steps:
        prepared.plan = None if not plan.gaps else plan
        return prepared
    _estimate(prepared, target)
    _bound(prepared, target, accepts, allow_destructive)
    return prepared


def _runs_apart(migration: Migration, target: Target, stepwise: bool) -> str | None:
    """Why the script's statements run where its archive cannot follow them, if they do."""
    if controls_transactions(parse_statements(migration.sql, target.vendor)):
        return "scripts with their own BEGIN / COMMIT are not archived"
    if target.vendor == "mysql":
        if not getattr(connections[target.alias], "mysql_is_mariadb", False):
            return (
                "MySQL is not archived (MariaDB is): an interrupted archive is put back with "
                "ADD COLUMN IF NOT EXISTS and RENAME TABLE IF EXISTS, which MySQL lacks"
            )
        return None  # statement by statement, each capture in its statement's step
    if stepwise:
        return (
            "statements that run outside one transaction (no-transaction scripts, statements "
            "that refuse one) are not archived on PostgreSQL and SQLite"
        )
    return None


def _refused(target: Target, why: str) -> Prepared:
    message = f"Nothing is archived: {why}."
    return Prepared(findings=[_gap_finding(message, target.is_protected)])


def _gap_finding(message: str, refused: bool) -> Finding:
    return Finding("archive", "error" if refused else "warning", message)


def _gap(gap: str, target: Target, accepts: bool) -> Finding:
    message = f"Data loss: {gap}."
    if accepts:
        return Finding("archive", "warning", message + " Accepted by the migration's "
                       "'-- schema-manager: accept-data-loss'.")  # fmt: skip
    if target.is_protected:
        return Finding(
            "archive",
            "error",
            f"{message} Refused in {target.environment}, where what a migration removes "
            "must be archived; add '-- schema-manager: accept-data-loss' to the migration "
            "to apply it anyway.",
        )
    return Finding("archive", "warning", message)


def _estimate(prepared: Prepared, target: Target) -> None:
    assert prepared.plan is not None
    connection = connections[target.alias]
    for number, step in enumerate(prepared.plan.steps):
        try:
            with transaction.atomic(using=target.alias), connection.cursor() as cursor:
                cursor.execute(step.estimate)
                rows, size = cursor.fetchone()
        except DatabaseError:  # e.g. a column the script adds before the statement
            logger.info("Could not estimate the archive of %s", step.summary, exc_info=True)
            prepared.sizes[number] = None
            continue
        prepared.sizes[number] = (int(rows), int(size))
        prepared.rows += int(rows)
        if step.copies:
            prepared.copied_bytes += int(size)


def _bound(prepared: Prepared, target: Target, accepts: bool, allow_destructive: bool) -> None:
    assert prepared.plan is not None
    prepared.findings.append(Finding("archive", "warning", summary(prepared)))
    cap = app_settings.archive_max_bytes(target.environment)
    if cap is None or prepared.copied_bytes <= cap:
        return
    over = (
        f"The archive would copy {megabytes(prepared.copied_bytes)}, over the "
        f"{megabytes(cap)} allowed in {target.environment} (ARCHIVE_MAX_BYTES)."
    )
    if accepts:
        prepared.plan = None  # the migration accepts losing the data: nothing is archived
        prepared.findings.append(
            Finding(
                "archive",
                "warning",
                f"{over} Nothing is archived: the migration accepts the loss "
                "('-- schema-manager: accept-data-loss').",
            )
        )
    elif allow_destructive:
        prepared.findings.append(
            Finding("archive", "warning", f"{over} Archived all the same, as confirmed.")
        )
    else:
        prepared.findings.append(
            Finding(
                "archive-cap",
                "error",
                f"{over} Confirm it (--allow-destructive, or tick “allow destructive "
                "statements”), or add '-- schema-manager: accept-data-loss' to the "
                "migration to apply it without archiving.",
                destructive=True,
            )
        )


def annotate(findings: list[Finding], plan: ArchivePlan | None) -> list[Finding]:
    """The destructive rules' findings of statements the archive keeps, saying so (their
    "cannot be undone" no longer holds; they still block where destructive statements do)."""
    if plan is None or not plan.steps:
        return findings
    kept = {step.index + 1 for step in plan.steps}
    annotated = []
    for finding in findings:
        number = _statement_number(finding.message) if finding.destructive else None
        if number in kept:
            finding = replace(
                finding,
                message=f"{finding.message} It is archived when it runs: the generated rollback "
                "restores it.",
            )
        annotated.append(finding)
    return annotated


def _statement_number(message: str) -> int | None:
    words = message.split(" ", 2)
    if len(words) > 1 and words[0] == "Statement" and words[1].isdigit():
        return int(words[1])
    return None


def summary(prepared: Prepared) -> str:
    """ "N rows / X MB will be archived", and where."""
    assert prepared.plan is not None
    steps: list[ArchiveStep] = prepared.plan.steps
    parts = []
    for number, step in enumerate(steps):
        size = prepared.sizes.get(number)
        amount = f"{size[0]:,} rows" if size else "rows not estimated"
        how = "moved" if not step.copies else "copied"
        parts.append(f"statement {step.index + 1} ({step.kind} of {step.table}): {amount} {how}")
    return (
        f"{prepared.rows:,} rows / {megabytes(prepared.copied_bytes)} will be archived "
        f"({'; '.join(parts)}); the generated rollback restores them."
    )


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB"
