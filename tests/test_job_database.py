"""A damaged or emptied job database: `avatar serve`, the commands and the app refuse with one sentence naming the
file and the way back; `avatar jobs repair` rebuilds what can be saved and keeps the damaged file."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from avatar.service.jobs import JobService
from avatar.service.repair import LOST_MESSAGE
from avatar.service.store import JobStore
from avatar.service.store_health import DatabaseDamaged

TALK = {"text": "Kept in the folder.", "avatar": "maya", "size": 256}


class _Queue:
    """Takes jobs without running them: these tests are about their records."""

    def submit(self, job) -> None:
        pass


def _studio(tmp_path: Path, jobs: int = 3) -> tuple[Path, list[str]]:
    """An outputs folder with a database of `jobs` talk jobs (the first one done, with results); its job ids."""
    outputs = tmp_path / "outputs"
    store = JobStore(f"sqlite:///{outputs / 'jobs.sqlite3'}")
    service = JobService(store, _Queue(), outputs / "jobs")
    ids = [service.submit("local", "talk", {**TALK, "text": f"Job number {n}."}, {}).id for n in range(jobs)]
    results = outputs / "jobs" / ids[0] / "results"
    results.mkdir()
    (results / "video.mp4").write_bytes(b"\0" * 10)
    store.claim(ids[0], "w")
    store.finish(ids[0], ["video.mp4"], "w")
    with store.engine.connect() as db:  # everything in the main file, as after a clean stop
        db.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.engine.dispose()
    return outputs, ids


def _avatar(outputs: Path, *args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {**os.environ, "AVATAR_OUTPUTS": str(outputs)}
    for name in ("AVATAR_DATABASE_URL", "AVATAR_BROKER", "AVATAR_API_KEYS"):
        base.pop(name, None)
    env = {**base, **(env or {})}
    return subprocess.run([sys.executable, "-m", "avatar", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ")
    return done.stderr


def _damage(path: Path, how: str) -> None:
    size = path.stat().st_size
    if how == "garbage":
        path.write_bytes(os.urandom(size))
    elif how == "truncated":
        os.truncate(path, size // 2)
    elif how == "empty":
        os.truncate(path, 0)


@pytest.mark.parametrize("how, reason", [("garbage", "file is not a database"),
                                         ("truncated", "database disk image is malformed")])
def test_serve_and_commands_refuse_a_damaged_database_in_one_line(tmp_path, how, reason):
    outputs, _ = _studio(tmp_path, jobs=40)
    database = outputs / "jobs.sqlite3"
    _damage(database, how)
    served = _one_error_line(_avatar(outputs, "serve", "--no-auth", "--port", str(_port())))
    assert f"The job database {database} is damaged ({reason})" in served and "avatar jobs repair" in served
    listed = _one_error_line(_avatar(outputs, "jobs", "list", "--all"))
    assert str(database) in listed and "avatar jobs repair" in listed
    if how == "garbage":  # a worker too, before it even looks for its broker
        worker = _one_error_line(_avatar(outputs, "worker", env={"AVATAR_BROKER": "redis://127.0.0.1:1/0"}))
        assert f"The job database {database} is damaged" in worker


def test_an_emptied_database_beside_job_folders_is_noticed_and_repaired_from_them(tmp_path):
    outputs, ids = _studio(tmp_path)
    older = outputs / "jobs" / ("0" * 32)  # a done job's folder from before folders kept their record
    (older / "inputs").mkdir(parents=True)
    (older / "results").mkdir()
    (older / "results" / "video.mp4").write_bytes(b"\0")
    database = outputs / "jobs.sqlite3"
    _damage(database, "empty")
    served = _one_error_line(_avatar(outputs, "serve", "--no-auth", "--port", str(_port())))
    assert f"The job database {database} has no jobs, but {outputs / 'jobs'} holds 4 job folders" in served
    assert "avatar jobs repair" in served

    repaired = _avatar(outputs, "jobs", "repair")
    assert repaired.returncode == 0, repaired.stderr
    assert "0 records read from the old file, 3 from job folders" in repaired.stdout
    moved = next(outputs.glob("jobs-unrecorded-*"))
    assert f"1 older job folder without a record copy moved to {moved}" in repaired.stdout
    assert (moved / older.name / "results" / "video.mp4").is_file() and not older.exists()
    backups = [path for path in outputs.glob("jobs.sqlite3.damaged-*") if not path.name.endswith(("-wal", "-shm"))]
    assert len(backups) == 1  # what was there is kept, whatever it was
    store = JobStore(f"sqlite:///{database}")
    jobs = {job.id: job for job in store.list(None)}
    assert set(jobs) == set(ids)
    assert jobs[ids[0]].status == "done" and jobs[ids[0]].results == ["video.mp4"]
    assert jobs[ids[1]].status == "failed" and jobs[ids[1]].message == LOST_MESSAGE
    assert jobs[ids[2]].params["text"] == "Job number 2." and jobs[ids[2]].owner == "local"
    listed = _avatar(outputs, "jobs", "list")
    assert listed.returncode == 0 and all(job_id in listed.stdout for job_id in ids)
    assert "nothing to repair" in _avatar(outputs, "jobs", "repair").stdout


def test_repair_reads_what_a_truncated_file_still_holds(tmp_path):
    outputs, ids = _studio(tmp_path, jobs=200)
    database = outputs / "jobs.sqlite3"
    _damage(database, "truncated")
    for job_id in ids[:150]:  # the folders of most jobs are gone too: those records come from the old file
        for path in sorted((outputs / "jobs" / job_id).rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        (outputs / "jobs" / job_id).rmdir()
    repaired = _avatar(outputs, "jobs", "repair")
    assert repaired.returncode == 0, repaired.stderr
    assert "is damaged (database disk image is malformed)" in repaired.stdout
    kept = {job.id for job in JobStore(f"sqlite:///{database}").list(None, 1000)}
    assert set(ids[150:]) <= kept  # every job with a folder
    assert len(kept & set(ids[:150])) > 0  # and rows read from the damaged file
    with pytest.raises(sqlite3.DatabaseError):  # the backup is the damaged file, untouched
        sqlite3.connect(next(outputs.glob("jobs.sqlite3.damaged-*"))).execute("PRAGMA integrity_check").fetchall()


def test_damage_found_by_a_later_query_is_the_same_sentence(tmp_path):
    outputs, _ = _studio(tmp_path, jobs=300)
    database = outputs / "jobs.sqlite3"
    store = JobStore(f"sqlite:///{database}")
    size = database.stat().st_size
    with open(database, "r+b") as file:  # pages in the middle overwritten while the store is open
        file.seek(size // 2)
        file.write(os.urandom(16384))
    with pytest.raises(DatabaseDamaged, match=r"is damaged \(database disk image is malformed\); stop the studio"):
        store.list(None, 1000)


def test_the_app_shows_the_sentence_instead_of_a_page(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import PROJECT_DIR

    outputs, _ = _studio(tmp_path)
    _damage(outputs / "jobs.sqlite3", "garbage")
    monkeypatch.setenv("AVATAR_OUTPUTS", str(outputs))
    monkeypatch.delenv("AVATAR_DATABASE_URL", raising=False)
    at = AppTest.from_file(str(PROJECT_DIR / "streamlit_app.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] and "is damaged (file is not a database)" in at.error[0].value


def test_the_api_answers_503_when_a_request_finds_the_database_damaged(tmp_path, caplog):
    from fastapi.testclient import TestClient

    from avatar.service.api import create_app

    outputs, _ = _studio(tmp_path, jobs=300)
    database = outputs / "jobs.sqlite3"
    service = JobService(JobStore(f"sqlite:///{database}"), _Queue(), outputs / "jobs")
    client = TestClient(create_app(service, auth=False))
    with open(database, "r+b") as file:
        file.seek(database.stat().st_size // 2)
        file.write(os.urandom(16384))
    answer = client.get("/v1/jobs?limit=1000")
    assert answer.status_code == 503 and answer.json()["detail"].startswith("The server's job database is damaged")
    assert str(database) not in answer.text and f"The job database {database} is damaged" in caplog.text
    assert client.get("/v1/health").status_code == 200


def test_a_missing_database_beside_job_folders_is_noticed(tmp_path):
    outputs, _ = _studio(tmp_path)
    (outputs / "jobs.sqlite3").unlink()
    listed = _one_error_line(_avatar(outputs, "jobs", "list"))
    assert f"has no jobs, but {outputs / 'jobs'} holds 3 job folders: it is missing, empty or was replaced" in listed
