"""Room on the disk that holds the jobs: checked before a submission is taken, recognised when a write runs out.

A submission is refused (507) while the free space is below a margin,
`AVATAR_MIN_FREE_MB` (default 100 MB): a job's results need room too, and the
job database must still be writable to record anything. Space can also run out
in the middle of a write (another process filled the disk); `is_disk_full`
recognises that in an exception and its causes, from the OS (ENOSPC, EDQUOT) or
from SQLite ("database or disk is full").
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from avatar.config import env_number
from avatar.errors import AvatarError


class DiskFull(AvatarError):
    """The disk that holds the jobs has no room left; freeing space and trying again works."""

    def __init__(self, message: str = "The server's disk is full; free some space on it, then send the job "
                                      "again.") -> None:
        super().__init__(message)


_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
DISK_FULL_MESSAGE = "The disk is full: the job could not write its results; free some space and run it again."
"""A running job's failure when its disk ran out of room."""


def min_free_bytes() -> int:
    return int(env_number("AVATAR_MIN_FREE_MB", 100) * 1024**2)


def require_free_space(folder: Path, incoming: int = 0) -> None:
    """DiskFull when the disk holding `folder` (or its nearest existing parent) has less than the margin left
    after `incoming` more bytes."""
    existing = Path(folder)
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if shutil.disk_usage(existing).free < min_free_bytes() + max(incoming, 0):
        raise DiskFull()


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or an exception it was raised from) says the disk or the user's quota is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DiskFull):
            return True
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return True
        text = str(current).lower()
        if "no space left on device" in text or "database or disk is full" in text or "disk quota exceeded" in text:
            return True
        current = current.__cause__ or current.__context__
    return False
