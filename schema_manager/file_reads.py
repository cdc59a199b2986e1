"""Reading a file of the migrations directory: only a regular file inside it, only UTF-8 text
without NUL bytes, and named by its path inside the directory in every error.

A link is followed only to a file inside the directory (a link to a system file must not put
that file in the catalogue, nor quote it in an error). A FIFO or a device is refused without
being read: reading one could block forever or never end. A NUL byte is refused on every
engine: PostgreSQL cannot store it and its parser would stop there.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .exceptions import MigrationFileError

# Bytes read per step: a large data migration is checked and hashed without a whole copy.
CHUNK = 1 << 18
# A file whose times are at least this old is remembered by its identity: one rewritten
# within the filesystem's clock tick of the moment it was read could keep the same times.
SETTLED_NS = 1_000_000_000
_MEMO_LIMIT = 100_000
# Opening a FIFO never waits for a writer; a link swapped in after ``locate`` is not followed.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)


@dataclass(frozen=True)
class Located:
    """Where a name of the directory leads (itself, or what its link names), its status, and
    how errors name it (its path inside the directory)."""

    path: Path | str
    status: os.stat_result
    shown: str


def locate(path: Path | str, root: Path, shown: str) -> Located:
    """``path``, or where its link leads if that is inside ``root`` (the directory, resolved).

    An entry that is no link is inside by construction: only links are resolved, so that
    listing a directory costs one ``lstat`` per name.
    """
    found = locate_if_any(path, root, shown)
    if found is None:
        raise MigrationFileError(f"{shown!r} does not exist.")
    return found


def locate_if_any(path: Path | str, root: Path, shown: str) -> Located | None:
    """``locate``, or None if there is nothing at ``path`` (a broken link is an error)."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unreadable(shown, exc) from None
    if not stat.S_ISLNK(status.st_mode):
        return Located(path, status, shown)
    try:
        resolved = Path(path).resolve(strict=True)
    except FileNotFoundError:
        raise MigrationFileError(f"{shown!r} is a broken link.") from None
    except (OSError, RuntimeError) as exc:  # a loop of links
        raise _unreadable(shown, exc) from None
    if not resolved.is_relative_to(root):
        raise MigrationFileError(
            f"{shown!r} links outside the migrations directory, so it is refused; copy what "
            "it links to into the directory instead."
        )
    return Located(resolved, _status(os.stat, resolved, shown), shown)


def read_text(file: Located) -> str:
    """The whole text of the file (checked as ``checked_chunks`` does)."""
    with open_file(file) as opened:
        return "".join(text for _data, text in checked_chunks(opened, file.shown))


def checksum(file: Located) -> str:
    """SHA-256 of the file's bytes (Prisma's checksum) once its text is checked; a settled
    file unchanged since it was last hashed here is not read again."""
    known = _memo.get(file)
    if known is not None:
        return known
    with open_file(file) as opened:
        data = opened.read(CHUNK)
        if len(data) < CHUNK:  # the whole file (the common case): one read, one decode
            _check(data, file.shown)
            digest = hashlib.sha256(data)
        else:
            opened.seek(0)
            digest = hashlib.sha256()
            for data, _text in checked_chunks(opened, file.shown):
                digest.update(data)
        after = os.fstat(opened.fileno())
    result = digest.hexdigest()
    _memo.put(file, after, result)
    return result


def open_file(file: Located) -> BinaryIO:
    """The located file opened for reading, if it is a regular file (never a FIFO or a
    device) and still the one located."""
    _regular(file.status, file.shown)
    try:
        descriptor = os.open(file.path, _OPEN_FLAGS)
    except OSError as exc:
        raise _unreadable(file.shown, exc) from None
    opened = os.fstat(descriptor)
    if (opened.st_dev, opened.st_ino) != (file.status.st_dev, file.status.st_ino):
        os.close(descriptor)
        raise MigrationFileError(f"{file.shown!r} was replaced while it was read; try again.")
    return os.fdopen(descriptor, "rb")


def checked_chunks(file: BinaryIO, shown: str) -> Iterator[tuple[bytes, str]]:
    """Each chunk of ``file`` as read and as text, refusing a NUL byte or invalid UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    while True:
        data = file.read(CHUNK)
        _refuse_nul(data, shown, offset)
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise _not_utf8(shown, exc, offset) from None
        if not data:
            return
        yield data, text
        offset += len(data)


def _check(data: bytes, shown: str) -> None:
    """Refuse the whole of a file's ``data`` as ``checked_chunks`` would."""
    _refuse_nul(data, shown, 0)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(shown, exc, 0) from None


def _refuse_nul(data: bytes, shown: str, offset: int) -> None:
    if (nul := data.find(b"\0")) >= 0:
        raise MigrationFileError(
            f"{shown!r} contains a NUL byte (at byte {offset + nul}), which no SQL text may "
            "hold; remove it."
        )


def _not_utf8(shown: str, exc: UnicodeDecodeError, offset: int) -> MigrationFileError:
    return MigrationFileError(
        f"{shown!r} is not valid UTF-8 ({exc.reason} at byte {offset + exc.start})."
    )


class _ChecksumMemo:
    """Checksums by file identity (device, inode, size, modification and change times).

    Kept for the process, like a compiled template, so that the admin's changelist and each
    step of a command do not read every unchanged migration.sql again. Any change to a file
    gives it a new change time, so an entry serves only the very file that was read.
    """

    def __init__(self) -> None:
        self._known: dict[str, tuple[tuple[int, ...], str]] = {}
        self._lock = threading.Lock()

    def get(self, file: Located) -> str | None:
        known = self._known.get(os.fspath(file.path))
        return known[1] if known and known[0] == _identity(file.status) else None

    def clear(self) -> None:
        with self._lock:
            self._known.clear()

    def put(self, file: Located, after: os.stat_result, value: str) -> None:
        before = file.status
        settled = time.time_ns() - max(before.st_mtime_ns, before.st_ctime_ns) >= SETTLED_NS
        if _identity(before) != _identity(after) or not settled:
            return  # changed while read, or too recent to tell a rewrite apart
        with self._lock:
            if len(self._known) >= _MEMO_LIMIT:
                self._known.clear()
            self._known[os.fspath(file.path)] = (_identity(before), value)


_memo = _ChecksumMemo()


def forget_checksums() -> None:
    """Forget every remembered checksum: the next listing reads every file again."""
    _memo.clear()


def _identity(status: os.stat_result) -> tuple[int, ...]:
    return (
        status.st_dev,
        status.st_ino,
        status.st_size,
        status.st_mtime_ns,
        status.st_ctime_ns,
    )


def _status(call, path: Path, shown: str) -> os.stat_result:
    try:
        return call(path)
    except FileNotFoundError:
        raise MigrationFileError(f"{shown!r} does not exist.") from None
    except OSError as exc:
        raise _unreadable(shown, exc) from None


def _regular(status: os.stat_result, shown: str) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise MigrationFileError(
            f"{shown!r} is not a regular file (a FIFO, a device or a directory), so it is "
            "refused without being read."
        )


def _unreadable(shown: str, exc: BaseException) -> MigrationFileError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return MigrationFileError(f"{shown!r} cannot be read: {reason}.")
