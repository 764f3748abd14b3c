"""Errors a user can act on. The CLI prints them as one line (no traceback) and exits with status 2.

This module imports nothing from the package, so every module can subclass `UserError` without import cycles.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class UserError(Exception):
    """A problem with the user's input or environment; the message names the key or file and what to do."""


#: errno -> what to do, for the file-system problems a user fixes (not bugs): full disk, no permission...
_FILE_SYSTEM_HINTS = {
    errno.ENOSPC: "the disk is full: free some space or choose a folder on another disk",
    errno.EDQUOT: "the disk quota is exceeded: free some space or choose a folder on another disk",
    errno.EACCES: "permission denied: choose a folder you can write to",
    errno.EPERM: "permission denied: choose a folder you can write to",
    errno.EROFS: "read-only file system: choose a folder you can write to",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another folder",
    errno.EEXIST: "a file stands where a folder is needed: choose another folder",
}


class FileSystemError(UserError):
    """A folder the run must write to (or read from) can't be used: full disk, no permission, read-only."""


def file_system_message(err: OSError, path: str | Path | None = None) -> str | None:
    """One line for an OSError a user can fix (naming the file), or None for any other OSError."""
    hint = _FILE_SYSTEM_HINTS.get(err.errno)
    if hint is None:
        return None
    where = err.filename or path
    return f"{where}: {hint}" if where else hint


@contextmanager
def file_system_errors(path: str | Path) -> Iterator[None]:
    """Turn a full disk, a read-only or unwritable folder under `path` into a one-line `FileSystemError`."""
    try:
        yield
    except OSError as err:
        message = file_system_message(err, path)
        if message is None:
            raise
        raise FileSystemError(message) from None


def first_line(err: BaseException) -> str:
    """An exception's message cut to one line for a one-line error (its type name when the message is empty)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def hub_refusal(err: BaseException) -> str | None:
    """Why the Hub refused a download, when it says: "gated" (the repository needs an access request, the Hub
    answered with `GatedRepoError`, or `datasets` relayed it as "a gated dataset"), "offline" (offline mode stopped
    the request), else None (a network error, a missing repository, anything else). Matched by type name and
    message, so that no Hub library is imported to classify an error."""
    for link in _chain(err):
        name, text = type(link).__name__, str(link)
        if name == "GatedRepoError" or "is a gated dataset" in text:
            return "gated"
        if name == "OfflineModeIsEnabled" or "OfflineModeIsEnabled" in text:
            return "offline"
    return None
