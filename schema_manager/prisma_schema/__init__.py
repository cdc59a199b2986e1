"""Prisma schema sync: describe a target database as ``prisma db pull`` would, from Python.

One job per module: ``introspection`` (with ``postgresql`` and ``sqlite``) reads the target into
the neutral ``model``; ``types``, ``defaults``, ``names`` and ``relations`` translate it;
``render`` lays out the blocks; ``blocks`` reads the existing file; ``writer`` assembles the
text; ``sync`` writes and checks the file.
"""

from .blocks import PrismaSchemaError
from .introspection import introspect
from .sync import SyncResult, expected_schema, schema_diff, sync_after, sync_schema
from .writer import write_schema

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
