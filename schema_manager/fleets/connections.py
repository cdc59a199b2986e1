"""A fleet target's connection: a DATABASES entry made at run time from its base alias, opened
for one target run and closed after it — or, inside ``kept()`` (a task running several
targets), kept for the task's next target of the same PostgreSQL database, with its lock
session, as django-tenants keeps one connection and switches ``search_path``."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend

from ..backends.base import KEPT_LOCK_SESSION
from ..backends.postgresql import LOCK_SCHEMA_KEY, is_psycopg3
from ..security import get_logger
from ..targets import Target, close_environment, open_environment, opened_alias
from ..thread_scopes import ThreadScope, within
from .specs import Fleet, TargetSpec

logger = get_logger("schema_manager.fleets")


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
        options["options"] = f"{previous} -c search_path={_search_path(spec.schema)}".strip()
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


class _Kept(ThreadScope):
    """This thread's kept connection: the target's and its lock session, the database they
    reach, and whether ``kept()`` is in force and a target is using them now."""

    def __init__(self) -> None:
        self.database: tuple[Any, ...] | None = None
        self.wrapper: BaseDatabaseWrapper | None = None
        self.in_use = False


_kept = _Kept()


@contextmanager
def kept() -> Iterator[None]:
    """Within the block, a target's connections (the target's and its lock session) are kept
    for this thread's next target of the same PostgreSQL database, and closed when a target
    of another database comes or the block ends. The next target's schema is set on them
    after ``DISCARD ALL`` (nothing a tenant's migration left in the session — settings, a
    role, temporary tables, prepared statements, locks — reaches the next tenant)."""
    with within(_kept, release):
        yield


def release() -> None:
    """Close this thread's kept connections (a claim that must wait for its server's cap
    releases them first: they count against it)."""
    wrapper, _kept.wrapper, _kept.database = _kept.wrapper, None, None
    if wrapper is not None:
        _close(wrapper)


def _database(spec: TargetSpec, settings: dict[str, Any]) -> tuple[Any, ...] | None:
    """What a kept connection must share with a target to serve it (None: never kept): the
    same base alias and overrides (the same database, user and options), with a schema or
    without."""
    options = settings.get("OPTIONS") or {}
    if (
        not settings["ENGINE"].endswith("postgresql")
        or not is_psycopg3()
        # Prepared statements (DISCARD ALL drops them under the driver) or a pool's own reuse.
        or {"pool", "server_side_binding", "prepare_threshold"} & set(options)
    ):
        return None
    return (spec.alias, repr(sorted(spec.overrides.items(), key=str)), bool(spec.schema))


@contextmanager
def opened(fleet: Fleet, spec: TargetSpec) -> Iterator[Target]:
    """The target as an environment of this process, its connection closed when the block
    ends (a fleet of hundreds never keeps hundreds of connections open), or kept for the
    next target (see ``kept``)."""
    settings = target_settings(spec)
    database = _database(spec, settings) if _kept.depth and not _kept.in_use else None
    reused = _reuse(database, settings) if database is not None else None
    if reused is not None:
        wrapper = reused
    else:
        if database is not None:
            release()  # a connection to another database: closed before this one opens
        # A wrapper of this thread only, never added to DATABASES: nothing iterating the
        # project's databases (a flush, close_old_connections) meets it, and threads running
        # other targets never share it.
        wrapper = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, alias_of(fleet, spec))
        if database is not None:
            setattr(wrapper, KEPT_LOCK_SESSION, type(wrapper)(settings, wrapper.alias))
    alias = wrapper.alias
    connections[alias] = wrapper
    environment = fleet.environment(spec.key)
    previous = opened_alias(environment)
    target = open_environment(environment, alias)
    keep = False
    _kept.in_use = database is not None
    try:
        yield target
        keep = database is not None and _clean(wrapper)
    finally:
        _kept.in_use = False
        close_environment(environment, previous)
        del connections[alias]
        if keep:
            _kept.wrapper, _kept.database = wrapper, database
        else:
            if _kept.wrapper is wrapper:
                _kept.wrapper, _kept.database = None, None
            _close(wrapper)


def _search_path(schema: str) -> str:
    """The search_path of a target in ``schema`` (a name ``specs`` checked), quoted so that
    its case is kept."""
    return f'"{schema}"'


def _reuse(database: tuple[Any, ...], settings: dict[str, Any]) -> BaseDatabaseWrapper | None:
    """The kept connection, switched to the target of ``settings``; None if none is kept
    for that database or it cannot be switched."""
    wrapper = _kept.wrapper
    if wrapper is None or _kept.database != database:
        return None
    _kept.wrapper, _kept.database = None, None
    # New sessions of this wrapper (a reconnect, the lock session's) open on the new target.
    wrapper.settings_dict = settings
    getattr(wrapper, KEPT_LOCK_SESSION).settings_dict = settings
    schema = settings.get(LOCK_SCHEMA_KEY)
    try:
        if wrapper.connection is not None:
            # On the driver's connection, as Django sets its own session state: this is the
            # connection's upkeep, not the target's queries.
            raw = wrapper.connection
            raw.execute("DISCARD ALL")
            wrapper.init_connection_state()  # the time zone (and role) Django sets
            if schema:
                path = _search_path(schema)
                raw.execute("SELECT pg_catalog.set_config('search_path', %s, false)", [path])
    except DatabaseError as exc:
        logger.info("A kept target connection could not be switched (%s); opening anew", exc)
        _close(wrapper)
        return None
    return wrapper


def _clean(wrapper: BaseDatabaseWrapper) -> bool:
    """Whether the connections can serve the next target: the target's is idle outside any
    transaction, and the lock session holds no lock (released, as the lock's own unlock
    statements might not have been)."""
    from psycopg.pq import TransactionStatus  # psycopg 3: checked by _database

    raw = wrapper.connection
    if raw is None or wrapper.in_atomic_block or not wrapper.autocommit:
        return False
    if raw.closed or raw.info.transaction_status != TransactionStatus.IDLE:
        return False
    holder = getattr(wrapper, KEPT_LOCK_SESSION)
    if holder.connection is None:
        return True
    try:
        holder.connection.execute("SELECT pg_catalog.pg_advisory_unlock_all()")
    except DatabaseError:
        return False
    return True


def _close(wrapper: BaseDatabaseWrapper) -> None:
    holder = getattr(wrapper, KEPT_LOCK_SESSION, None)
    for each in (holder, wrapper):
        if each is not None:
            with suppress(DatabaseError):
                each.close()
