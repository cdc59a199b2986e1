"""The checksum Prisma stores in ``_prisma_migrations``: SHA-256 of migration.sql's bytes."""

from __future__ import annotations

import hashlib
import textwrap


def migration_checksum(sql: str) -> str:
    """Lowercase hex SHA-256 of ``sql`` encoded as UTF-8: exactly the file's bytes on disk."""
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


def same_script(checksum: str, sql: str) -> bool:
    """True if ``checksum`` is that of ``sql``, allowing for a CRLF/LF conversion (as Prisma)."""
    candidates = {sql, sql.replace("\r\n", "\n"), sql.replace("\r\n", "\n").replace("\n", "\r\n")}
    return any(migration_checksum(candidate) == checksum for candidate in candidates)


def canonical_sql(sql: str) -> str:
    """How a script written in Python code is stored and written to ``migration.sql``.

    Scripts in code are usually indented triple-quoted strings; the same migration typed at
    two indentations must not get two checksums. Files read from disk are never rewritten.
    """
    text = textwrap.dedent(sql.replace("\r\n", "\n")).strip("\n").rstrip()
    return text + "\n" if text else ""
