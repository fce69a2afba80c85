"""One run of a job: from its stored inputs to its `results/` folder, or to its one-sentence failure.

Both executors call `run_job`: `EmbeddedExecutor` on threads of the serving process
(avatar/service/jobs.py) and the Celery workers (avatar/service/celery_app.py). A run
writes into a private `.work-<attempt>` folder that becomes `results/` by one
rename at the very end, so a half-written file is never visible; a failed,
cancelled or re-run attempt leaves no `.work-*` behind.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from pathlib import Path
from typing import Optional

from avatar import config
from avatar.errors import AvatarError, InputError
from avatar.service.disk import DISK_FULL_MESSAGE, is_disk_full
from avatar.service.kinds import get_kind
from avatar.service.store import JobRecord, JobStore

_LOGGER = logging.getLogger(__name__)
PROGRESS_EVERY_S = 0.25
"""Progress is written to the store at most this often (a video reports every few frames)."""


class JobCancelled(Exception):
    """Raised inside a running job when its record says it was cancelled (or it was deleted)."""


class RunSuperseded(Exception):
    """Raised inside a run that no longer holds its job: it was given up for dead, re-queued, and another run took
    it. This run leaves quietly, removing only its own work folder."""


def _stopped(store: JobStore, job_id: str) -> Exception:
    """Why a run may not go on: its job was cancelled or deleted, or another run holds it now."""
    return JobCancelled() if _ended_meanwhile(store, job_id) else RunSuperseded()


def _ended_meanwhile(store: JobStore, job_id: str) -> bool:
    """Whether the job was deleted or cancelled while this run held it (its folder may be gone with it)."""
    job = store.get(job_id)
    return job is None or job.status == "cancelled"


def jobs_root() -> Path:
    return config.outputs_dir() / "jobs"


def job_folder(job_id: str, root: Optional[Path] = None) -> Path:
    if not job_id.isalnum():
        raise InputError("That is not a job id.")
    return (root or jobs_root()) / job_id


def upload_name(name: Optional[str], field: str) -> str:
    """A safe file name for an upload: the client's name without folders ("../../x.jpg" -> "x.jpg"), letters,
    digits, spaces, dots, dashes and underscores only, no leading dot; the field name when nothing is left."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9 ._-]", "_", base).strip(" .")[:100]
    return base or field


def input_paths(folder: Path, fields: list[str]) -> dict[str, Path]:
    """Each input field's file in a job folder (`inputs/<field>/<name>`)."""
    paths = {}
    for field in fields:
        stored = sorted((folder / "inputs" / field).glob("*"))
        if stored:
            paths[field] = stored[0]
    return paths


def run_job(store: JobStore, job_id: str, worker: str, root: Optional[Path] = None) -> Optional[JobRecord]:
    """Run one queued job to its end (done, failed or cancelled); None when another runner has it."""
    if not store.claim(job_id, worker):
        return None
    job = store.get(job_id)
    if job is None:  # deleted the moment it was claimed: nothing to run, nothing to clean
        return None
    folder = job_folder(job_id, root)
    work = folder / f".work-{job.attempts}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)  # the kind writes its results here; the one place a job's output folder is made
    inputs = input_paths(folder, job.inputs)
    last = [0.0]

    def progress(stage: str, fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_S and fraction < 1.0:
            return
        last[0] = now
        if not store.progress(job_id, stage, fraction, worker):
            raise _stopped(store, job_id)

    try:
        names = get_kind(job.kind).run(job.params, inputs, work, progress)
        if not store.progress(job_id, "finishing", 1.0, worker):
            raise _stopped(store, job_id)
        results = folder / "results"
        shutil.rmtree(results, ignore_errors=True)
        work.rename(results)
        if not store.finish(job_id, names, worker):
            raise _stopped(store, job_id)
    except JobCancelled:
        shutil.rmtree(folder, ignore_errors=True)
    except RunSuperseded:
        _LOGGER.warning("job %s is held by another run now; %s leaves it", job_id, worker)
        shutil.rmtree(work, ignore_errors=True)
        return store.get(job_id)  # the other run's work folder is not this run's to clean
    except Exception as exc:
        if _ended_meanwhile(store, job_id):  # deleted or cancelled while it ran: what failed was most likely
            shutil.rmtree(folder, ignore_errors=True)  # writing into the folder removed under it; not a failure
            return store.get(job_id)
        shutil.rmtree(work, ignore_errors=True)  # first: on a full disk, its files are the room the record needs
        if is_disk_full(exc):  # not a bug: the operator frees space, the user runs it again
            _LOGGER.warning("job %s failed: the disk is full (%s)", job_id, exc)
            store.fail(job_id, DISK_FULL_MESSAGE, worker)
        elif isinstance(exc, AvatarError):
            store.fail(job_id, str(exc), worker)
        else:  # a bug: the user gets one sentence, the log keeps the traceback
            _LOGGER.exception("job %s failed", job_id)
            store.fail(job_id, f"The job failed unexpectedly ({type(exc).__name__}); try again, or report it if it "
                               "recurs.", worker)
    for leftover in folder.glob(".work-*") if folder.is_dir() else ():
        shutil.rmtree(leftover, ignore_errors=True)
    return store.get(job_id)
