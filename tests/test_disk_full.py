"""A full disk: submissions are a 507 sentence with nothing stored, a job that runs out of room says so, the server
goes on. On a small real tmpfs where the test may mount one (always under CI=true), and with ENOSPC faked."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from avatar.service.api import create_app
from avatar.service.disk import DISK_FULL_MESSAGE, is_disk_full
from avatar.service.job_kind import JobKind
from avatar.service.jobs import JobService
from avatar.service.kinds import KINDS
from avatar.service.runs import run_job
from avatar.service.store import JobStore
from tests.conftest import wait_finished

KEY = "disk-test-key"
TALK = {"text": "Hello there, this sentence needs a little room on the disk.", "avatar": "maya", "size": 256}


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs, unmounted afterwards; skipped where mounting is not allowed, except under CI=true."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must be able to mount a tmpfs (run as root): {done.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Fill `disk` to the last byte, then free `leave` bytes; the filler file, to delete for room."""
    room, filler = disk / "room", disk / f"filler-{len(list(disk.glob('filler-*')))}"
    room.write_bytes(b"\0" * leave)
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    try:
        with open(filler, "ab", buffering=0) as out:  # the last partial piece
            while True:
                out.write(b"\0" * 4096)
    except OSError:
        pass
    room.unlink()
    return filler


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_on_a_full_tmpfs_submissions_are_507_jobs_say_so_and_the_server_serves(small_disk, monkeypatch):
    monkeypatch.setenv("AVATAR_OUTPUTS", str(small_disk / "outputs"))
    monkeypatch.setenv("AVATAR_MIN_FREE_MB", "1")
    service = JobService(JobStore(f"sqlite:///{small_disk / 'outputs' / 'jobs.sqlite3'}"),
                         root=small_disk / "outputs" / "jobs")
    client = TestClient(create_app(service, keys=[KEY]), headers={"Authorization": f"Bearer {KEY}"})
    jobs = small_disk / "outputs" / "jobs"
    filler = _fill(small_disk, leave=512 * 1024)

    refused = client.post("/v1/jobs/talk", data={"params": json.dumps(TALK)})  # below the margin: checked first
    assert refused.status_code == 507 and refused.json()["detail"] == (
        "The server's disk is full; free some space on it, then send the job again.")
    monkeypatch.setenv("AVATAR_MIN_FREE_MB", "0")

    def chunked():  # no Content-Length: the disk fills up while the body is written
        yield b'--b\r\nContent-Disposition: form-data; name="portrait"; filename="me.png"\r\n\r\n'
        for _ in range(16):
            yield b"\0" * 65536  # 1 MB, more than the disk has left
        yield b"\r\n--b--\r\n"

    written = client.post("/v1/jobs/talk", content=chunked(),
                          headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert written.status_code == 507 and "disk is full" in written.json()["detail"]
    assert "content-length" not in written.request.headers
    assert _files_under(jobs) == [] and service.store.list(None) == []

    filler.unlink()
    _fill(small_disk, leave=64 * 1024)  # room to take the job, not to make its video
    accepted = client.post("/v1/jobs/talk", data={"params": json.dumps(TALK)})
    assert accepted.status_code == 202, accepted.text
    job = wait_finished(service, service.store.get(accepted.json()["id"]).owner, accepted.json()["id"])
    assert job.status == "failed" and job.message == DISK_FULL_MESSAGE
    assert not list((jobs / job.id).glob(".work-*")) and not (jobs / job.id / "results").exists()
    assert client.get("/v1/health").json() == {"status": "ok"}
    assert client.get(f"/v1/jobs/{job.id}").json()["message"] == DISK_FULL_MESSAGE


def test_enospc_faked_in_a_run_fails_the_job_with_the_disk_sentence(tmp_path, monkeypatch, caplog):
    def run(params, inputs, out: Path, progress):
        (out / "part.mp4").write_bytes(b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setitem(KINDS, "fills", JobKind("fills", "Fills", (), lambda params, inputs: "cpu", run))
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    job = store.create("alice", "fills", "cpu", {}, [])
    (tmp_path / "jobs" / job.id / "inputs").mkdir(parents=True)
    ended = run_job(store, job.id, "test-worker", tmp_path / "jobs")
    assert ended.status == "failed" and ended.message == DISK_FULL_MESSAGE
    assert list((tmp_path / "jobs" / job.id).iterdir()) == [tmp_path / "jobs" / job.id / "inputs"]
    assert "Traceback" not in caplog.text


def test_what_counts_as_a_full_disk():
    import sqlite3

    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert is_disk_full(sqlite3.OperationalError("database or disk is full"))
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("the encoder stopped") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(ValueError("bad value"))
