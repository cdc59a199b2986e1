"""Which rollback script applies to a migration, and whether it may be run."""

from __future__ import annotations

import textwrap

from .capture import capture
from .models import Migration, VersionRecord, id_chunks
from .sql import generate_rollback, parse_statements
from .sql.archive_plan import ArchivePlan
from .sql.archive_restore import extend_rollback
from .sql.rollback import CAUTION_PREFIX, NOTE_PREFIX, WARNING_PREFIX


def script_for(
    migration: Migration,
    vendor: str,
    alias: str | None = None,
    archive: ArchivePlan | None = None,
) -> tuple[str, bool]:
    """(script, generated): the migration's own rollback, or one generated for ``vendor``;
    given the target's ``alias``, what the SQL drops is first captured from its catalog;
    given what the apply ``archive``s, its restore steps follow the catalogue steps."""
    if migration.rollback_sql.strip():
        # Dedented for reading: scripts often come from indented triple-quoted strings.
        return textwrap.dedent(migration.rollback_sql).strip(), False
    captured = capture(migration.sql, alias) if alias else None
    if captured and archive is not None:
        # What the archive moves back whole (a dropped table) it undoes itself.
        for index in list(captured):
            if archive.moves_back(index):
                captured.pop(index)
    script = generate_rollback(migration.sql, vendor, captured)
    if archive is not None:  # the one place archive restores join the rollback
        script = extend_rollback(script, archive)
    return script.text, True


def script_in_force(environment: str, ledger_id: str, migration_id: str, vendor: str) -> str:
    """The script recorded when the live ledger row was applied; else the catalogue's."""
    recorded = (
        VersionRecord.objects.filter(
            environment=environment, ledger_id=ledger_id, status=VersionRecord.Status.APPLIED
        )
        .values_list("rollback_script", flat=True)
        .first()
    )
    if recorded:
        return recorded
    migration = Migration.objects.filter(pk=migration_id).first()
    return script_for(migration, vendor)[0] if migration else ""


def scripts_in_force(environment: str, live_rows: dict[str, str], vendor: str) -> dict[str, str]:
    """``script_in_force`` for many migrations at once: live ledger row id -> script.

    ``live_rows`` maps each migration id to its live ledger row's id; two queries per
    ``IDS_PER_QUERY`` migrations, however long the history.
    """
    scripts: dict[str, str] = {}
    for chunk in id_chunks(live_rows.values()):
        recorded = VersionRecord.objects.filter(
            environment=environment, ledger_id__in=chunk, status=VersionRecord.Status.APPLIED
        ).values_list("ledger_id", "rollback_script")
        scripts.update((ledger_id, script) for ledger_id, script in recorded if script)
    missing = [mid for mid, ledger_id in live_rows.items() if ledger_id not in scripts]
    for chunk in id_chunks(missing):
        for migration in Migration.objects.filter(pk__in=chunk):
            scripts[live_rows[migration.id]] = script_for(migration, vendor)[0]
    for migration_id in missing:
        scripts.setdefault(live_rows[migration_id], "")
    return scripts


def why_unusable(
    migration_id: str, script: str, vendor: str | None = None, *, migration_sql: str = ""
) -> str | None:
    """Why ``script`` must not run as the rollback of ``migration_id``; None if it may.

    ``vendor``: the target's, so that the script is split once for this and for running it.
    An empty script may roll back a migration whose ``migration_sql`` has no statements
    either (Prisma's empty migration), or one whose script says why nothing needs to run
    (a ``-- NOTE:``: a migration that changes rows only)."""
    warnings = script_warnings(script)
    if warnings:
        return (
            f"Migration {migration_id!r} cannot be rolled back automatically: "
            f"{' '.join(warnings)} Give the migration a rollback_sql (down.sql) that handles it."
        )
    if (
        not parse_statements(script, vendor)
        and not _lines(script, NOTE_PREFIX)
        and (not migration_sql or parse_statements(migration_sql, vendor))
    ):
        return f"Migration {migration_id!r} has no rollback script to run."
    return None


def script_warnings(script: str) -> list[str]:
    """The ``-- WARNING:`` lines of a rollback script: statements it could not invert."""
    return _lines(script, WARNING_PREFIX)


def script_cautions(script: str) -> list[str]:
    """The ``-- CAUTION:`` lines of a rollback script: how what it restores may differ."""
    return _lines(script, CAUTION_PREFIX)


def _lines(script: str, prefix: str) -> list[str]:
    lines = (line.strip() for line in script.splitlines())
    return [line[len(prefix) :].strip() for line in lines if line.startswith(prefix)]
