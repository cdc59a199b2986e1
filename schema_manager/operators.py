"""Who an operation is recorded as: the caller's name for them, else the operating-system user."""

from __future__ import annotations

import getpass


def recorded_as(applied_by: str | None) -> str:
    """Who to record: the caller's name for it, else the operating-system user."""
    if applied_by is not None:
        return applied_by
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, no login name (containers)
        return ""
