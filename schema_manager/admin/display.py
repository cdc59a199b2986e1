"""Small HTML fragments shared by the admin pages. Every value is escaped by format_html."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from ..models import VersionRecord
from ..state import State
from .states import EnvironmentState

if TYPE_CHECKING:
    from .plans import PlanItem


def badge(state: State | VersionRecord.Status, title: str = "", *, label: str = "") -> SafeString:
    """A coloured label for a state (a ``State`` or a history record's status), its detail
    as a tooltip."""
    return format_html(
        '<span class="sm-badge sm-badge-{}" title="{}">{}</span>',
        state.value,
        title,
        label or state.label,
    )


def state_badge(state: EnvironmentState) -> SafeString:
    return badge(state.state, _tooltip(state))


def _tooltip(state: EnvironmentState) -> str:
    parts = []
    row = state.row
    if row is not None and row.finished_at and state.state in {State.APPLIED, State.MODIFIED}:
        parts.append(f"Applied {when(row.finished_at)}")
    if row is not None and row.rolled_back_at and state.state is State.ROLLED_BACK:
        parts.append(f"Rolled back {when(row.rolled_back_at)}")
    if state.detail:
        parts.append(state.detail)
    return " — ".join(parts)


def when(value) -> str:
    return date_format(localtime(value), "SHORT_DATETIME_FORMAT") if value else ""


def code_block(text: str) -> SafeString:
    """SQL or an error in a monospace block (escaped, never marked safe as is)."""
    return format_html('<pre class="sm-code">{}</pre>', text)


def rollback_blocks(groups: list[tuple[list[str], PlanItem]]) -> SafeString | str:
    """Each rollback script in force (``plans.rollbacks_in_force``): where, given or
    generated, why it cannot run if it cannot, and the script."""
    if not groups:
        return "—"
    return format_html_join(
        "",
        '<div class="sm-rollback-in-force"><p class="sm-rollback-where">{} '
        '<span class="sm-tag">{}</span></p>{}<pre class="sm-code">{}</pre></div>',
        (
            (
                ", ".join(environments),
                _("generated") if item.rollback_generated else _("given"),
                format_html_join("", '<p class="errornote">{}</p>', ((e,) for e in item.errors)),
                item.rollback_script or _("(none)"),
            )
            for environments, item in groups
        ),
    )
