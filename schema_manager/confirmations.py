"""What an operator confirmed: the checksums of the scripts a confirmation showed.

A confirmation page (the admin's) shows each migration's SQL and rollback script; confirming
must run exactly those. Their checksums travel with the confirmation and are compared again
under the migration lock, just before each migration runs: a script edited since, or
generated differently now, refuses the migration and nothing of it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .checksums import migration_checksum


@dataclass(frozen=True)
class Shown:
    """The checksums of the scripts shown for one migration (``migration_checksum``)."""

    sql: str
    rollback: str
    # Where the checksums were pinned instead of shown ("change request #7"), for the refusal.
    pinned_in: str = ""

    @classmethod
    def of(cls, sql: str, rollback_script: str) -> Shown:
        return cls(migration_checksum(sql), migration_checksum(rollback_script))


# Migration id -> what its confirmation showed; None where nothing is to be confirmed (the
# API and the commands, whose caller chose the migrations themselves).
Confirmed = Mapping[str, Shown] | None


def difference(
    confirmed: Confirmed, migration_id: str, *, sql: str | None = None, rollback: str | None = None
) -> str | None:
    """Why the scripts about to run for ``migration_id`` are not those confirmed, or None.

    ``sql`` is the checksum of the SQL that will run, ``rollback`` that of the rollback script
    that will run (or be stored with the apply); each one given is compared.
    """
    if confirmed is None:
        return None
    shown = confirmed.get(migration_id)
    if shown is None:
        return "it was not among the migrations confirmed (no checksums of what was shown)"
    for what, expected, now in (
        ("SQL", shown.sql, sql),
        ("rollback script", shown.rollback, rollback),
    ):
        if now is not None and now != expected and shown.pinned_in:
            return (
                f"its {what} is not the one approved in {shown.pinned_in} (checksum {expected} "
                f"approved, {now} would run)"
            )
        if now is not None and now != expected:
            return (
                f"its {what} changed after it was shown for confirmation (checksum {expected} "
                f"shown, {now} now)"
            )
    return None
