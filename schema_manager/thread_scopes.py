"""Blocks that a thread may nest (a fleet task keeping what its targets share): what is kept
lives while the outermost block of its kind is open, and is let go when that block ends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class ThreadScope(threading.local):
    """This thread's depth of one kind of block; subclasses add what the block keeps."""

    depth = 0


@contextmanager
def within(scope: ThreadScope, let_go: Callable[[], None]) -> Iterator[None]:
    """A block of ``scope``'s kind: ``let_go()`` runs when the thread's outermost one ends."""
    scope.depth += 1
    try:
        yield
    finally:
        scope.depth -= 1
        if not scope.depth:
            let_go()
