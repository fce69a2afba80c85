"""Scale-out on Celery + Redis: a real redis-server and two real `avatar worker` processes, started here.

Worker "a" takes cpu and gpu jobs, worker "b" cpu jobs only. Jobs go in through
`JobService(JobStore, CeleryExecutor)`, as the API and the pages submit them.
Without /usr/bin/redis-server these tests are skipped, except under CI=true,
where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import pytest

from avatar.service.jobs import JobService, job_folder
from avatar.service.store import JobRecord, JobStore

OWNER = "key:workers-test"
LONG_TEXT = "This sentence is long enough to take a while. " * 40  # about 9 s of work on this machine
QUEUES = {"a": "cpu,gpu", "b": "cpu"}


def redis_server() -> str:
    path = shutil.which("redis-server") or "/usr/bin/redis-server"
    if Path(path).exists():
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("redis-server is missing; install Debian's redis-server package (.ci/run does).")
    pytest.skip("redis-server is not installed (apt-get install redis-server)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


TEST_LEASE_S = 4.0
"""The workers' run lease here (default 10 s): a killed worker's job moves on 6 s sooner; a healthy run still
has to miss four heartbeats in a row, and the reaper's grace period after them, to lose its job."""


class Cluster:
    """Redis, the workers, and the job service the tests submit through."""

    def __init__(self, folder: Path, database: Optional[str] = None) -> None:
        self.folder = folder
        self.outputs = folder / "outputs"
        self.broker = f"redis://127.0.0.1:{free_port()}/0"
        self.database = database or f"sqlite:///{self.outputs / 'jobs.sqlite3'}"
        self.start_redis()
        self.env = {**os.environ, "AVATAR_BROKER": self.broker, "AVATAR_OUTPUTS": str(self.outputs),
                    "AVATAR_DATABASE_URL": self.database, "AVATAR_RUN_LEASE_S": str(TEST_LEASE_S)}
        self.workers: dict[str, subprocess.Popen] = {}
        from avatar.service.celery_app import CeleryExecutor

        self.store = JobStore(self.database)
        self.service = JobService(self.store, CeleryExecutor(self.broker), root=self.outputs / "jobs")

    def start_redis(self) -> None:
        """A redis-server without persistence: a restart loses every message and lease, the worst case."""
        import redis

        port = self.broker.rsplit(":", 1)[1].split("/")[0]
        self.redis = subprocess.Popen([redis_server(), "--port", port, "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no"], stdout=subprocess.DEVNULL)
        self.client = redis.Redis.from_url(self.broker)
        wait_for(self._redis_up, 10, "redis-server")

    def _redis_up(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def ensure_workers(self) -> None:
        """Start the workers that are not running (the kill test leaves one dead), and wait until they listen."""
        started = []
        for name, queues in QUEUES.items():
            if name not in self.workers or self.workers[name].poll() is not None:
                log = self.folder / f"worker-{name}.log"
                log.write_text("")
                self.workers[name] = subprocess.Popen(
                    [sys.executable, "-m", "avatar.commands.worker", "--queues", queues, "--name", name],
                    env=self.env, stdout=log.open("a"), stderr=subprocess.STDOUT)
                started.append(name)
        for name in started:
            log = self.folder / f"worker-{name}.log"
            wait_for(lambda: f"{name}@" in log.read_text() and "ready." in log.read_text(), 30, f"worker {name}")

    def worker_name(self, job: JobRecord) -> str:
        """Which of our workers runs the job: its record names `celery/<name>@<host>/<pid>/<token>`."""
        hostname, pid = job.worker.split("/")[1:3]
        name = hostname.split("@")[0]
        assert self.workers[name].pid == int(pid)
        return name

    def wait(self, job_id: str, condition: Callable[[JobRecord], bool], timeout: float, what: str) -> JobRecord:
        return wait_for(lambda: (lambda job: job if condition(job) else None)(self.store.get(job_id)), timeout, what)

    def folder_of(self, job_id: str) -> Path:
        return job_folder(job_id, self.outputs / "jobs")

    def stop(self) -> None:
        for process in [*self.workers.values(), self.redis]:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    redis_server()
    cluster = Cluster(tmp_path_factory.mktemp("workers"))
    try:
        cluster.ensure_workers()
        yield cluster
    finally:
        cluster.stop()


def test_a_talk_job_runs_on_a_worker(cluster):
    cluster.ensure_workers()
    job = cluster.service.submit(OWNER, "talk", {"text": "Hello from a worker.", "avatar": "maya", "size": 256}, {})
    assert job.queue == "cpu"
    done = cluster.wait(job.id, lambda j: j.finished_state, 60, "the talk job")
    assert done.status == "done" and done.attempts == 1 and done.progress == 1.0
    assert done.results == ["video.mp4", "audio.wav", "captions.srt", "manifest.json"]
    assert cluster.service.result_file(OWNER, job.id, "video.mp4").stat().st_size > 0
    assert cluster.worker_name(done) in QUEUES
    assert sorted(p.name for p in cluster.folder_of(job.id).iterdir()) == ["inputs", "job.json", "results"]
    state, info = cluster.service.executor.task_state(job.id)  # the Celery task state mirrors the record
    assert state == "DONE" and info["progress"] == 1.0


def test_cpu_jobs_do_not_wait_behind_gpu_jobs(cluster):
    """Two long GPU jobs (talk records put on the gpu queue directly: no GPU model is installed here to make one
    for real) occupy worker a, the only gpu listener; a CPU job goes to worker b and is done while the second GPU
    job is still queued, which it would not be if both shared one line."""
    cluster.ensure_workers()
    gpu = []
    for _ in range(2):
        record = cluster.store.create(OWNER, "talk", "gpu", {"text": LONG_TEXT, "avatar": "maya", "size": 256}, [])
        (cluster.folder_of(record.id) / "inputs").mkdir(parents=True)
        cluster.service.executor.submit(record)
        gpu.append(record)
    first = cluster.wait(gpu[0].id, lambda j: j.status == "running", 30, "the first GPU job to start")
    assert cluster.worker_name(first) == "a"

    cpu = cluster.service.submit(OWNER, "talk", {"text": "Not waiting.", "avatar": "maya", "size": 256}, {})
    done = cluster.wait(cpu.id, lambda j: j.finished_state, 30, "the CPU job")
    assert done.status == "done" and cluster.worker_name(done) == "b"
    assert cluster.store.get(gpu[0].id).status == "running"
    assert cluster.store.get(gpu[1].id).status == "queued"

    for record in gpu:
        assert cluster.service.cancel(OWNER, record.id).status == "cancelled"
    for record in gpu:
        wait_for(lambda: not cluster.folder_of(record.id).exists(), 30, "the cancelled job's folder to go")


def test_cancelling_a_running_job_removes_its_folder(cluster):
    cancelled_running_job_is_removed(cluster)


def cancelled_running_job_is_removed(cluster: Cluster) -> None:
    """A job cancelled while a worker runs it stays cancelled (its run cannot finish it), and its folder goes."""
    cluster.ensure_workers()
    job = cluster.service.submit(OWNER, "talk", {"text": LONG_TEXT, "avatar": "maya", "size": 256}, {})
    cluster.wait(job.id, lambda j: j.status == "running" and j.progress > 0, 30, "the job to run")
    assert cluster.service.cancel(OWNER, job.id).status == "cancelled"
    wait_for(lambda: not cluster.folder_of(job.id).exists(), 30, "the cancelled job's folder to go")
    assert cluster.store.get(job.id).status == "cancelled"


def test_a_job_whose_worker_is_killed_completes_on_the_other_worker(cluster):
    killed_workers_job_completes_on_the_other(cluster)


def killed_workers_job_completes_on_the_other(cluster: Cluster) -> None:
    """kill -9 of the worker running a job mid-way: the job is re-queued and done by the other worker, once, with
    only its own results in its folder (the dead run's work folder is gone)."""
    cluster.ensure_workers()
    job = cluster.service.submit(OWNER, "talk", {"text": LONG_TEXT, "avatar": "maya", "size": 256}, {})
    running = cluster.wait(job.id, lambda j: j.status == "running" and j.progress >= 0.2, 30, "the job to be mid-way")
    victim = cluster.worker_name(running)
    os.kill(cluster.workers[victim].pid, signal.SIGKILL)
    cluster.workers[victim].wait(timeout=10)
    assert list(cluster.folder_of(job.id).glob(".work-1"))  # the dead run's half-written folder

    done = cluster.wait(job.id, lambda j: j.finished_state, 60, "the job to finish on the other worker")
    assert done.status == "done" and done.attempts == 2
    assert cluster.worker_name(done) != victim
    assert sorted(p.name for p in cluster.folder_of(job.id).iterdir()) == ["inputs", "job.json", "results"]
    assert sorted(p.name for p in (cluster.folder_of(job.id) / "results").iterdir()) == sorted(done.results)


def test_jobs_survive_a_redis_restart_that_loses_every_message(cluster):
    """Worker a (the only gpu listener) is stopped, a GPU job is queued, and Redis is killed and started again
    without persistence, so the job's message is gone. While Redis is down a submission is refused and nothing is
    stored. Once Redis is back, a reaper finds it without its marker, sends the queued job again, and it runs on
    the restarted worker a; worker b, which lived through the restart, still takes new jobs."""
    from avatar.errors import ServiceUnavailable
    from avatar.service.celery_app import EPOCH_KEY

    cluster.ensure_workers()
    old_epoch = wait_for(lambda: cluster.client.get(EPOCH_KEY), 10, "a reaper's broker marker")
    cluster.workers["a"].terminate()
    cluster.workers["a"].wait(timeout=30)
    record = cluster.store.create(OWNER, "talk", "gpu", {"text": "Still here after Redis.", "avatar": "maya",
                                                         "size": 256}, [])
    (cluster.folder_of(record.id) / "inputs").mkdir(parents=True)
    cluster.service.executor.submit(record)
    assert cluster.client.llen("gpu") == 1

    cluster.redis.kill()
    cluster.redis.wait(timeout=10)
    before = len(cluster.store.list(OWNER, limit=1000))
    with pytest.raises(ServiceUnavailable, match="cannot be reached"):
        cluster.service.submit(OWNER, "talk", {"text": "Nowhere to go.", "avatar": "maya", "size": 256}, {})
    assert len(cluster.store.list(OWNER, limit=1000)) == before
    assert sorted(p.name for p in (cluster.outputs / "jobs").iterdir()) == sorted(
        job.id for job in cluster.store.list(OWNER, limit=1000) if cluster.folder_of(job.id).exists())

    cluster.start_redis()
    # The new Redis starts empty: the message is lost with the old one. (Asking the queue's length here would race
    # worker b's reaper, which may already have seen the empty Redis and sent the job again.)
    cluster.ensure_workers()
    done = cluster.wait(record.id, lambda j: j.finished_state, 90, "the re-sent job")
    assert done.status == "done" and done.attempts == 1 and cluster.worker_name(done) == "a"
    # A reaper found the new Redis without the old marker (so without the old messages) and re-sent the queued job.
    assert cluster.client.get(EPOCH_KEY) not in (None, old_epoch)

    after = cluster.service.submit(OWNER, "talk", {"text": "Worker b is back.", "avatar": "maya", "size": 256}, {})
    assert cluster.wait(after.id, lambda j: j.finished_state, 90, "a job after the restart").status == "done"


def _api_server(cluster, **env: str):
    from tests.test_api import Server

    return Server(cluster.folder, AVATAR_BROKER=cluster.broker, AVATAR_OUTPUTS=str(cluster.outputs),
                  AVATAR_DATABASE_URL=cluster.database, **env)


def test_the_api_server_restarts_while_a_worker_runs_its_job(cluster):
    """kill -9 of `avatar serve` while a worker runs the job it took: a new server process reads the same record,
    the job finishes on the worker meanwhile, and its history and result are all there."""
    from tests.test_api import KEY_A

    cluster.ensure_workers()
    server = _api_server(cluster).start()
    with server.client() as client:
        response = client.post("/v1/jobs/talk", data={"params": json.dumps({"text": LONG_TEXT, "avatar": "maya",
                                                                              "size": 256})})
        assert response.status_code == 202
        job_id = response.json()["id"]
        wait_for(lambda: client.get(f"/v1/jobs/{job_id}").json()["progress"] > 0.1, 60, "the job to run")
    server.process.kill()
    server.process.wait(timeout=10)
    assert cluster.store.get(job_id).status == "running"  # the worker goes on without the server

    server = _api_server(cluster).start()
    try:
        with server.client(KEY_A) as client:
            assert client.get(f"/v1/jobs/{job_id}").json()["status"] in ("running", "done")
            record = wait_for(lambda: (lambda r: r if r["status"] in ("done", "failed") else None)(
                client.get(f"/v1/jobs/{job_id}").json()), 90, "the job to finish")
            assert record["status"] == "done" and cluster.store.get(job_id).attempts == 1
            assert job_id in [job["id"] for job in client.get("/v1/jobs").json()]
            video = client.get(record["links"]["files"]["video.mp4"])
            assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    finally:
        server.stop()


def test_twenty_jobs_submitted_at_once_through_the_api_all_complete(cluster):
    twenty_jobs_at_once_through_the_api(cluster)


def twenty_jobs_at_once_through_the_api(cluster: Cluster) -> None:
    """The load case on this machine: 20 submissions at once from 20 client threads, two workers; none is lost,
    each ran once and left exactly its results. (Timings are `python -m benchmarks.serve`'s business.)"""
    from concurrent.futures import ThreadPoolExecutor

    cluster.ensure_workers()
    server = _api_server(cluster, AVATAR_MAX_ACTIVE_JOBS="20").start()
    try:
        def submit(index: int) -> str:
            with server.client() as client:
                params = {"text": f"Job number {index + 1}.", "avatar": "maya", "size": 256}
                response = client.post("/v1/jobs/talk", data={"params": json.dumps(params)})
                assert response.status_code == 202, response.text
                return response.json()["id"]

        with ThreadPoolExecutor(20) as pool:
            ids = list(pool.map(submit, range(20)))
        assert len(set(ids)) == 20
        jobs = [cluster.wait(job_id, lambda j: j.finished_state, 180, "every job") for job_id in ids]
        assert [job.status for job in jobs] == ["done"] * 20
        assert all(job.attempts == 1 for job in jobs)
        for job in jobs:
            assert sorted(p.name for p in cluster.folder_of(job.id).iterdir()) == ["inputs", "job.json", "results"]
            assert (cluster.folder_of(job.id) / "results" / "video.mp4").stat().st_size > 0
    finally:
        server.stop()


def test_the_reaper_requeues_only_runs_without_a_lease(cluster, tmp_path):
    """The recovery rule on its own, against the real Redis (and a store of its own, out of the workers' sight): a
    run whose lease is gone is re-queued after the grace period, once; a run that still heartbeats is left alone,
    and so is a job that a new run has claimed since the reaper read it."""
    from avatar.service.celery_app import Lease, Reaper

    store = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    sent = []
    reaper = Reaper(store, cluster.client, lambda job_id, queue: sent.append((job_id, queue)), missing_for=3.0)
    alive, dead = (store.create("key:reaper", "talk", "gpu", {}, []) for _ in range(2))
    with Lease(cluster.client, "celery/x@h/1/alive", ttl=0.5, every=0.1):
        assert store.claim(alive.id, "celery/x@h/1/alive") and store.claim(dead.id, "celery/y@h/2/dead")
        assert reaper.sweep(now=100.0) == []  # first seen without a lease: not yet
        time.sleep(1.0)  # longer than the lease's ttl: only the heartbeat keeps it
        assert reaper.sweep(now=102.0) == []
        assert reaper.sweep(now=103.5) == [dead.id] and sent == [(dead.id, "gpu")]
        assert store.get(dead.id).status == "queued" and store.get(alive.id).status == "running"
        assert reaper.sweep(now=110.0) == [] and len(sent) == 1
    assert not cluster.client.exists("avatar:lease:celery/x@h/1/alive")  # released when the run ends

    assert store.claim(dead.id, "celery/z@h/3/new")  # a new run took the job meanwhile
    assert not store.requeue(dead.id, worker="celery/y@h/2/dead")
    assert store.get(dead.id).worker == "celery/z@h/3/new" and store.get(dead.id).attempts == 2


def test_the_worker_needs_a_broker(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "AVATAR_BROKER"}
    result = subprocess.run([sys.executable, "-m", "avatar.commands.worker"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: AVATAR_BROKER is not set; start Redis and set AVATAR_BROKER=redis://localhost:6379/0."]


def test_the_run_lease_is_read_from_the_environment_and_a_bad_one_stops_the_worker(monkeypatch):
    from avatar.service.celery_app import LEASE_S, Lease

    monkeypatch.delenv("AVATAR_RUN_LEASE_S", raising=False)
    assert Lease(None, "celery/x@h/1/a").ttl_ms == LEASE_S * 1000
    monkeypatch.setenv("AVATAR_RUN_LEASE_S", "4.5")
    assert Lease(None, "celery/x@h/1/a").ttl_ms == 4500

    env = {**os.environ, "AVATAR_BROKER": "redis://127.0.0.1:1/0", "AVATAR_RUN_LEASE_S": "1"}
    result = subprocess.run([sys.executable, "-m", "avatar.commands.worker"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: AVATAR_RUN_LEASE_S='1' is not a number of 2 or more; set it to one, or unset it for the default (10)."]
