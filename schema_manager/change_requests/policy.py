"""The approval policy of each environment, read from ``SCHEMA_MANAGER["APPROVALS"]``.

An environment without an entry has no policy: applies and rollbacks there need no change
request (the integration guide's direct apply to production works by default). The key
``"<fleet>:*"`` is the policy of every target of a fleet (their environments are
``"<fleet>:<target key>"``): its requests name ``"<fleet>:*"`` and its rollouts run under them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db import connections

from ..conf import app_settings
from ..targets import resolve

# The keys an environment's policy may have, with their defaults.
POLICY_DEFAULTS: dict[str, Any] = {
    "required": 1,
    "groups": [],
    "forbid_author": True,
    "forbid_last_editor": True,
    "forbid_executor_approval": True,
    "expire_after_hours": 72,
    "require_rehearsal": False,
    "windows": [],
    "break_glass_review_hours": 24,
}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Window:
    """Days of the week and a time span (UTC) when changes may run; ``end`` may be past
    midnight (22:00 to 02:00 runs into the next day)."""

    days: frozenset[int]
    start: datetime.time
    end: datetime.time

    def contains(self, moment: datetime.datetime) -> bool:
        moment = moment.astimezone(datetime.UTC)
        clock, day = moment.time(), moment.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= clock < self.end
        # Past midnight: the evening of a listed day, or the morning after one.
        return (day in self.days and clock >= self.start) or (
            (day - 1) % 7 in self.days and clock < self.end
        )

    def next_opening(self, after: datetime.datetime) -> datetime.datetime:
        """The first moment at or after ``after`` that this window is open."""
        moment = after.astimezone(datetime.UTC)
        if self.contains(moment):
            return moment
        for offset in range(8):
            day = (moment + datetime.timedelta(days=offset)).date()
            if day.weekday() in self.days:
                opening = datetime.datetime.combine(day, self.start, tzinfo=datetime.UTC)
                if opening >= moment:
                    return opening
        raise ValueError("a window with no days never opens")


@dataclass(frozen=True)
class ApprovalPolicy:
    environment: str
    required: int = 1
    groups: tuple[str, ...] = ()
    forbid_author: bool = True
    forbid_last_editor: bool = True
    forbid_executor_approval: bool = True
    expire_after_hours: float | None = 72
    require_rehearsal: bool = False
    windows: tuple[Window, ...] = field(default_factory=tuple)
    break_glass_review_hours: float = 24

    def in_window(self, moment: datetime.datetime) -> bool:
        return not self.windows or any(window.contains(moment) for window in self.windows)

    def next_opening(self, after: datetime.datetime) -> datetime.datetime:
        return min(window.next_opening(after) for window in self.windows) if self.windows else after


FLEET_SCOPE = ":*"


def fleet_scope(environment: str) -> str | None:
    """The fleet a request's environment covers whole (``"tenants:*"`` -> ``"tenants"``)."""
    return environment[: -len(FLEET_SCOPE)] if environment.endswith(FLEET_SCOPE) else None


def covers(scope: str, environment: str) -> bool:
    """Whether a request for ``scope`` is one for ``environment``: the same environment, or
    a fleet's every target and one of them."""
    fleet = fleet_scope(scope)
    return scope == environment or (fleet is not None and environment.startswith(f"{fleet}:"))


def policy_for(environment: str) -> ApprovalPolicy | None:
    """The environment's policy (a fleet target's: its fleet's ``"<fleet>:*"``), or None
    where changes need no approval."""
    policies = app_settings.raw("APPROVALS") or {}
    key = environment
    if key not in policies and ":" in environment:
        key = environment.split(":", 1)[0] + FLEET_SCOPE
    raw = policies.get(key)
    if raw is None:
        return None
    values = {**POLICY_DEFAULTS, **raw}
    return ApprovalPolicy(
        environment=key,
        required=int(values["required"]),
        groups=tuple(values["groups"]),
        forbid_author=bool(values["forbid_author"]),
        forbid_last_editor=bool(values["forbid_last_editor"]),
        forbid_executor_approval=bool(values["forbid_executor_approval"]),
        expire_after_hours=(
            None if values["expire_after_hours"] is None else float(values["expire_after_hours"])
        ),
        require_rehearsal=bool(values["require_rehearsal"]),
        windows=tuple(parse_window(window) for window in values["windows"]),
        break_glass_review_hours=float(values["break_glass_review_hours"]),
    )


def sharing_database(environment: str) -> str | None:
    """For a fleet's target without a policy: the guarded environment whose database it is
    on (same engine, host, port and name), or None. A fleet over production's database needs
    a policy of its own (``"<fleet>:*"``); it is not a way around production's."""
    if environment in app_settings.ENVIRONMENTS or fleet_scope(environment) is not None:
        return None
    guarded = [key for key in (app_settings.raw("APPROVALS") or {}) if fleet_scope(key) is None]
    if not guarded:
        return None
    mine = _database(resolve(environment).alias)
    return next((key for key in guarded if _database(resolve(key).alias) == mine), None)


def _database(alias: str) -> tuple[str, ...]:
    config = connections[alias].settings_dict  # a fleet's target: not in DATABASES
    return tuple(str(config.get(key) or "") for key in ("ENGINE", "HOST", "PORT", "NAME"))


def parse_window(raw: Any) -> Window:
    """``{"days": "mon-fri", "start": "02:00", "end": "04:00"}`` (days: "mon-fri", "sat,sun",
    a list of names, or "*"); raises ValueError naming what is wrong."""
    if not isinstance(raw, dict) or not {"start", "end"} <= set(raw):
        raise ValueError(f"{raw!r} is not a dict with 'start' and 'end' (and 'days')")
    days = _days(raw.get("days", "*"))
    start, end = (_time(raw[key], key) for key in ("start", "end"))
    if start == end:
        raise ValueError(f"{raw!r} opens and closes at the same time")
    return Window(days, start, end)


def _days(raw: Any) -> frozenset[int]:
    if raw == "*":
        return frozenset(range(7))
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    days: set[int] = set()
    for part in (str(part).strip() for part in parts):
        if "-" in part:
            first, last = (DAYS.index(_day(name)) for name in part.split("-", 1))
            days.update((first + offset) % 7 for offset in range((last - first) % 7 + 1))
        else:
            days.add(DAYS.index(_day(part)))
    if not days:
        raise ValueError("no days given")
    return frozenset(days)


def _day(name: str) -> str:
    short = name.strip().lower()[:3]
    if short not in DAYS:
        raise ValueError(f"{name!r} is not a day of the week (mon … sun)")
    return short


def _time(raw: Any, key: str) -> datetime.time:
    try:
        return datetime.time.fromisoformat(str(raw))
    except ValueError:
        raise ValueError(f"{key} {raw!r} is not a time such as '02:00'") from None


def problems() -> list[str]:
    """Every mistake in ``SCHEMA_MANAGER["APPROVALS"]``, one sentence each (system checks)."""
    raw = app_settings.raw("APPROVALS")
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return ["SCHEMA_MANAGER['APPROVALS'] must be a dict: environment -> policy."]
    found = []
    environments = app_settings.ENVIRONMENTS
    fleets = app_settings.raw("FLEETS") or {}
    for environment, entry in raw.items():
        where = f"SCHEMA_MANAGER['APPROVALS'][{environment!r}]"
        fleet = fleet_scope(str(environment))
        if fleet is not None and fleet not in fleets:
            found.append(f"{where} names no fleet of SCHEMA_MANAGER['FLEETS'].")
        elif fleet is None and environment not in environments:
            found.append(f"{where} names an environment that is not configured.")
        if not isinstance(entry, dict):
            found.append(f"{where} must be a dict.")
            continue
        unknown = sorted(set(entry) - set(POLICY_DEFAULTS))
        if unknown:
            found.append(f"{where} has unknown key(s) {', '.join(map(repr, unknown))}.")
        found.extend(_value_problems(where, {**POLICY_DEFAULTS, **entry}))
    return found


def _value_problems(where: str, values: dict[str, Any]) -> list[str]:
    found = []
    required = values["required"]
    if not isinstance(required, int) or isinstance(required, bool) or required < 1:
        found.append(f"{where}['required'] must be a whole number of at least 1.")
    groups = values["groups"]
    if not isinstance(groups, list | tuple) or not all(isinstance(g, str) for g in groups):
        found.append(f"{where}['groups'] must be a list of group names.")
    for key in ("forbid_author", "forbid_last_editor", "forbid_executor_approval"):
        if not isinstance(values[key], bool):
            found.append(f"{where}[{key!r}] must be True or False.")
    if values["forbid_author"] is False:
        found.append(
            f"{where}['forbid_author'] is False: an author could approve their own change, "
            "which is not four-eyes approval."
        )
    for key in ("expire_after_hours", "break_glass_review_hours"):
        value = values[key]
        if value is None and key == "expire_after_hours":
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            found.append(f"{where}[{key!r}] must be a positive number of hours.")
    if not isinstance(values["windows"], list | tuple):
        found.append(f"{where}['windows'] must be a list.")
    else:
        for window in values["windows"]:
            try:
                parse_window(window)
            except (ValueError, AttributeError, TypeError) as exc:
                found.append(f"{where}['windows']: {exc}.")
    return found


def notification_problems() -> list[str]:
    """Mistakes in ``SCHEMA_MANAGER["CHANGE_NOTIFICATIONS"]``."""
    raw = app_settings.raw("CHANGE_NOTIFICATIONS")
    where = "SCHEMA_MANAGER['CHANGE_NOTIFICATIONS']"
    if not raw:
        return []
    if not isinstance(raw, dict):
        return [f"{where} must be a dict."]
    found = []
    unknown = sorted(set(raw) - {"WEBHOOKS", "EMAILS", "TIMEOUT", "MAX_ATTEMPTS", "BACKOFF"})
    if unknown:
        found.append(f"{where} has unknown key(s) {', '.join(map(repr, unknown))}.")
    for url in raw.get("WEBHOOKS", []):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            found.append(f"{where}['WEBHOOKS'] holds {url!r}, not an http(s) URL.")
    for address in raw.get("EMAILS", []):
        if not isinstance(address, str) or "@" not in address:
            found.append(f"{where}['EMAILS'] holds {address!r}, not an e-mail address.")
    for key in ("TIMEOUT", "MAX_ATTEMPTS", "BACKOFF"):
        value = raw.get(key, 1)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            found.append(f"{where}[{key!r}] must be a positive number.")
    return found
