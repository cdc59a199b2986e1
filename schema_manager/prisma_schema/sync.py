"""Keep ``schema.prisma`` true to a target: write it, check it, and hook into apply/rollback."""

from __future__ import annotations

import difflib
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import DatabaseError

from ..conf import app_settings
from ..exceptions import SchemaManagerError
from ..security import get_logger
from ..targets import Target, resolve

if TYPE_CHECKING:
    from ..results import MigrationResult

logger = get_logger("schema_manager.prisma_schema")

# Environments whose schema file is never written (the checks still run there).
READ_ONLY_ENVIRONMENTS = frozenset({"staging", "production"})
POST_SYNC_TIMEOUT = 600


@dataclass
class SyncResult:
    path: Path
    environment: str
    changed: bool
    warnings: list[str] = field(default_factory=list)
    # db pull's console warnings: ignored models, unsupported column types.
    notes: list[str] = field(default_factory=list)


def expected_schema(environment: str | None, path: Path) -> str:
    """The schema.prisma text that describes the environment's target now."""
    return _expected(resolve(environment), path)[0]


def _expected(target: Target, path: Path) -> tuple[str, list[str]]:
    existing = path.read_text(encoding="utf-8") if path.exists() else None
    # Loaded with the first sync: a deploy that syncs no schema file never imports them.
    from .introspection import introspect
    from .render import notes
    from .writer import write_schema

    database = introspect(target.alias)
    return write_schema(database, existing), notes(database)


def schema_diff(environment: str | None, path: Path) -> str:
    """A unified diff from the file to the database's schema; empty when they agree."""
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    expected = expected_schema(environment, path)
    return "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            fromfile=str(path),
            tofile=f"{path} (from the {resolve(environment).environment} database)",
        )
    )


def sync_schema(environment: str | None, path: Path) -> SyncResult:
    """Write the schema file from the target's database (a no-op when it is up to date)."""
    target = resolve(environment)
    if _read_only(target):
        raise SchemaManagerError(
            f"The Prisma schema is never written from {target.environment!r}; "
            "use --check there to compare it."
        )
    expected, found = _expected(target, path)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    result = SyncResult(path, target.environment, changed=current != expected, notes=found)
    for note in found:
        logger.info("%s", note)
    if result.changed:
        _write(path, expected)
        logger.info("Wrote %s from the %s database", path, target.environment)
        warning = run_post_sync_command(path)
        if warning:
            result.warnings.append(warning)
    return result


def sync_after(result: MigrationResult, target: Target, path: Path) -> None:
    """After a successful apply or rollback: sync an existing schema file where configured.

    Problems become warnings on the result: the migration itself stands.
    """
    if not result.success or result.skipped:
        return
    if target.environment not in app_settings.PRISMA_SYNC_ENVIRONMENTS:
        return
    if not path.exists():  # like `prisma db pull`, only into a project that has a schema
        logger.debug("No Prisma schema at %s; nothing to sync", path)
        return
    try:
        result.warnings += sync_schema(target.environment, path).warnings
    except (SchemaManagerError, DatabaseError, OSError) as exc:
        _sync_failed(result, str(exc))
    except Exception as exc:  # the migration has committed: a sync bug must not hide that
        logger.exception("Prisma schema sync failed unexpectedly")
        _sync_failed(result, f"{type(exc).__name__}: {exc}")


def _sync_failed(result: MigrationResult, problem: str) -> None:
    message = f"Prisma schema sync failed (the migration stands): {problem}"
    logger.warning(message)
    result.warnings.append(message)


def run_post_sync_command(path: Path) -> str | None:
    """Run PRISMA_POST_SYNC_COMMAND (if set) beside the prisma/ folder; a warning on failure."""
    command = app_settings.PRISMA_POST_SYNC_COMMAND
    if not command:
        return None
    directory = path.parent.parent if path.parent.name == "prisma" else path.parent
    try:
        done = subprocess.run(
            command,
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=POST_SYNC_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return _post_sync_warning(command, str(exc))
    output = (done.stdout + done.stderr).strip()
    if output:
        logger.info("%s: %s", " ".join(command), output)
    if done.returncode:
        return _post_sync_warning(command, f"exit status {done.returncode}")
    return None


def _post_sync_warning(command: list[str], problem: str) -> str:
    message = f"Post-sync command {' '.join(command)!r} failed: {problem}."
    logger.warning(message)
    return message


def _read_only(target: Target) -> bool:
    return target.environment in READ_ONLY_ENVIRONMENTS or target.is_protected


def _write(path: Path, text: str) -> None:
    """Replace the file atomically, so a reader never sees half a schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".schema.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
