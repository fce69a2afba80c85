"""Scale-out: jobs run on Celery workers (`avatar worker`), Redis is the broker (`AVATAR_BROKER=redis://...`).

The job records stay where they always are (`JobStore`: SQLite beside `outputs/`,
or any SQLAlchemy URL for several machines) and the results in the shared
`outputs/jobs/<id>/` folders, so the API and the pages read a job the same way
whoever runs it. Celery only carries "run job <id>" to a worker of the job's queue
("cpu" or "gpu": a worker that listens on cpu only picks CPU jobs while another one
is busy with a long GPU job). Each progress write also lands in the Celery task
state (task id = job id, state "PROGRESS", meta {stage, progress}) for Celery's own
tools (`AsyncResult(job_id).info`, Flower), but the store is what the API reads.

A worker that dies mid-job (kill -9, power loss): with Redis, Celery would hand its
unacknowledged message out again only after the visibility timeout (an hour), and
a visibility timeout short enough to recover quickly would re-deliver healthy long
jobs. So recovery does not depend on it. Every run holds a lease: a Redis key
named after the run (`avatar:lease:<runner>`), set before the job is claimed and
refreshed every second by a thread, expiring 10 s after the last refresh. Every
worker runs a reaper thread that looks at running jobs: when a job's runner has
had no lease for a few more seconds, the reaper puts the job back in line (only if
that same runner still holds it, so exactly one reaper wins) and sends its task
again. Duplicates are harmless: `JobStore.claim` only takes a queued job, so a
second delivery of a running or finished job does nothing. Results appear only by
`run_job`'s final rename, and the next successful run removes the dead run's
`.work-<attempt>` folder. A run that was given up for dead but is still going
(its worker was cut off from Redis, not stopped) notices at its next progress
report that the record names another run, and leaves without touching the job.

A Redis restart without persistence loses the messages of queued jobs (their
records stay queued in the store). Redis holds a marker key, `avatar:broker-epoch`,
that the first reaper to see Redis without it sets; a missing marker means this
Redis lost what it held (or never held it), so that reaper sends every queued job
again.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from celery import Celery
from celery.signals import worker_ready
from kombu import Exchange, Queue
from kombu.utils.url import maybe_sanitize_url

from avatar.config import env_number
from avatar.errors import AvatarError, ServiceUnavailable
from avatar.service.runs import jobs_root, run_job
from avatar.service.store import JobRecord, JobStore

_LOGGER = logging.getLogger(__name__)

TASK = "avatar.run_job"
QUEUES = ("cpu", "gpu")
RUNNER_PREFIX = "celery/"
"""Runner names look like `celery/<worker hostname>/<pid>/<token>`: unique per run, so a restarted worker with
the same name and pid (pid 1 in a container) never inherits a dead run's lease."""
LEASE_S = 10.0
"""A run's lease expires this long after its last refresh (default of `AVATAR_RUN_LEASE_S`)."""
HEARTBEAT_S = 1.0
"""How often a running job refreshes its lease."""
MIN_LEASE_S = 2 * HEARTBEAT_S
"""A shorter lease could lapse between two refreshes of a healthy run, which would then be run twice."""
REAP_EVERY_S = 1.0
"""How often each worker's reaper looks for runs that lost their lease."""
EPOCH_KEY = "avatar:broker-epoch"
"""Set by the first reaper that finds it missing: a Redis without it has lost (or never had) the queued messages."""
MISSING_FOR_S = 3.0
"""A lease must be seen missing this long by a reaper before its job is re-queued, so a Redis restart (which drops
every lease until the next heartbeat) never re-runs a healthy job."""
VISIBILITY_TIMEOUT_S = 3600
"""Redis re-delivers an unacknowledged message after this long; only a safety net (a worker that died between
receiving a job and claiming it), since the reaper re-queues dead runs within seconds."""


def broker_url() -> str:
    """AVATAR_BROKER, checked: the workers need it, and the leases live in the same Redis."""
    url = os.environ.get("AVATAR_BROKER", "").strip()
    if not url:
        raise AvatarError("AVATAR_BROKER is not set; start Redis and set AVATAR_BROKER=redis://localhost:6379/0.")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise AvatarError(f"AVATAR_BROKER must be a Redis URL (redis://host:port/db), not {maybe_sanitize_url(url)}.")
    return url


def check_broker(url: str) -> None:
    """Fail fast with one sentence instead of Celery's endless reconnect loop when Redis is not there."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError:
        raise AvatarError(f"Cannot reach the broker at {maybe_sanitize_url(url)}; start Redis (redis-server) "
                          "or fix AVATAR_BROKER.") from None


def configure(celery: Celery, url: str) -> Celery:
    """Late acknowledgement, one job at a time per process, two queues, JSON only."""
    celery.conf.update(
        broker_url=url, result_backend=url, broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_queues=[Queue(name, Exchange(name), routing_key=name) for name in QUEUES], task_default_queue="cpu",
        task_ignore_result=True, result_expires=24 * 3600,  # only progress states are stored, for a day
        worker_hijack_root_logger=False,
    )
    return celery


def make_app(url: str) -> Celery:
    return configure(Celery("avatar", set_as_current=False), url)


app = configure(Celery("avatar"), os.environ.get("AVATAR_BROKER") or "redis://127.0.0.1:6379/0")
"""The workers' app (`celery -A avatar.service.celery_app worker` works too); `avatar worker` sets its broker."""


def send(celery: Celery, job_id: str, queue: str) -> None:
    """Ask a worker of `queue` to run the job (the task id is the job id, so its Celery state is easy to find)."""
    celery.send_task(TASK, args=[job_id], queue=queue, routing_key=queue, task_id=job_id)


class CeleryExecutor:
    """Hands jobs to Celery workers: what `get_service()` uses when AVATAR_BROKER is set."""

    def __init__(self, broker_url: str) -> None:
        self.broker_url = broker_url
        self.app = make_app(broker_url)

    def submit(self, job: JobRecord) -> None:
        try:
            send(self.app, job.id, job.queue)
        except Exception:  # kombu's connection errors, after its own retries
            _LOGGER.warning("could not send job %s to the broker", job.id, exc_info=True)
            raise ServiceUnavailable(f"The job queue at {maybe_sanitize_url(self.broker_url)} cannot be reached, so "
                                     "nothing was queued; start Redis (or wait for it) and try again.") from None

    def task_state(self, job_id: str) -> tuple[str, Any]:
        """Celery's view of the job ("PROGRESS" with {stage, progress}, or "PENDING"); the store has the truth."""
        result = self.app.AsyncResult(job_id)
        return result.state, result.info


# -- leases ------------------------------------------------------------------------------------

def lease_key(runner: str) -> str:
    return f"avatar:lease:{runner}"


def run_lease_s() -> float:
    """How long a dead worker's run keeps its job (`AVATAR_RUN_LEASE_S`, default `LEASE_S`).

    Shorter moves a killed worker's job on sooner; longer rides out longer stalls
    (a swapping machine, a slow Redis) without a healthy run losing its job.
    """
    return env_number("AVATAR_RUN_LEASE_S", LEASE_S, minimum=MIN_LEASE_S)


class Lease:
    """Holds `avatar:lease:<runner>` alive while a job runs (a thread refreshes it, so a busy job needs no hook)."""

    def __init__(self, client, runner: str, ttl: Optional[float] = None, every: float = HEARTBEAT_S) -> None:
        ttl = run_lease_s() if ttl is None else ttl
        self.client, self.key, self.ttl_ms, self.every = client, lease_key(runner), int(ttl * 1000), every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="avatar-lease", daemon=True)

    def __enter__(self) -> "Lease":
        self.client.set(self.key, "1", px=self.ttl_ms)  # before the claim: a claimed run always has a lease
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self.client.delete(self.key)
        except Exception:  # Redis gone: the key expires by itself; the job record is already final
            _LOGGER.warning("could not release %s", self.key)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.client.set(self.key, "1", px=self.ttl_ms)
            except Exception:  # a short Redis outage must not kill the job; the reaper waits MISSING_FOR_S
                _LOGGER.warning("could not refresh %s", self.key, exc_info=True)


class Reaper:
    """Finds running jobs whose run lost its lease, puts them back in line and sends their task again."""

    def __init__(self, store: JobStore, client, resend: Callable[[str, str], None],
                 missing_for: float = MISSING_FOR_S) -> None:
        self.store, self.client, self.resend, self.missing_for = store, client, resend, missing_for
        self._missing: dict[tuple[str, str], float] = {}  # (job, runner) -> when this reaper first saw no lease
        self._unsent: dict[str, str] = {}  # re-queued jobs whose task could not be sent yet -> queue

    def sweep(self, now: Optional[float] = None) -> list[str]:
        """One look at the unfinished jobs; returns the ids of the running ones it re-queued."""
        now = time.monotonic() if now is None else now
        requeued, seen = [], set()
        fresh_broker = bool(self.client.set(EPOCH_KEY, secrets.token_hex(8), nx=True))
        for job in self.store.unfinished():
            if job.status == "queued" and fresh_broker:
                _LOGGER.warning("the broker lost its messages (a restart?); sending job %s again", job.id)
                self._unsent[job.id] = job.queue
            if job.status != "running" or not job.worker.startswith(RUNNER_PREFIX):
                continue  # queued, or run by an embedded executor (no lease to judge it by)
            key = (job.id, job.worker)
            seen.add(key)
            if self.client.exists(lease_key(job.worker)):
                self._missing.pop(key, None)
            elif now - self._missing.setdefault(key, now) >= self.missing_for:
                if self.store.requeue(job.id, worker=job.worker):
                    _LOGGER.warning("job %s lost its runner %s; queued again", job.id, job.worker)
                    self._unsent[job.id] = job.queue
                    requeued.append(job.id)
        for key in set(self._missing) - seen:
            del self._missing[key]
        for job_id, queue in list(self._unsent.items()):
            self.resend(job_id, queue)  # raises while the broker is down; retried on the next sweep
            del self._unsent[job_id]
        return requeued

    def run_forever(self, every: float = REAP_EVERY_S, stop: Optional[threading.Event] = None) -> None:
        stop = stop or threading.Event()
        while not stop.wait(every):
            try:
                self.sweep()
            except Exception:
                _LOGGER.warning("reaper sweep failed; trying again", exc_info=True)


# -- the task ------------------------------------------------------------------------------------

_per_process: dict[tuple[int, str], Any] = {}


def _shared(name: str, make: Callable[[], Any]) -> Any:
    """One store / Redis client per process (a forked pool child makes its own connections)."""
    key = (os.getpid(), name)
    if key not in _per_process:
        _per_process[key] = make()
    return _per_process[key]


def _store() -> JobStore:
    return _shared("store", JobStore)


def _redis():
    import redis

    return _shared("redis", lambda: redis.Redis.from_url(app.conf.broker_url, socket_timeout=5))


class _ReportingStore:
    """The job store as `run_job` sees it, which also copies each progress write into the Celery task state."""

    def __init__(self, store: JobStore, report: Callable[[str, float], None]) -> None:
        self._store, self._report = store, report

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def progress(self, job_id: str, stage: str, fraction: float, worker: Optional[str] = None) -> bool:
        running = self._store.progress(job_id, stage, fraction, worker)
        if running:
            self._report(stage, fraction)
        return running


def _task_state(task, job_id: str, state: str, meta: dict) -> None:
    try:
        task.update_state(task_id=job_id, state=state, meta=meta)
    except Exception:  # the task state is a convenience; the store is the record
        _LOGGER.debug("could not store the task state of %s", job_id, exc_info=True)


@app.task(name=TASK, bind=True)
def run_job_task(self, job_id: str) -> Optional[str]:
    """Run one job under a lease; a job that is not queued any more (a duplicate delivery) is left alone."""
    runner = f"{RUNNER_PREFIX}{self.request.hostname}/{os.getpid()}/{secrets.token_hex(4)}"
    store = _ReportingStore(_store(), lambda stage, fraction: _task_state(
        self, job_id, "PROGRESS", {"stage": stage, "progress": round(fraction, 4)}))
    with Lease(_redis(), runner):
        record = run_job(store, job_id, worker=runner, root=Path(jobs_root()))
    if record is None:
        return None
    _task_state(self, job_id, record.status.upper(), {"stage": record.stage, "progress": record.progress})
    return record.status


_reaper_started = threading.Event()


@worker_ready.connect
def _start_reaper(sender=None, **_kwargs) -> None:
    """Every worker watches every run's lease, so a dead worker's job moves on as long as one worker lives."""
    if _reaper_started.is_set():
        return
    _reaper_started.set()
    celery = getattr(sender, "app", None) or app
    reaper = Reaper(_store(), _redis(), lambda job_id, queue: send(celery, job_id, queue))
    threading.Thread(target=reaper.run_forever, name="avatar-reaper", daemon=True).start()
