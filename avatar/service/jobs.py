"""The one job interface for the pages, the CLI and the API: submit, status, cancel, results, list, delete.

A job lives in `outputs/jobs/<id>/`: `inputs/<field>/<name>` (each uploaded file
under its field, named after the client's file name stripped of any folder part
and of unusual characters, so messages and manifests say "me.jpg", never a path
the client chose), `job.json` (its record as submitted, for `avatar jobs repair` to
rebuild a lost record from) and, once it is done, `results/`. The inputs are checked first in
a hidden `.new-<id>/` beside it, which becomes the job's folder only when the kind's
checks pass, just before the record is made: a refused job has neither. A run writes into a private
`.work-<attempt>` folder that becomes `results/` by one rename at the very end, so
a half-written file is never visible; a failed, cancelled or re-run attempt leaves
no `.work-*` behind.

Who runs the jobs is the executor's business: `EmbeddedExecutor` (threads in this
process, the default, nothing else to start) or `CeleryExecutor` (workers on other
processes or machines, when `AVATAR_BROKER` is set). Both call `run_job`.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Optional

from avatar.errors import InputError, quoted
from avatar.service.disk import DiskFull, is_disk_full, require_free_space
from avatar.service.kinds import get_kind
from avatar.service.repair import save_record_copy
from avatar.service.runs import input_paths, job_folder, jobs_root, run_job, upload_name
from avatar.service.store import JOBS, Cursor, JobRecord, JobStore, default_url
from avatar.service.store_health import check_integrity, check_not_lost

_LOGGER = logging.getLogger(__name__)
MAX_INPUT_BYTES = 200 * 1024**2
class EmbeddedExecutor:
    """Jobs run on threads of this process: one for CPU-only jobs, one (or AVATAR_MAX_JOBS) for the GPU queue.

    Its runs are named `embedded-<host>-<pid>`, so a process that starts (a server
    restart, or the app beside `avatar serve` on one database) knows which running
    records were left by a process that is gone, and never takes a job from a live one.
    """

    PREFIX = "embedded-"

    def __init__(self, store: JobStore, root: Optional[Path] = None) -> None:
        self.store, self.root = store, root
        gpu_lanes = int(os.environ.get("AVATAR_MAX_JOBS", "1") or 1)
        self._pools = {"cpu": ThreadPoolExecutor(1, "avatar-cpu"), "gpu": ThreadPoolExecutor(gpu_lanes, "avatar-gpu")}
        self.name = f"{self.PREFIX}{socket.gethostname()}-{os.getpid()}"
        self.resumed = False

    def submit(self, job: JobRecord) -> None:
        self._pools[job.queue].submit(run_job, self.store, job.id, self.name, self.root)

    def resume(self) -> int:
        """After a restart: jobs left running by a dead process of this machine go back in line, then every queued
        job is submitted (a job another live process runs, or takes first, is skipped by `run_job`'s claim)."""
        self.resumed, count = True, 0
        for job in self.store.unfinished():
            if job.status == "running" and self._left_by_dead_process(job.worker):
                self.store.requeue(job.id, worker=job.worker)
            if self.store.get(job.id).status == "queued":
                self.submit(job)
                count += 1
        return count

    def _left_by_dead_process(self, worker: str) -> bool:
        host, _, pid = worker[len(self.PREFIX):].rpartition("-")
        if not worker.startswith(self.PREFIX) or worker == self.name or host not in ("", socket.gethostname()):
            return False  # a Celery run (its lease decides), this process, or another machine's process
        # (no host: a record from before runs were named by host, so from a server on this machine)
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except (ValueError, PermissionError):  # not a pid of ours to judge, or alive under another user
            return False
        return False


class JobService:
    """Submit and follow jobs for one owner at a time (an API key's hash, or a browser session)."""

    def __init__(self, store: Optional[JobStore] = None, executor=None, root: Optional[Path] = None) -> None:
        self.store = store or JobStore()
        self.root = root
        self.executor = executor if executor is not None else EmbeddedExecutor(self.store, root)

    def submit(self, owner: str, kind: str, params: dict[str, Any], files: Mapping[str, bytes | Path],
               names: Optional[dict[str, str]] = None, move: bool = False) -> JobRecord:
        """Check everything cheap, store the inputs, queue the job; InputError (nothing stored) when unusable,
        DiskFull (nothing stored) when the disk has no room for it.

        `files` maps the kind's file fields to their bytes or to a file; `names` gives the client's file names, for
        messages and manifests (made safe by `upload_name`). With `move`, files are renamed into the job folder
        (the API's uploads, spooled on the same disk: no copy); otherwise they are copied, never read into memory."""
        job_kind = get_kind(kind)
        unknown = sorted(set(files) - set(job_kind.files))
        if unknown:
            raise InputError(f"Unknown file field {quoted(unknown[0])}; a {kind} job takes: {', '.join(job_kind.files)}.")
        if sum(_size(data) for data in files.values()) > MAX_INPUT_BYTES:
            raise InputError(f"The files are larger than {MAX_INPUT_BYTES // 1024**2} MB together; send smaller ones.")
        job_id = os.urandom(16).hex()
        folder = job_folder(job_id, self.root)
        require_free_space(folder.parent, sum(_size(data) for data in files.values() if not move))
        # The inputs are checked where they wait, in a hidden folder beside the jobs: a refused job never has a folder
        # (nor a record), and the checked files become the job's by one rename.
        staging = folder.with_name(f".new-{job_id}")
        try:
            (staging / "inputs").mkdir(parents=True)  # always there, even for a job without files
            for field, data in files.items():
                path = staging / "inputs" / field / upload_name((names or {}).get(field), field)
                path.parent.mkdir()
                _store_input(data, path, move)
            queue = job_kind.check(params, input_paths(staging, sorted(files)))
            staging.rename(folder)
            job = self.store.create(owner, kind, queue, params, sorted(files), job_id=job_id)
            save_record_copy(folder, job)  # what `avatar jobs repair` rebuilds the record from, should it be lost
            self.executor.submit(job)
        except BaseException as exc:  # nothing half-stored: no record without its message, no folder without one
            for made in (staging, folder):  # first: on a full disk, this is what frees room for the rest
                shutil.rmtree(made, ignore_errors=True)
            try:
                self.store.delete(job_id)
            except Exception:
                if not is_disk_full(exc):
                    raise
            if isinstance(exc, Exception) and not isinstance(exc, DiskFull) and is_disk_full(exc):
                raise DiskFull() from None
            raise
        return job

    def get(self, owner: str, job_id: str) -> Optional[JobRecord]:
        return self.store.get(job_id, owner=owner) if job_id.isalnum() else None

    def list(self, owner: str, limit: int = 100, before: Optional[Cursor] = None,
             status: Optional[str] = None) -> list[JobRecord]:
        """The owner's jobs, newest first, `limit` at a time: the next page is `before=page[-1].cursor`."""
        return self.store.list(owner, limit, status=status, before=before)

    def place_in_line(self, job: JobRecord) -> int:
        return self.store.place_in_line(job)

    def cancel(self, owner: str, job_id: str) -> Optional[JobRecord]:
        """Cancel a queued or running job; a queued one's folder goes now, a running one's when it notices."""
        job = self.get(owner, job_id)
        if job is None:
            return None
        if self.store.cancel(job_id) and job.status == "queued":
            shutil.rmtree(job_folder(job_id, self.root), ignore_errors=True)
        return self.store.get(job_id)

    def delete(self, owner: str, job_id: str) -> bool:
        """Forget a job and its files (a running one is cancelled first)."""
        job = self.get(owner, job_id)
        if job is None:
            return False
        self.store.cancel(job_id)
        self.store.delete(job_id)
        shutil.rmtree(job_folder(job_id, self.root), ignore_errors=True)
        return True

    def result_file(self, owner: str, job_id: str, name: str) -> Optional[Path]:
        """The path of one result of the owner's finished job, or None (unknown job, other owner, no such file)."""
        job = self.get(owner, job_id)
        if job is None or job.status != "done" or name not in job.results:
            return None
        path = job_folder(job_id, self.root) / "results" / name
        return path if path.is_file() else None


def _size(data: bytes | Path) -> int:
    return data.stat().st_size if isinstance(data, Path) else len(data)


def _store_input(data: bytes | Path, path: Path, move: bool) -> None:
    """Put one input file in its job folder: bytes written, a file renamed (`move`) or copied."""
    if isinstance(data, Path):
        if move:
            os.replace(data, path)
        else:
            shutil.copyfile(data, path)
    else:
        path.write_bytes(data)


ABANDONED_AFTER_S = 3600.0
"""A `.new-<id>` folder this old was left by a submission whose process died while checking it (a check takes
seconds): no job will ever own it."""


def remove_abandoned_inputs(root: Path, older_than_s: float = ABANDONED_AFTER_S) -> int:
    """Remove the inputs of submissions that died mid-check (a server starting does this); how many were removed."""
    removed = 0
    for staging in root.glob(".new-*") if root.is_dir() else ():
        try:
            if time.time() - staging.stat().st_mtime > older_than_s:
                shutil.rmtree(staging, ignore_errors=True)
                removed += 1
        except OSError:  # removed meanwhile by another process starting
            continue
    return removed


_services: dict[tuple[str, str, str], JobService] = {}
_services_lock = threading.Lock()


def get_service(resume: bool = True) -> JobService:
    """The job service for the current database and broker: Celery workers when AVATAR_BROKER is set, threads here
    otherwise. One per (database, broker, jobs folder), so changing AVATAR_OUTPUTS or AVATAR_DATABASE_URL (tests
    do) takes effect.

    A server (the app, `avatar serve`) resumes: without a broker, the jobs a stopped server left queued or running
    start again in this process. A short-lived command (`avatar jobs list`) passes resume=False, or it would take
    the server's queued jobs and die with them.
    """
    key = (default_url(), os.environ.get("AVATAR_BROKER", ""), str(jobs_root()))
    with _services_lock:
        if key not in _services:
            store, root = JobStore(key[0]), Path(key[2])
            if resume:  # a server or the app: every page checked now, not found damaged by an unlucky request
                check_integrity(store.engine, store.url)
                remove_abandoned_inputs(root)
            check_not_lost(store.engine, JOBS, store.url, root)
            if key[1]:
                from avatar.service.celery_app import CeleryExecutor

                _services[key] = JobService(store, CeleryExecutor(key[1]), root)
            else:
                _services[key] = JobService(store, EmbeddedExecutor(store, root), root)
        service = _services[key]
        if resume and isinstance(service.executor, EmbeddedExecutor) and not service.executor.resumed:
            service.executor.resume()
        return service
