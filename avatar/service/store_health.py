"""Noticing a damaged or emptied job database, and saying in one sentence what to do about it.

SQLite reports damage as errors on whichever query first reads a damaged page
("file is not a database", "database disk image is malformed"); `watch_for_damage`
turns every such error on a store's engine into `DatabaseDamaged`, whose message
names the file and the way back (`avatar jobs repair`), so every command, page and
the server end in that sentence instead of a traceback. Long-running processes
(the server, the app) also run SQLite's quick check when they open the store
(`check_integrity`, about 0.2 s at 100,000 jobs), so damage is found at start,
not by the first unlucky request. On PostgreSQL (any server database) damage is
known by its SQLSTATE instead, the quick check is the server's own business, and
`avatar jobs repair` refuses: such a database is restored from its own backups.

A database that is missing or was emptied (a zero-length file, a restore gone
wrong) opens as a valid empty one; `check_not_lost` notices when it has no jobs
while the jobs folder holds folders of jobs that had records, and refuses to start
as if the history were empty.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine

from avatar.errors import AvatarError

DAMAGE_MARKERS = ("file is not a database", "malformed", "corrupt")
"""Parts of SQLite's messages for a file it cannot read as a database (SQLITE_NOTADB, SQLITE_CORRUPT)."""
SERVER_DAMAGE_CODES = ("XX001", "XX002")
"""The SQLSTATEs a database server (PostgreSQL) gives for damage: data_corrupted, index_corrupted. Its messages are
not matched against the words above: "malformed array literal" is a query's error, not damage."""
RECORD_FILE = "job.json"
"""Each job folder's copy of its record as submitted: what `avatar jobs repair` rebuilds a lost record from."""


class DatabaseDamaged(AvatarError):
    """The job database cannot be used as it is; the message names the file and how to recover."""


def database_path(url: str) -> Optional[Path]:
    """The file of a SQLite URL; None for other databases."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def damaged_message(url: str, reason: str) -> str:
    path = database_path(url)
    if path is None:
        return (f"The job database is damaged ({reason}); restore it from your database's backups, then start "
                "the studio again.")
    return (f"The job database {path} is damaged ({reason}); stop the studio and run `avatar jobs repair`, which "
            f"keeps the damaged file beside it as a backup and rebuilds the records it can from it and from the "
            f"job folders.")


def is_damage(exc: BaseException, url: Optional[str] = None) -> bool:
    """Whether `exc` says the database is damaged: SQLite's words for it, or (for a server's `url`) its SQLSTATE."""
    original = getattr(exc, "orig", None) or exc
    if url is not None and not url.startswith("sqlite"):
        return (getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)) in SERVER_DAMAGE_CODES
    message = str(original).lower()
    return any(marker in message for marker in DAMAGE_MARKERS)


def watch_for_damage(engine: Engine, url: str) -> None:
    """From now on, a query on `engine` that finds the database damaged raises DatabaseDamaged (one sentence)."""

    @event.listens_for(engine, "handle_error")
    def _damaged(context) -> None:
        if is_damage(context.original_exception, url):
            reason = (str(context.original_exception).strip().splitlines() or ["unreadable"])[0].rstrip(".")
            raise DatabaseDamaged(damaged_message(url, reason)) from None


def check_integrity(engine: Engine, url: str) -> None:
    """SQLite's quick check of every page (other databases check themselves); DatabaseDamaged when it fails."""
    if database_path(url) is None:
        return
    with engine.connect() as db:
        problems = [row[0] for row in db.execute(text("PRAGMA quick_check(1)"))]
    if problems != ["ok"]:
        raise DatabaseDamaged(damaged_message(url, "its quick check found: " + "; ".join(problems)[:120]))


def job_folders(root: Path) -> list[Path]:
    """Folders under the jobs folder that belonged to recorded jobs: they carry their record file, or results
    (which only a run of a recorded job makes)."""
    if not root.is_dir():
        return []
    return [folder for folder in root.iterdir()
            if folder.name.isalnum() and ((folder / RECORD_FILE).is_file() or (folder / "results").is_dir())]


def check_not_lost(engine: Engine, table, url: str, root: Path) -> None:
    """DatabaseDamaged when the database has no job at all but `root` holds folders of recorded jobs."""
    with engine.connect() as db:
        if db.execute(select(table.c.id).limit(1)).first() is not None:
            return
    folders = job_folders(root)
    if not folders:
        return
    path = database_path(url)
    where = f"The job database {path}" if path else "The job database"
    raise DatabaseDamaged(f"{where} has no jobs, but {root} holds {len(folders)} job folder"
                          f"{'s' if len(folders) != 1 else ''}: it is missing, empty or was replaced; stop the "
                          "studio and run `avatar jobs repair` to rebuild the records from the folders (or move "
                          "the folders aside to start with an empty history).")
