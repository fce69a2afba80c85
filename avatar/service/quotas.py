"""How much one API key may keep stored: a number of jobs and a number of megabytes.

Jobs stay until their owner deletes them, so without a bound one key could fill
the disk that every other key's jobs share. A submission that would pass either
limit is refused before anything of it is stored, with a sentence that says to
delete old jobs. The limits are settings (`AVATAR_MAX_STORED_JOBS`,
`AVATAR_MAX_STORED_MB`; 0 turns one off), read when the API is made.

The bytes are measured on disk, over the key's job folders (inputs and results),
when it submits: the job limit bounds how many folders that walks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from avatar.config import env_number
from avatar.errors import AvatarError

if TYPE_CHECKING:
    from avatar.service.store import JobStore

DEFAULT_MAX_STORED_JOBS = 1000
DEFAULT_MAX_STORED_MB = 10_000.0


class StorageLimitReached(AvatarError):
    """The key keeps as many jobs, or as many bytes, as it may; deleting old jobs makes room (the API's 429)."""


@dataclass(frozen=True)
class StorageLimits:
    """Per key: at most `max_jobs` stored jobs and `max_bytes` of their files (0: no limit)."""

    max_jobs: int = DEFAULT_MAX_STORED_JOBS
    max_bytes: int = int(DEFAULT_MAX_STORED_MB * 1024**2)

    @classmethod
    def from_env(cls) -> "StorageLimits":
        """AVATAR_MAX_STORED_JOBS and AVATAR_MAX_STORED_MB, or the defaults; AvatarError for a value that is not a
        number of 0 or more (said at start, not at the first submission)."""
        jobs = env_number("AVATAR_MAX_STORED_JOBS", DEFAULT_MAX_STORED_JOBS)
        megabytes = env_number("AVATAR_MAX_STORED_MB", DEFAULT_MAX_STORED_MB)
        return cls(int(jobs), int(megabytes * 1024**2))

    def require_room(self, store: "JobStore", root: Path, owner: str, incoming_bytes: int) -> None:
        """Refuse (StorageLimitReached) one more job of `incoming_bytes` for `owner`, measured now."""
        if not (self.max_jobs or self.max_bytes):
            return
        ids = store.ids(owner)
        self.check(len(ids), folder_bytes(root / job_id for job_id in ids) if self.max_bytes else 0, incoming_bytes)

    def check(self, stored_jobs: int, stored_bytes: int, incoming_bytes: int) -> None:
        """Refuse one more job of `incoming_bytes` for a key that keeps `stored_jobs` jobs of `stored_bytes`."""
        if self.max_jobs and stored_jobs + 1 > self.max_jobs:
            raise StorageLimitReached(f"This key keeps {stored_jobs:,} jobs, the most it may; delete old jobs "
                                      "(DELETE /v1/jobs/{id}) and submit again.")
        if self.max_bytes and stored_bytes + incoming_bytes > self.max_bytes:
            raise StorageLimitReached(f"This key's jobs hold {_mb(stored_bytes)} and this upload "
                                      f"{_mb(incoming_bytes)}, more than the {_mb(self.max_bytes)} it may keep; "
                                      "delete old jobs (DELETE /v1/jobs/{id}) and submit again.")


def folder_bytes(folders: Iterable[Path]) -> int:
    """The bytes of every file under `folders` (a folder removed meanwhile counts 0)."""
    total = 0
    stack = [str(folder) for folder in folders]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def _mb(size: int) -> str:
    return f"{size / 1024**2:,.1f} MB"
