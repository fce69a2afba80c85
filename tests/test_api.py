"""`avatar serve` as a real server process on a loopback port, driven over HTTP with httpx."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from avatar.service.kinds import KINDS

KEY_A, KEY_B = "key-a-secret", "key-b-secret"
TALK = {"text": "Hello from the API.", "avatar": "maya", "size": 256}
LONG_TALK = {"text": "This job takes a little while to speak and animate. " * 12, "avatar": "maya", "size": 256}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One `python -m avatar.commands.serve` process with its own outputs folder and database."""

    def __init__(self, folder: Path, *args: str, **env: str) -> None:
        self.folder, self.args, self.env = folder, args, env
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = folder / f"serve-{self.port}.log"  # a file, not a pipe nobody reads (a full pipe would stall it)

    def start(self) -> "Server":
        env = {key: value for key, value in os.environ.items() if key != "AVATAR_BROKER"}  # embedded unless given
        env.update({"AVATAR_OUTPUTS": str(self.folder / "outputs"),
                    "AVATAR_DATABASE_URL": f"sqlite:///{self.folder / 'db' / 'jobs.sqlite3'}",
                    "AVATAR_CHECKPOINTS": str(self.folder / "checkpoints"), "AVATAR_API_KEYS": f"{KEY_A},{KEY_B}",
                    **self.env})
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "avatar.commands.serve", "--port", str(self.port), *self.args], env=env,
                stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"the server did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def client(self, key: str | None = KEY_A) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path).start()
    yield running
    running.stop()


def _submit(client: httpx.Client, params: dict, files: dict | None = None, kind: str = "talk") -> httpx.Response:
    return client.post(f"/v1/jobs/{kind}", data={"params": json.dumps(params)}, files=files or {})


def _raw_get(server: Server, path: str, key: str = KEY_A) -> int:
    """GET with the path sent byte for byte (httpx would resolve `..` segments before sending them)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        return connection.getresponse().status
    finally:
        connection.close()


def _follow(client: httpx.Client, job_id: str) -> list[dict]:
    events = []
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def test_a_job_is_submitted_followed_and_downloaded_and_survives_a_restart(tmp_path):
    first = Server(tmp_path).start()
    try:
        with first.client() as client:
            response = _submit(client, TALK)
            assert response.status_code == 202
            job_id = response.json()["id"]
            events = _follow(client, job_id)
            assert events[-1]["status"] == "done" and events[-1]["progress"] == 1.0
            assert [e["progress"] for e in events] == sorted(e["progress"] for e in events)
            video = client.get(f"/v1/jobs/{job_id}/files/video.mp4")
            assert video.status_code == 200 and video.content[4:8] == b"ftyp"
            assert [job["id"] for job in client.get("/v1/jobs").json()] == [job_id]
            assert client.get("/docs").status_code == 200
            schema = client.get("/openapi.json").json()["paths"]["/v1/jobs/{kind}"]["post"]["requestBody"]
            assert "params" in schema["content"]["multipart/form-data"]["schema"]["properties"]
            documented = client.get("/openapi.json").json()["components"]["schemas"]
            assert {f"params_{kind}" for kind in KINDS} <= set(documented)
            assert documented["params_talk"]["properties"]["size"]["default"] == 768
            listed = {model["id"]: model for model in client.get("/v1/models").json()}
            assert listed["xtts-v2"]["state"] == "missing" and listed["xtts-v2"]["install"]
            assert listed["piper-joe"]["state"] == "bundled" and listed["piper-joe"]["installed"]
            assert client.get("/v1/models/piper-joe").json() == listed["piper-joe"]
            missing = client.get("/v1/models/no-such-model")
            assert missing.status_code == 404 and "GET /v1/models" in missing.json()["detail"]
    finally:
        first.stop()
    second = Server(tmp_path).start()  # same database and outputs
    try:
        with second.client() as client:
            assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "done"
            assert client.get(f"/v1/jobs/{job_id}/files/video.mp4").content == video.content
    finally:
        second.stop()


def test_keys_see_only_their_own_jobs(server):
    with server.client() as alice, server.client(KEY_B) as bob, server.client(None) as anonymous, \
            server.client("wrong") as wrong:
        assert anonymous.get("/v1/jobs").status_code == 401 and wrong.get("/v1/jobs").status_code == 401
        assert _submit(anonymous, TALK).status_code == 401
        job_id = _submit(alice, TALK).json()["id"]
        assert _follow(alice, job_id)[-1]["status"] == "done"
        for request in (bob.get(f"/v1/jobs/{job_id}"), bob.get(f"/v1/jobs/{job_id}/files/video.mp4"),
                        bob.get(f"/v1/jobs/{job_id}/events"), bob.post(f"/v1/jobs/{job_id}/cancel"),
                        bob.delete(f"/v1/jobs/{job_id}"), bob.get("/v1/jobs/0123456789abcdef0123456789abcdef")):
            assert request.status_code == 404, request.url
        assert bob.get("/v1/jobs").json() == []
        for name in ("../inputs", "../inputs/", "../../jobs.sqlite3", "../results/video.mp4", "..%2Fmanifest.json",
                     "%2e%2e", "%2e%2e%2finputs", "%2e%2e/%2e%2e/jobs.sqlite3", "results", ".", "video.mp4%00"):
            assert _raw_get(server, f"/v1/jobs/{job_id}/files/{name}") == 404, name
        assert _raw_get(server, f"/v1/jobs/{job_id}/files/video.mp4") == 200
        assert _raw_get(server, f"/v1/jobs/{job_id}/files/video.mp4", KEY_B) == 404
        assert httpx.get(f"{server.url}/v1/jobs/{job_id}", headers={"X-API-Key": KEY_A}).status_code == 200
        assert alice.get(f"/v1/jobs/{job_id}/files/video.mp4").status_code == 200
        assert alice.delete(f"/v1/jobs/{job_id}").status_code == 204
        assert alice.get(f"/v1/jobs/{job_id}").status_code == 404


def test_bad_input_too_large_and_too_many(tmp_path, fixtures):
    server = Server(tmp_path, AVATAR_MAX_UPLOAD_MB="1", AVATAR_MAX_ACTIVE_JOBS="1").start()
    try:
        with server.client() as client:
            empty = _submit(client, {"text": "  ", "avatar": "maya"})
            assert empty.status_code == 422 and empty.json()["detail"] == (
                "The text is empty; type what the avatar should say.")
            wordless = _submit(client, {"text": "... !!!", "avatar": "maya"})
            assert wordless.status_code == 422 and wordless.json()["detail"] == (
                "The text has nothing the voice can speak; use words or numbers.")
            assert _submit(client, TALK, kind="dance").status_code == 404
            big = _submit(client, {"text": "Hi."}, files={"portrait": ("big.png", b"\0" * (2 * 1024**2), "image/png")})
            assert big.status_code == 413 and "1 MB" in big.json()["detail"]

            def chunks():  # no Content-Length: the server counts while it reads
                yield b"--b\r\nContent-Disposition: form-data; name=\"portrait\"; filename=\"a.png\"\r\n\r\n"
                for _ in range(24):
                    yield b"\0" * 65536
            chunked = client.post("/v1/jobs/talk", content=chunks(),
                                  headers={"Content-Type": "multipart/form-data; boundary=b"})
            assert chunked.status_code == 413 and "content-length" not in chunked.request.headers
            assert client.get("/v1/jobs").json() == []

            first = _submit(client, LONG_TALK)
            assert first.status_code == 202
            second = _submit(client, LONG_TALK)
            assert second.status_code == 429 and "wait for one to finish" in second.json()["detail"]
            cancelled = client.post(f"/v1/jobs/{first.json()['id']}/cancel").json()
            assert cancelled["status"] == "cancelled"
            portrait = (fixtures / "obama_small.jpg").read_bytes()
            field = _submit(client, {"text": "Hi."}, files={"../../portrait": ("me.jpg", portrait, "image/jpeg")})
            assert field.status_code == 422 and field.json()["detail"].startswith("Unknown file field '../../portrait'")
            with_file = _submit(client, {"text": "A portrait of my own."},  # the client's folders are never used
                                files={"portrait": ("../../../../evil.jpg", portrait, "image/jpeg")})
            assert with_file.status_code == 202
            job_id = with_file.json()["id"]
            assert _follow(client, job_id)[-1]["status"] == "done"
            inputs = tmp_path / "outputs" / "jobs" / job_id / "inputs"
            assert [p.relative_to(tmp_path) for p in tmp_path.rglob("evil.jpg")] == [
                (inputs / "portrait" / "evil.jpg").relative_to(tmp_path)]  # only its base name, in its field's folder
    finally:
        server.stop()


def test_no_keys_means_no_server_unless_no_auth(tmp_path):
    env = {**os.environ, "AVATAR_OUTPUTS": str(tmp_path)}
    env.pop("AVATAR_API_KEYS", None)
    done = subprocess.run([sys.executable, "-m", "avatar.commands.serve", "--port", str(_port())], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "AVATAR_API_KEYS" in done.stderr and "--no-auth" in done.stderr

    local = Server(tmp_path, "--no-auth", AVATAR_API_KEYS="").start()
    try:
        assert httpx.get(f"{local.url}/v1/jobs").json() == []
    finally:
        local.stop()
