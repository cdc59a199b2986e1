"""The checksum Prisma stores in ``_prisma_migrations``: SHA-256 of migration.sql's bytes."""

from __future__ import annotations

import hashlib
import textwrap

# Characters encoded per step: a large script is hashed without a whole encoded copy.
_CHUNK = 1 << 18


def migration_checksum(sql: str) -> str:
    """Lowercase hex SHA-256 of ``sql`` encoded as UTF-8: exactly the file's bytes on disk."""
    if len(sql) <= _CHUNK:
        return hashlib.sha256(sql.encode("utf-8")).hexdigest()
    digest = hashlib.sha256()
    for start in range(0, len(sql), _CHUNK):
        # A chunk boundary inside a surrogate pair cannot happen: str holds code points.
        digest.update(sql[start : start + _CHUNK].encode("utf-8"))
    return digest.hexdigest()


def same_script(checksum: str, sql: str) -> bool:
    """True if ``checksum`` is that of ``sql``, allowing for a CRLF/LF conversion (as Prisma)."""
    if migration_checksum(sql) == checksum:
        return True  # the usual answer, without a converted copy of the script
    if "\n" not in sql:
        return False
    unix = sql.replace("\r\n", "\n")
    return any(
        migration_checksum(candidate) == checksum
        for candidate in (unix, unix.replace("\n", "\r\n"))
        if candidate != sql
    )


def canonical_sql(sql: str) -> str:
    """How a script written in Python code is stored and written to ``migration.sql``.

    Scripts in code are usually indented triple-quoted strings; the same migration typed at
    two indentations must not get two checksums. Files read from disk are never rewritten.
    """
    text = textwrap.dedent(sql.replace("\r\n", "\n")).strip("\n").rstrip()
    return text + "\n" if text else ""
