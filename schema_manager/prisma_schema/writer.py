"""The whole ``schema.prisma`` text: the kept configuration, then the database's blocks."""

from __future__ import annotations

from .blocks import (
    GENERATED_KINDS,
    PrismaSchemaError,
    datasource_provider,
    default_items,
    parse,
    preview_features,
)
from .kept_names import Naming
from .model import Database
from .render import render_blocks


def write_schema(database: Database, existing: str | None) -> str:
    """What ``prisma db pull`` would write over ``existing`` (None: no file yet)."""
    previous = parse(existing) if existing and existing.strip() else []
    items = [item for item in previous if item.kind not in GENERATED_KINDS]
    if not any(item.kind == "datasource" for item in items):
        items = items + [i for i in default_items(database.provider) if not _has(items, i.kind)]
    provider = datasource_provider(items)
    if provider != database.provider:
        raise PrismaSchemaError(
            f"The Prisma schema's datasource provider is {provider!r} but the database is "
            f"{database.provider!r}; fix the datasource block first."
        )
    views = "views" in preview_features(items)
    naming = Naming(previous)
    blocks = [item.text for item in items] + render_blocks(database, views=views, naming=naming)
    return "\n\n".join(blocks) + "\n"


def _has(items, kind: str) -> bool:
    return any(item.kind == kind for item in items)
