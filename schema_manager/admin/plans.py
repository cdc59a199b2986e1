"""What an apply or rollback from the admin would do, shown before anyone confirms it.

One ``PlanItem`` per selected migration: its SQL, the rollback script (given or generated),
the validation result and, in one sentence, what will happen. Building a plan changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import DatabaseError, connections
from django.utils.translation import gettext as _

from .. import planning, rollback_choice, services
from ..backends import get_backend
from ..confirmations import Shown
from ..exceptions import SchemaManagerError
from ..models import Migration, VersionRecord
from ..results import ValidationResult
from ..security import scrub
from ..sql import check_sql, parse_statements
from ..sql.statements import is_streamed
from ..sql.transactional import Atomicity, Engine, atomicity, controls_transactions
from ..state import State
from ..targets import Target, resolve
from ..workspace import Workspace
from .consequences import apply_consequence, rollback_consequence
from .states import DiskSnapshot, EnvironmentState, read_ledger, state_in

# An apply refuses these: the target holds other SQL, or an attempt to resolve, or its
# ledger or the migration's folder cannot be read (so what it holds is unknown).
REFUSED = frozenset({State.MODIFIED, State.UNKNOWN, State.UNRESOLVED, State.UNREADABLE})


@dataclass
class PlanItem:
    migration: Migration
    state: EnvironmentState
    rollback_script: str = ""
    rollback_generated: bool = False
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Destructive statements blocked in a protected environment (the only errors, if True).
    blocked_destructive: bool = False
    # In a protected environment, the migrations earlier by id still pending there that it
    # would run before (it runs only if out of order is allowed), or "".
    out_of_order: str = ""
    will_run: bool = False
    # Nothing to do, and no error: already applied (an apply skips it and goes on).
    skipped: bool = False
    consequence: str = ""
    statements: int = 0  # from the validation's analysis of the script
    atomicity: Atomicity = Atomicity.ONE_TRANSACTION  # how the script runs there
    # Shown again because it changed after an earlier confirmation page showed it.
    changed: bool = False

    @property
    def shown(self) -> Shown:
        """What the page shows, by checksum: confirming runs exactly this (``confirmations``)."""
        return Shown.of(self.migration.sql, self.rollback_script)


def engine(target: Target) -> Engine:
    return get_backend(connections[target.alias]).engine


def apply_plan(
    migrations: list[Migration], target: Target, on_disk: DiskSnapshot
) -> list[PlanItem]:
    snapshot = read_ledger(target)
    try:  # the whole plan at once: ledger, catalogue and history read once
        validations: Sequence[ValidationResult | None]
        validations = services.validate(migrations, target.environment)
        order = _order(migrations, target)
        unreadable = ""
    except (DatabaseError, SchemaManagerError) as exc:
        validations, unreadable = [None] * len(migrations), scrub(str(exc))
        order = {}
    items = []
    for migration, validation in zip(migrations, validations, strict=True):
        item = PlanItem(migration, state_in(migration, snapshot, on_disk))
        item.out_of_order, order_warning = order.get(migration.id, ("", None))
        item.rollback_script, item.rollback_generated = migration.rollback_sql, False
        if validation is None:
            item.errors = [unreadable]
        else:
            if validation.rollback_script:  # what the apply will store, capture included
                item.rollback_script = validation.rollback_script
                item.rollback_generated = validation.rollback_generated
            item.errors = validation.errors
            item.warnings = [*validation.warnings, *([order_warning] if order_warning else [])]
            item.statements = validation.statements
            item.atomicity = validation.atomicity
            item.blocked_destructive = bool(item.errors) and all(
                finding.destructive
                for finding in validation.findings
                if finding.severity == "error"
            )
        item.will_run, item.consequence = _apply_consequence(item, target)
        item.skipped = item.state.state is State.APPLIED
        items.append(item)
    return items


def _order(migrations: list[Migration], target: Target) -> dict[str, tuple[str, str | None]]:
    """Migration id -> (the earlier migrations still pending that a protected environment
    refuses to run it before, or ""; the warning it is applied with elsewhere), each earlier
    one of the plan assumed applied: the gate an apply passes (``policy.OrderGate``)."""
    gate = planning.order_gate(target, Workspace().directory)
    found: dict[str, tuple[str, str | None]] = {}
    for migration in migrations:
        refusal, warning = gate.check(migration.id, allowed=False)
        found[migration.id] = (gate.pending_before(migration.id) if refusal else "", warning)
        gate.applied(migration.id)
    return found


def _apply_consequence(item: PlanItem, target: Target) -> tuple[bool, str]:
    state = item.state.state
    if state is State.APPLIED:
        return False, _("Already applied in %(env)s, will be skipped.") % {
            "env": target.environment
        }
    if state in REFUSED:
        return False, _("Will be refused: %(detail)s") % {
            "detail": item.state.detail or item.state.label
        }
    if item.errors and not item.blocked_destructive:
        return False, _("Blocked by validation errors: nothing will run.")
    blocks = []
    if item.blocked_destructive:
        blocks.append(
            _(
                "Blocked: destructive statements in a protected environment. Tick “allow "
                "destructive statements” below to run it anyway."
            )
        )
    if item.out_of_order:
        blocks.append(
            _(
                "Blocked: it would run out of order, before %(earlier)s (earlier by id, still "
                "pending in %(env)s). Tick “allow out of order” below to run it anyway."
            )
            % {"earlier": item.out_of_order, "env": target.environment}
        )
    if blocks:
        return False, " ".join(blocks)
    # Counted and decided by the analysis: the script is not read again (its own transaction
    # control is asked of the parse the analysis made, cached, as the executor asks it).
    sql = item.migration.sql
    own = not is_streamed(sql) and controls_transactions(parse_statements(sql, target.vendor))
    return True, apply_consequence(item.atomicity, item.statements, target, own_transactions=own)


def rollback_plan(
    migrations: list[Migration], target: Target, on_disk: DiskSnapshot
) -> list[PlanItem]:
    snapshot = read_ledger(target)
    items = []
    for migration in migrations:
        item = PlanItem(migration, state_in(migration, snapshot, on_disk))
        if not item.state.is_applied:
            item.rollback_script, item.rollback_generated = rollback_choice.script_for(
                migration, target.vendor
            )
            item.consequence = _("Not applied in %(env)s: nothing to roll back.") % {
                "env": target.environment
            }
            items.append(item)
            continue
        item.rollback_script = planning.rollback_script_in_force(migration.id, target)
        item.rollback_generated = _recorded_as_generated(migration, target, item)
        problem = rollback_choice.why_unusable(migration.id, item.rollback_script)
        findings = check_sql(item.rollback_script) if not problem else []
        item.errors = [problem] if problem else []
        item.errors += [f.message for f in findings if f.severity == "error"]
        item.warnings = [f.message for f in findings if f.severity == "warning"]
        item.will_run = not item.errors
        if item.will_run:
            statements = parse_statements(item.rollback_script, target.vendor)
            item.atomicity = atomicity(item.rollback_script, engine(target), statements)
            item.consequence = rollback_consequence(item.atomicity, len(statements), target)
        else:
            item.consequence = _("Cannot be rolled back: nothing will run.")
        items.append(item)
    return items


def _recorded_as_generated(migration: Migration, target: Target, item: PlanItem) -> bool:
    """Whether the script in force was generated (as recorded when it was applied)."""
    ledger_id = item.state.row.id if item.state.row else ""
    recorded = (
        VersionRecord.objects.filter(
            environment=target.environment,
            ledger_id=ledger_id,
            status=VersionRecord.Status.APPLIED,
        )
        .values_list("rollback_generated", flat=True)
        .first()
    )
    if recorded is not None:
        return recorded
    return not migration.rollback_sql.strip()


def rollbacks_in_force(
    migration: Migration, states: dict[str, EnvironmentState], on_disk: DiskSnapshot
) -> list[tuple[list[str], PlanItem]]:
    """The rollback that would run in each environment where ``migration`` is applied, the
    environments with the same script (and the same verdict on it) together."""
    groups: dict[tuple[str, bool, tuple[str, ...]], tuple[list[str], PlanItem]] = {}
    for environment, state in states.items():
        if not state.is_applied:
            continue
        [item] = rollback_plan([migration], resolve(environment), on_disk)
        key = (item.rollback_script, item.rollback_generated, tuple(item.errors))
        groups.setdefault(key, ([], item))[0].append(environment)
    return list(groups.values())
