"""Rebuilding a damaged or lost SQLite job database (`avatar jobs repair`), never losing what can be saved.

The damaged file (with its -wal and -shm) is moved aside, not deleted:
`jobs.sqlite3.damaged-<time>`. A fresh database then gets, in this order:

1. every record SQLite can still read from the damaged file (rows are read from
   both ends of the table, so damage in the middle loses only the rows there);
2. for each job folder still without a record, the copy of its record that the
   folder keeps (`job.json`, written at submit): a folder with results is a done
   job again, any other a failed one whose message says to submit it again (its
   inputs are kept).

Folders from before records were kept in them (no `job.json`) cannot be given back
to their owners; they are moved, whole, to `outputs/jobs-unrecorded-<time>/` (the
studio would otherwise refuse again to start beside folders of unknown jobs), and
the report says where.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from avatar.errors import InputError
from avatar.service.store import JOBS, JobRecord, JobStore
from avatar.service.store_health import RECORD_FILE, DatabaseDamaged, check_integrity, check_not_lost, database_path

LOST_MESSAGE = "This job's record was lost with a damaged job database; its inputs are kept, submit it again."
_COLUMNS = [column.name for column in JOBS.columns]


@dataclass(frozen=True)
class RepairReport:
    """What a repair did: where the damaged file went and how many records came from where."""

    backup: Optional[Path]
    salvaged: int
    rebuilt: int
    unmatched: int
    unmatched_to: Optional[Path] = None

    def summary(self, path: Path) -> str:
        kept = f"; the damaged file is kept as {self.backup}" if self.backup else ""
        unmatched = (f"; {self.unmatched} older job folder{'s' if self.unmatched != 1 else ''} without a record "
                     f"copy moved to {self.unmatched_to}" if self.unmatched else "")
        return (f"Rebuilt the job database {path}: {self.salvaged} record{'s' if self.salvaged != 1 else ''} read "
                f"from the old file, {self.rebuilt} from job folders{kept}{unmatched}.")


def save_record_copy(folder: Path, job: JobRecord) -> None:
    """Keep the job's record as submitted in its folder, for a repair to rebuild it from."""
    record = {key: value for key, value in asdict(job).items()
              if key in ("id", "owner", "kind", "queue", "params", "inputs", "created")}
    (folder / RECORD_FILE).write_text(json.dumps(record))


def needs_repair(url: str, root: Path) -> Optional[str]:
    """Why the database needs a repair (its one sentence), or None when it is sound."""
    try:
        store = JobStore(url)
        try:
            check_integrity(store.engine, url)
            check_not_lost(store.engine, JOBS, url, root)
        finally:
            store.engine.dispose()
    except DatabaseDamaged as exc:
        return str(exc)
    return None


def repair_database(url: str, root: Path) -> RepairReport:
    """Move the damaged database aside and rebuild it (see the module docstring); the studio must be stopped."""
    path = database_path(url)
    if path is None:
        raise InputError("Only a SQLite job database can be repaired here; restore other databases from their own "
                         "backups.")
    backup, stamp = None, time.strftime("%Y%m%d-%H%M%S")
    if path.exists():
        backup = path.with_name(f"{path.name}.damaged-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{path}{suffix}")
            if part.exists():
                part.rename(f"{backup}{suffix}")
    rows = _readable_rows(backup) if backup else {}
    store = JobStore(url)
    try:
        with store.engine.begin() as db:
            for row in rows.values():
                db.execute(JOBS.insert().values(**row))
        aside = root.parent / f"{root.name}-unrecorded-{stamp}"
        rebuilt, unmatched = _rebuild_from_folders(store, root, set(rows), aside)
    finally:
        store.engine.dispose()
    return RepairReport(backup, len(rows), rebuilt, unmatched, aside if unmatched else None)


def _readable_rows(path: Path) -> dict[str, dict[str, Any]]:
    """Every job row SQLite can still read from a damaged file, by id (none when it is not a database at all)."""
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch:  # read a copy: SQLite may write (its WAL) even to read, and the
        copy = Path(scratch) / "damaged.sqlite3"     # backup is to stay exactly as it was found
        for suffix in ("", "-wal"):
            if Path(f"{path}{suffix}").exists():
                shutil.copyfile(f"{path}{suffix}", f"{copy}{suffix}")
        _pad_to_header_size(copy)
        try:
            connection = sqlite3.connect(copy)
        except sqlite3.Error:
            return rows
        try:
            _read_rows(connection, rows)
        finally:
            connection.close()
    return rows


def _pad_to_header_size(path: Path) -> None:
    """Give a cut-short file back the length its header states (zeros where pages are missing): SQLite refuses a
    file shorter than its header says, but reads the pages that are still there once the length is right."""
    if not path.exists():
        return
    with open(path, "r+b") as file:
        header = file.read(100)
        if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
            return
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        stated = page_size * int.from_bytes(header[28:32], "big")
        if path.stat().st_size < stated:
            file.truncate(stated)


def _read_rows(connection: sqlite3.Connection, rows: dict[str, dict[str, Any]]) -> None:
    try:  # the columns the old file has (a file from an older version may lack newer ones: they get defaults)
        columns = [name for name in _COLUMNS
                   if name in {row[1] for row in connection.execute("PRAGMA table_info(jobs)")}]
    except sqlite3.Error:
        return
    for order in ("ASC", "DESC"):  # from both ends: damage in the middle stops each pass only there
        try:
            for values in connection.execute(f"SELECT {', '.join(columns)} FROM jobs ORDER BY rowid {order}"):
                row = dict(zip(columns, values))
                if _usable(row):
                    rows.setdefault(row["id"], row)
        except sqlite3.Error:
            continue


def _usable(row: dict[str, Any]) -> bool:
    try:
        for name in ("params", "inputs", "results"):
            json.loads(row[name])
    except (KeyError, TypeError, ValueError):
        return False
    return isinstance(row["id"], str) and row["id"].isalnum() and isinstance(row["created"], (int, float))


def _rebuild_from_folders(store: JobStore, root: Path, known: set[str], aside: Path) -> tuple[int, int]:
    """Records for the job folders that have none, from their record copies; folders without one are moved to
    `aside`. (rebuilt, moved aside)."""
    rebuilt = unmatched = 0
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        if not folder.name.isalnum() or folder.name in known:
            continue
        try:
            saved = json.loads((folder / RECORD_FILE).read_text())
            if saved.get("id") != folder.name:
                raise ValueError("the copy names another job")
        except (OSError, ValueError):
            aside.mkdir(parents=True, exist_ok=True)
            folder.rename(aside / folder.name)
            unmatched += 1
            continue
        results = folder / "results"
        done = results.is_dir()
        names = sorted(p.name for p in results.iterdir() if p.is_file()) if done else []
        with store.engine.begin() as db:
            db.execute(JOBS.insert().values(
                id=saved["id"], owner=saved["owner"], kind=saved["kind"], queue=saved["queue"],
                params=json.dumps(saved["params"]), inputs=json.dumps(saved["inputs"]),
                status="done" if done else "failed", stage="done" if done else "failed",
                progress=1.0 if done else 0.0, message="" if done else LOST_MESSAGE, results=json.dumps(names),
                worker="", attempts=0, created=float(saved["created"]), finished=time.time()))
        rebuilt += 1
    return rebuilt, unmatched
