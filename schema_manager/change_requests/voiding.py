"""Any edit of a pinned migration's SQL or rollback voids the decisions on the open requests
that pin it, in the transaction of the edit (``Migration.save`` is atomic)."""

from __future__ import annotations

import textwrap
from typing import Any

from ..checksums import migration_checksum
from ..models import Migration
from .models import ChangeRequest, PinnedMigration
from .service import VOIDABLE, void


def migration_saved(sender: type, instance: Migration, **kwargs: Any) -> None:
    pins = PinnedMigration.objects.filter(
        migration_id=instance.pk, request__state__in=VOIDABLE
    ).select_related("request")
    if not pins:
        return
    sql = migration_checksum(instance.sql)
    given_rollback = instance.rollback_sql.strip()
    for pin in pins:
        changed = []
        if sql != pin.sql_checksum:
            changed.append(f"SQL (checksum {pin.sql_checksum} pinned, {sql} now)")
        if pin.request.operation != ChangeRequest.Operation.APPLY:
            pass  # a rollback runs the script recorded at apply, not the catalogue's
        elif given_rollback and pin.rollback_script.strip() != _dedented(instance.rollback_sql):
            changed.append("rollback script")
        elif not given_rollback and pin.request.snapshot and not _was_generated(pin):
            changed.append("rollback script (removed)")
        if changed:
            void(
                pin.request,
                f"{instance.pk}'s {' and '.join(changed)} changed after it was pinned: "
                "decisions voided; submit it again",
            )


def _dedented(script: str) -> str:
    return textwrap.dedent(script).strip()


def _was_generated(pin: PinnedMigration) -> bool:
    for entry in pin.request.snapshot.get("migrations", []):
        if entry.get("id") == pin.migration_id:
            return bool(entry.get("rollback_generated"))
    return True
