"""The job records: one table in a real database, shared by every process that runs or shows jobs.

SQLite by default (`outputs/jobs.sqlite3`, WAL mode so readers never wait for the
one writer, a busy timeout so several processes take turns); any SQLAlchemy URL
(`AVATAR_DATABASE_URL=postgresql://...`) when several machines share the jobs.

State changes that two processes could race on are single conditional UPDATEs
(`claim` takes a queued job, `cancel` stops a queued or running one), so exactly
one process wins them. Everything else is written by the job's runner, and only
while the record still names it (`worker=`): a run that was given up for dead
(its worker cut off from Redis, not stopped) and re-queued can no longer report,
finish or fail the job the new run now holds.

On PostgreSQL those UPDATEs need nothing more: a second updater of the same row waits
for the first to commit and then re-checks its WHERE against the committed row
(READ COMMITTED), so a claim that lost the race changes nothing and says so. Two
things differ from SQLite and are handled here: processes that open an empty
database together (a server and its workers starting at once) would race to create
the table, so creating it holds a lock; and text may not contain NUL characters,
so those are replaced in what a run reports (it would otherwise never end its job).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import (Column, Float, Index, Integer, MetaData, String, Table, Text, and_, create_engine, delete,
                        event, func, or_, select, text, update)

from avatar import config
from avatar.service.store_health import watch_for_damage
from avatar.errors import InputError, quoted

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")

_metadata = MetaData()
JOBS = Table(
    "jobs", _metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("queue", String(16), nullable=False),
    Column("params", Text, nullable=False),
    Column("inputs", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("stage", String(200), nullable=False, default=""),
    Column("progress", Float, nullable=False, default=0.0),
    Column("message", Text, nullable=False, default=""),
    Column("results", Text, nullable=False, default="[]"),
    Column("worker", String(200), nullable=False, default=""),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created", Float, nullable=False),
    Column("started", Float),
    Column("finished", Float),
)
OWNER_NEWEST = Index("jobs_owner_created", JOBS.c.owner, JOBS.c.created, JOBS.c.id)
"""Listing an owner's jobs a page at a time reads this index from the cursor on (a page is as fast at 100,000 jobs
as at 100)."""
NEWEST = Index("jobs_created", JOBS.c.created, JOBS.c.id)
"""The same for every owner's jobs (`avatar jobs list --all`)."""


@dataclass(frozen=True)
class Cursor:
    """Where a page of a listing ends: the last job's creation time and id. The next page is the jobs created before
    it (ties broken by id), so jobs submitted meanwhile never shift a page, and none is shown twice or skipped."""

    created: float
    id: str

    def __str__(self) -> str:
        return f"{self.created!r}_{self.id}"

    @classmethod
    def parse(cls, text: str) -> "Cursor":
        """The cursor a listing gave (`str(cursor)`); InputError for anything else."""
        created, _, job_id = text.partition("_")
        try:
            when = float(created)
        except ValueError:
            when = float("nan")
        if not (math.isfinite(when) and job_id.isalnum() and len(job_id) <= 32):
            raise InputError(f"{quoted(text)} is not a listing cursor; use the one the previous page gave.")
        return cls(when, job_id)


@dataclass(frozen=True)
class JobRecord:
    """One job as stored: what was asked, where it is, and what came out."""

    id: str
    owner: str
    kind: str
    queue: str
    params: dict[str, Any]
    inputs: list[str]
    status: str
    stage: str = ""
    progress: float = 0.0
    message: str = ""
    results: list[str] = field(default_factory=list)
    worker: str = ""
    attempts: int = 0
    created: float = 0.0
    started: Optional[float] = None
    finished: Optional[float] = None

    @property
    def cursor(self) -> "Cursor":
        """Where a listing that ends with this job goes on from."""
        return Cursor(self.created, self.id)

    @property
    def finished_state(self) -> bool:
        return self.status in FINISHED

    def public(self) -> dict[str, Any]:
        """What an API client or a page may see (no worker names, no owner)."""
        return {"id": self.id, "kind": self.kind, "status": self.status, "stage": self.stage,
                "progress": round(self.progress, 4), "message": self.message, "results": self.results,
                "params": self.params, "created": self.created, "started": self.started, "finished": self.finished}


SCHEMA_LOCK = 0x61766174_6a6f6273
"""The PostgreSQL advisory lock held while the table is checked and created ("avatjobs")."""


def _create_tables(bind) -> None:
    """The table and its indexes, where missing (a database made before the listing indexes gets them now)."""
    _metadata.create_all(bind)
    for index in (OWNER_NEWEST, NEWEST):
        index.create(bind, checkfirst=True)


def default_url() -> str:
    return os.environ.get("AVATAR_DATABASE_URL") or f"sqlite:///{config.outputs_dir() / 'jobs.sqlite3'}"


class JobStore:
    """Create, read and change job records (see the module docstring)."""

    def __init__(self, url: Optional[str] = None) -> None:
        self.url = url or default_url()
        if self.url.startswith("sqlite:///"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(self.url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)
        watch_for_damage(self.engine, self.url)  # a damaged file: one sentence saying how to recover, not a traceback
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as db:  # one process at a time checks and creates; the others then find it
                db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
                _create_tables(db)
        else:
            _create_tables(self.engine)

    def create(self, owner: str, kind: str, queue: str, params: dict, inputs: list[str],
               job_id: Optional[str] = None) -> JobRecord:
        row = {"id": job_id or secrets.token_hex(16), "owner": owner, "kind": kind, "queue": queue,
               "params": json.dumps(params), "inputs": json.dumps(inputs), "status": "queued", "stage": "queued",
               "progress": 0.0, "message": "", "results": "[]", "worker": "", "attempts": 0, "created": time.time()}
        with self.engine.begin() as db:
            db.execute(JOBS.insert().values(**row))
        return self.get(row["id"])

    def get(self, job_id: str, owner: Optional[str] = None) -> Optional[JobRecord]:
        query = select(JOBS).where(JOBS.c.id == job_id)
        if owner is not None:
            query = query.where(JOBS.c.owner == owner)
        with self.engine.connect() as db:
            row = db.execute(query).mappings().first()
        return _record(row) if row else None

    def list(self, owner: Optional[str], limit: int = 100, status: Optional[str] = None,
             before: Optional[Cursor] = None) -> list[JobRecord]:
        """The owner's jobs (every owner's with None), newest first; only those in `status` when given, only those
        older than `before` (a page's `Cursor`) when given. The next page starts at the last record's cursor."""
        query = select(JOBS).order_by(JOBS.c.created.desc(), JOBS.c.id.desc()).limit(limit)
        if owner is not None:
            query = query.where(JOBS.c.owner == owner)
        if status is not None:
            query = query.where(JOBS.c.status == status)
        if before is not None:
            query = query.where(or_(JOBS.c.created < before.created,
                                    and_(JOBS.c.created == before.created, JOBS.c.id < before.id)))
        with self.engine.connect() as db:
            return [_record(row) for row in db.execute(query).mappings()]

    def count(self, owner: str) -> int:
        """How many jobs the owner has stored, in any state."""
        with self.engine.connect() as db:
            return int(db.execute(select(func.count()).select_from(JOBS).where(JOBS.c.owner == owner)).scalar_one())

    def ids(self, owner: str) -> list[str]:
        """The ids of every job the owner has stored (to measure what their folders hold)."""
        with self.engine.connect() as db:
            return list(db.execute(select(JOBS.c.id).where(JOBS.c.owner == owner)).scalars())

    def unfinished(self) -> list[JobRecord]:
        """Queued and running jobs of every owner, oldest first (to resume after a restart)."""
        query = select(JOBS).where(JOBS.c.status.in_(("queued", "running"))).order_by(JOBS.c.created)
        with self.engine.connect() as db:
            return [_record(row) for row in db.execute(query).mappings()]

    def count_active(self, owner: str) -> int:
        query = select(func.count()).select_from(JOBS).where(JOBS.c.owner == owner,
                                                              JOBS.c.status.in_(("queued", "running")))
        with self.engine.connect() as db:
            return int(db.execute(query).scalar_one())

    def place_in_line(self, job: JobRecord) -> int:
        """1 for the next queued job of its queue, 0 when it is not waiting."""
        if job.status != "queued":
            return 0
        query = select(func.count()).select_from(JOBS).where(
            JOBS.c.queue == job.queue, JOBS.c.status == "queued", JOBS.c.created <= job.created)
        with self.engine.connect() as db:
            return int(db.execute(query).scalar_one())

    def claim(self, job_id: str, worker: str) -> bool:
        """Queued (or re-queued) -> running for exactly one caller."""
        with self.engine.begin() as db:
            done = db.execute(update(JOBS).where(JOBS.c.id == job_id, JOBS.c.status == "queued").values(
                status="running", worker=worker, started=time.time(), stage="starting", progress=0.0,
                attempts=JOBS.c.attempts + 1))
        return done.rowcount == 1

    def progress(self, job_id: str, stage: str, fraction: float, worker: Optional[str] = None) -> bool:
        """Record progress of a running job (held by `worker`, when given); False when it is not any more
        (cancelled, deleted, or re-queued and taken by another run)."""
        with self.engine.begin() as db:
            done = db.execute(update(JOBS).where(*self._held(job_id, worker)).values(
                stage=_storable(stage)[:200], progress=float(fraction)))
        return done.rowcount == 1

    def finish(self, job_id: str, results: list[str], worker: Optional[str] = None) -> bool:
        return self._end(job_id, "done", worker=worker, results=json.dumps(results), stage="done", progress=1.0)

    def fail(self, job_id: str, message: str, worker: Optional[str] = None) -> bool:
        return self._end(job_id, "failed", worker=worker, message=_storable(message), stage="failed")

    def requeue(self, job_id: str, worker: Optional[str] = None) -> bool:
        """A running job whose worker died goes back in line; with `worker`, only while that worker still holds it
        (a reaper that read the record before another one re-queued it must not take it from the new run)."""
        with self.engine.begin() as db:
            done = db.execute(update(JOBS).where(*self._held(job_id, worker)).values(
                status="queued", stage="queued again: its worker stopped", progress=0.0, worker=""))
        return done.rowcount == 1

    def cancel(self, job_id: str) -> bool:
        return self._end(job_id, "cancelled", stage="cancelled", only=("queued", "running"))

    def delete(self, job_id: str) -> None:
        with self.engine.begin() as db:
            db.execute(delete(JOBS).where(JOBS.c.id == job_id))

    def _end(self, job_id: str, status: str, only: tuple[str, ...] = ("running",), worker: Optional[str] = None,
             **values) -> bool:
        where = [JOBS.c.id == job_id, JOBS.c.status.in_(only)] + ([JOBS.c.worker == worker] if worker else [])
        with self.engine.begin() as db:
            done = db.execute(update(JOBS).where(*where).values(status=status, finished=time.time(), **values))
        return done.rowcount == 1

    @staticmethod
    def _held(job_id: str, worker: Optional[str]) -> list:
        """The condition "this job is running (on `worker`, when given)"."""
        return [JOBS.c.id == job_id, JOBS.c.status == "running"] + ([JOBS.c.worker == worker] if worker else [])


def _storable(value: str) -> str:
    """`value` without NUL characters, which PostgreSQL refuses in text (an error message may carry one)."""
    return value.replace("\x00", "\ufffd")


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _record(row) -> JobRecord:
    data = dict(row)
    data["params"] = json.loads(data["params"])
    data["inputs"] = json.loads(data["inputs"])
    data["results"] = json.loads(data["results"])
    return JobRecord(**data)
