"""The time the workflow reads: the real clock, unless a test or ``--at`` sets it."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone

_set: list[datetime.datetime] = []


def now() -> datetime.datetime:
    return _set[-1] if _set else timezone.now()


@contextmanager
def at(moment: datetime.datetime) -> Iterator[None]:
    """Within the block, ``now()`` is ``moment`` (aware)."""
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, datetime.UTC)
    _set.append(moment)
    try:
        yield
    finally:
        _set.pop()
