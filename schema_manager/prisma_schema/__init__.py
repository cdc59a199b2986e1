"""Prisma schema sync: describe a target database as ``prisma db pull`` would, from Python.

One job per module: ``introspection`` (with ``postgresql`` and ``sqlite``) reads the target into
the neutral ``model``; ``types``, ``defaults``, ``names`` and ``relations`` translate it;
``render`` lays out the blocks; ``blocks`` reads the existing file; ``writer`` assembles the
text; ``sync`` writes and checks the file.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .blocks import PrismaSchemaError
    from .introspection import introspect
    from .sync import SyncResult, expected_schema, schema_diff, sync_after, sync_schema
    from .writer import write_schema

# Each name from its module, imported at first use: the app's start (its checks, the
# workspace's sync after a plan) imports this package, and a deploy that syncs no schema
# file needs none of the introspection, translation and rendering modules.
_MODULES = {
    "PrismaSchemaError": "blocks",
    "introspect": "introspection",
    "SyncResult": "sync",
    "expected_schema": "sync",
    "schema_diff": "sync",
    "sync_after": "sync",
    "sync_schema": "sync",
    "write_schema": "writer",
}

__all__ = [
    "PrismaSchemaError",
    "SyncResult",
    "expected_schema",
    "introspect",
    "schema_diff",
    "sync_after",
    "sync_schema",
    "write_schema",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
