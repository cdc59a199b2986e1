from __future__ import annotations

import json
import sys

from ... import planning
from ...change_requests.service import overdue_reviews
from ...state import NOT_DEPLOYED, State
from ...status import MigrationState
from ...targets import Target, all_targets, resolve
from ._base import SchemaCommand


class Command(SchemaCommand):
    help = (
        "Show each schema migration's state (on disk, in the catalogue, in the ledger) in an "
        "environment, or in all of them."
    )

    def add_arguments(self, parser) -> None:
        self.add_environment_argument(parser)
        parser.add_argument(
            "--all-environments",
            action="store_true",
            help="Show every configured environment (default: only --environment's).",
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Exit 1 if any migration is not applied (pending, failed, rolled back, "
            "unresolved), modified since it was applied, or in a folder that cannot be read, "
            "or a break-glass run's review is overdue.",
        )

    def handle(self, *args, environment: str | None, **options) -> None:
        targets = all_targets() if options["all_environments"] else [resolve(environment)]
        report = [(target, planning.status(self.workspace.directory, target)) for target in targets]
        if options["format"] == "json":
            payloads = [_payload(target, states) for target, states in report]
            data = {"environments": payloads} if options["all_environments"] else payloads[0]
            self.stdout.write(json.dumps(data, indent=2))
        else:
            for target, states in report:
                self._write_text(target, states)
        overdue = [r for t in targets for r in overdue_reviews(t.environment)]
        for request in overdue:
            self.stderr.write(
                f"{request.label} ({request.environment}): the review of this break-glass run "
                f"was due {request.review_due_at:%Y-%m-%d %H:%M} UTC."
            )
        if options["check"] and (
            overdue or any(state.state in NOT_DEPLOYED for _, states in report for state in states)
        ):
            sys.exit(1)

    def _write_text(self, target: Target, states: list[MigrationState]) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"{target.environment} ({target.alias}):"))
        if not states:
            self.stdout.write("  (no migrations)")
        styles = {
            State.APPLIED: self.style.SUCCESS,
            State.PENDING: self.style.WARNING,
            State.FAILED: self.style.ERROR,
            State.UNRESOLVED: self.style.ERROR,
            State.MODIFIED: self.style.ERROR,
            State.MISSING: self.style.NOTICE,
            State.MISSING_ON_DISK: self.style.NOTICE,
            State.ROLLED_BACK: self.style.NOTICE,
            State.UNREADABLE: self.style.ERROR,
            State.UNKNOWN: self.style.ERROR,
        }
        for state in states:
            line = f"  [{state.state.label:^11}] {state.migration_id}"
            self.stdout.write(styles[state.state](line) + _details(state))


def _details(state: MigrationState) -> str:
    if state.state is State.UNREADABLE:
        return f"  {state.error}"  # what is wrong with the folder, whatever its history
    parts = []
    if state.applied_at and state.state in {State.APPLIED, State.MODIFIED, State.MISSING}:
        applied = f"applied {state.applied_at:%Y-%m-%d %H:%M:%S}"
        if state.applied_by:
            applied += f" by {state.applied_by}"
        if state.faked:
            applied += " (faked)"
        elif state.execution_time is not None:
            applied += f" in {state.execution_time:.3f}s"
        parts.append(applied)
    if state.state is State.ROLLED_BACK and state.rolled_back_at:
        parts.append(f"rolled back {state.rolled_back_at:%Y-%m-%d %H:%M:%S}")
    if state.state in {State.FAILED, State.UNRESOLVED}:
        when = state.rolled_back_at or state.applied_at
        error = state.error.strip().splitlines()[0][:120] if state.error.strip() else ""
        if when:
            parts.append(f"{state.state} {when:%Y-%m-%d %H:%M:%S}: {error}")
        elif error:
            parts.append(error)
    if state.state is State.MODIFIED:
        where = "" if state.applied_at else " in another environment"
        parts.append(
            f"applied{where} with checksum {state.applied_checksum}, SQL now has checksum "
            f"{state.current_checksum}"
        )
    if state.state is State.MISSING:
        parts.append("not on disk nor in the catalogue")
    elif state.state is State.MISSING_ON_DISK:
        parts.append(
            "folder deleted before it was applied anywhere: never planned; "
            "apply_schema_migration --prune removes it"
        )
    elif state.in_catalogue and not state.on_disk and state.state is not State.PENDING:
        parts.append("not on disk")
    return "".join(f"  {part}" for part in parts)


def _payload(target: Target, states: list[MigrationState]) -> dict[str, object]:
    return {
        "environment": target.environment,
        "database": target.alias,
        "migrations": [state.as_dict() for state in states],
    }
