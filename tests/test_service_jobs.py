"""The job store and the in-process job service: records in SQLite, results appear whole, cancel and delete clean up."""

from __future__ import annotations

import time

import pytest

from avatar.errors import InputError
from avatar.service.jobs import JobService, job_folder, run_job
from avatar.service.store import JobStore


def _wait(service: JobService, owner: str, job_id: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = service.get(owner, job_id)
        if job.finished_state:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture
def service(tmp_path) -> JobService:
    return JobService(JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}"), root=tmp_path / "jobs")


def test_a_talk_job_runs_and_only_its_owner_sees_it(service, tmp_path):
    job = service.submit("alice", "talk", {"text": "Hello from the queue.", "avatar": "maya", "size": 256}, {})
    assert job.status == "queued" and job.queue == "cpu"
    done = _wait(service, "alice", job.id)
    assert done.status == "done" and done.progress == 1.0
    assert done.results == ["video.mp4", "audio.wav", "captions.srt", "manifest.json"]
    assert service.result_file("alice", job.id, "video.mp4").stat().st_size > 0
    assert service.get("bob", job.id) is None and service.result_file("bob", job.id, "video.mp4") is None
    assert service.result_file("alice", job.id, "../inputs") is None
    assert [j.id for j in service.list("alice")] == [job.id] and service.list("bob") == []
    assert not list(job_folder(job.id, tmp_path / "jobs").glob(".work-*"))

    reopened = JobStore(service.store.url)  # another process, or the server after a restart
    assert reopened.get(job.id).status == "done"
    assert reopened.engine.connect().exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"

    assert service.delete("alice", job.id) and service.get("alice", job.id) is None
    assert not job_folder(job.id, tmp_path / "jobs").exists()


def test_bad_input_is_refused_before_anything_is_stored(service, tmp_path):
    with pytest.raises(InputError, match="text is empty"):
        service.submit("alice", "talk", {"text": " ", "avatar": "maya"}, {})
    with pytest.raises(InputError, match="nothing the voice can speak"):
        service.submit("alice", "talk", {"text": "... !!!", "avatar": "maya"}, {})
    with pytest.raises(InputError, match="Unknown parameter 'colour'"):
        service.submit("alice", "talk", {"text": "Hi.", "avatar": "maya", "colour": "red"}, {})
    with pytest.raises(InputError, match="Unknown job kind"):
        service.submit("alice", "dance", {}, {})
    with pytest.raises(InputError, match="Unknown file field"):
        service.submit("alice", "inpaint", {}, {"../../etc/passwd": b"x"})
    assert service.list("alice") == [] and not any((tmp_path / "jobs").iterdir())


def test_cancelling_a_running_job_removes_its_folder(service, tmp_path):
    job = service.submit("alice", "talk", {"text": "This sentence is long enough to take a while. " * 25,
                                           "avatar": "maya", "size": 256}, {})
    deadline = time.monotonic() + 60
    while service.get("alice", job.id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.cancel("alice", job.id).status == "cancelled"
    deadline = time.monotonic() + 60
    while job_folder(job.id, tmp_path / "jobs").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not job_folder(job.id, tmp_path / "jobs").exists()
    assert service.get("alice", job.id).status == "cancelled"


def test_a_failed_job_keeps_the_message_and_no_files(service, tmp_path, fixtures, monkeypatch):
    """A run can fail where no check at submit could have seen it (here the video maker refuses); its sentence is
    kept, and nothing it began is."""
    from avatar.talk import pipeline

    def refuse(*args, **kwargs):
        raise InputError("The face could not be animated; try another portrait.")

    monkeypatch.setattr(pipeline, "make_talking_video", refuse)
    job = service.submit("alice", "talk", {"text": "Hello."}, {"portrait": (fixtures / "obama_small.jpg").read_bytes()})
    done = _wait(service, "alice", job.id)
    assert done.status == "failed" and "face" in done.message.lower() and done.results == []
    assert not (job_folder(job.id, tmp_path / "jobs") / "results").exists()
    assert not list(job_folder(job.id, tmp_path / "jobs").glob(".work-*"))
    with pytest.raises(InputError, match="No face was found"):  # a portrait without a face never gets that far
        service.submit("alice", "talk", {"text": "Hello."}, {"portrait": (fixtures / "no_face.png").read_bytes()})
    assert [j.id for j in service.list("alice")] == [job.id]


def test_only_one_runner_claims_a_job(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    job = store.create("alice", "talk", "cpu", {"text": "Hi.", "avatar": "maya", "size": 256}, [])
    (tmp_path / "jobs" / job.id / "inputs").mkdir(parents=True)
    assert store.claim(job.id, "w1") and not store.claim(job.id, "w2")
    assert run_job(store, job.id, "w3", tmp_path / "jobs") is None  # already running elsewhere
    assert store.requeue(job.id) and store.get(job.id).status == "queued"
    done = run_job(store, job.id, "w2", tmp_path / "jobs")
    assert done.status == "done" and done.worker == "w2" and done.attempts == 2


class _Refused:
    """An executor whose queue cannot be reached (as CeleryExecutor raises when Redis is down)."""

    def submit(self, job) -> None:
        from avatar.errors import ServiceUnavailable

        raise ServiceUnavailable("The job queue cannot be reached, so nothing was queued.")


def test_a_job_the_queue_cannot_take_is_not_stored(tmp_path):
    from avatar.errors import ServiceUnavailable

    store = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    service = JobService(store, _Refused(), root=tmp_path / "jobs")
    with pytest.raises(ServiceUnavailable):
        service.submit("alice", "talk", {"text": "Hi.", "avatar": "maya", "size": 256}, {})
    assert store.list("alice") == [] and list((tmp_path / "jobs").iterdir()) == []


def test_a_run_given_up_for_dead_leaves_the_job_to_the_run_that_took_it(tmp_path):
    """Run w1 is still going when its job is re-queued (as a reaper does when w1's lease is lost) and taken by w2:
    w1 stops at its next progress report without writing the record or touching w2's folder, and w2 finishes."""
    import threading

    store, root = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}"), tmp_path / "jobs"
    job = store.create("alice", "talk", "cpu", {"text": "This takes a while to animate. " * 12, "avatar": "maya",
                                                "size": 256}, [])
    (root / job.id / "inputs").mkdir(parents=True)
    first: list = []
    runner = threading.Thread(target=lambda: first.append(run_job(store, job.id, "w1", root)))
    runner.start()
    deadline = time.monotonic() + 60
    while not (store.get(job.id).status == "running" and store.get(job.id).progress > 0):
        assert time.monotonic() < deadline, "w1 did not start"
        time.sleep(0.02)
    assert store.requeue(job.id, worker="w1") and store.claim(job.id, "w2")
    (root / job.id / ".work-2").mkdir()  # w2's work folder, as its run would make it
    runner.join(timeout=120)
    assert first[0].worker == "w2" and first[0].status == "running"  # w1 wrote nothing
    assert sorted(p.name for p in (root / job.id).iterdir()) == [".work-2", "inputs"]  # and took only its own folder
    assert not store.progress(job.id, "late", 0.5, worker="w1") and not store.finish(job.id, [], worker="w1")

    store.requeue(job.id, worker="w2")
    done = run_job(store, job.id, "w3", root)
    assert done.status == "done" and done.attempts == 3
    assert sorted(p.name for p in (root / job.id).iterdir()) == ["inputs", "results"]


def test_a_restart_takes_back_only_the_jobs_of_dead_processes(tmp_path):
    """Records left running by a process that is gone go back in line and run; one held by a live process (the
    app beside `avatar serve` on one database) or by a Celery worker (its lease decides) is left alone."""
    import socket
    import subprocess
    import sys

    from avatar.service.jobs import EmbeddedExecutor

    store, root = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}"), tmp_path / "jobs"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    host = socket.gethostname()
    runners = {"dead": f"embedded-{host}-{gone.pid}", "alive": f"embedded-{host}-{alive.pid}",
               "elsewhere": f"embedded-other-host-{gone.pid}", "celery": "celery/a@h/1/x"}
    try:
        records = {}
        for name, runner in runners.items():
            record = store.create("alice", "talk", "cpu", {"text": "Hi.", "avatar": "maya", "size": 256}, [])
            (root / record.id / "inputs").mkdir(parents=True)
            assert store.claim(record.id, runner)
            records[name] = record.id
        executor = EmbeddedExecutor(store, root)
        assert executor.resume() == 1
        done = _wait(JobService(store, executor, root), "alice", records["dead"])
        assert done.status == "done" and done.attempts == 2 and done.worker == executor.name
        for name in ("alive", "elsewhere", "celery"):
            assert store.get(records[name]).status == "running" and store.get(records[name]).worker == runners[name]
    finally:
        alive.kill()
        alive.wait()
