"""A fleet target's connection: a DATABASES entry made at run time from its base alias, opened
for one target run and closed after it."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections
from django.db.utils import load_backend

from ..backends.postgresql import LOCK_SCHEMA_KEY
from ..targets import Target, close_environment, open_environment, opened_alias
from .specs import Fleet, TargetSpec


def target_settings(spec: TargetSpec) -> dict[str, Any]:
    """The target's DATABASES entry: the base alias's, with the target's overrides and, for
    a schema, a search_path holding that schema only (so its ``_prisma_migrations`` is the
    schema's own, as Prisma's ``?schema=`` makes it) and the schema's lock scope."""
    settings = copy.deepcopy(connections.settings[spec.alias])
    settings.update(copy.deepcopy(dict(spec.overrides)))
    if spec.schema:
        options = dict(settings.get("OPTIONS") or {})
        # A later -c wins over one the base alias sets.
        previous = options.get("options", "")
        options["options"] = f'{previous} -c search_path="{spec.schema}"'.strip()
        settings["OPTIONS"] = options
        settings[LOCK_SCHEMA_KEY] = spec.schema
    return settings


def server_of(spec: TargetSpec) -> str:
    """The database server a target is on, as the per-server connection cap counts it."""
    settings = {**connections.settings[spec.alias], **spec.overrides}
    if connections[spec.alias].vendor == "sqlite":
        return f"sqlite:{settings.get('NAME')}"
    return f"{settings.get('HOST') or 'localhost'}:{settings.get('PORT') or 'default'}"


_openings = itertools.count(1)


def alias_of(fleet: Fleet, spec: TargetSpec) -> str:
    """A connection alias of one opening (two openings of a target never share one)."""
    return f"schema_manager_fleet:{fleet.name}:{spec.key}:{next(_openings)}"


@contextmanager
def opened(fleet: Fleet, spec: TargetSpec) -> Iterator[Target]:
    """The target as an environment of this process, its connection closed when the block
    ends (a fleet of hundreds never keeps hundreds of connections open)."""
    alias = alias_of(fleet, spec)
    settings = target_settings(spec)
    # A wrapper of this thread only, never added to DATABASES: nothing iterating the
    # project's databases (a flush, close_old_connections) meets it, and threads running
    # other targets never share it.
    wrapper = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, alias)
    connections[alias] = wrapper
    environment = fleet.environment(spec.key)
    previous = opened_alias(environment)
    target = open_environment(environment, alias)
    try:
        yield target
    finally:
        close_environment(environment, previous)
        wrapper.close()
        del connections[alias]
