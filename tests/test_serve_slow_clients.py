"""A real `avatar serve` under slow and abusive clients: half-sent headers, stalled bodies, disconnects mid-upload."""

from __future__ import annotations

import functools
import os
import resource
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.test_api import KEY_A, Server

CAP = 100
HALF_SENT = 300


def _open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _read_until_closed(sock: socket.socket, timeout: float = 60.0) -> bytes:
    """Everything the server sends on this socket until it closes it (a reset counts as closed)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def _lower_open_files() -> None:
    """In the server's process before it starts: a soft limit of 1024 files, as many systems give."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("slow"), AVATAR_HEADER_TIMEOUT_S="2", AVATAR_BODY_TIMEOUT_S="2",
                     AVATAR_MAX_CONNECTIONS=str(CAP)).start()
    yield running
    running.stop()


def test_half_sent_headers_neither_block_others_nor_stay_open(server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * HALF_SENT:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * HALF_SENT), hard))
    slow = []
    try:
        for _ in range(HALF_SENT):  # three times the cap: more than the server will hold
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and never the rest
            slow.append(sock)
        answer = httpx.get(f"{server.url}/v1/health", timeout=30)  # another client, while they all wait
        assert answer.status_code == 200 and answer.json() == {"status": "ok"}
        assert _open_files(server.process.pid) < CAP + 64  # the cap holds: no descriptor per slow client
        endings = [_read_until_closed(sock) for sock in slow]  # every one is closed: made room, or timed out
        timed_out = [e for e in endings if e.startswith(b"HTTP/1.1 408")]
        assert timed_out and all(e == b"" or e in timed_out for e in endings)
        assert b"did not arrive within 2 s" in timed_out[0]
    finally:
        for sock in slow:
            sock.close()
    assert httpx.get(f"{server.url}/v1/health", timeout=30).status_code == 200
    log = server.log.read_text()
    assert "Traceback" not in log and "Too many open files" not in log, log[-2000:]


def test_a_stalled_body_is_cut_off_and_a_disconnect_mid_upload_is_quiet(server):
    head = (f"POST /v1/jobs/talk HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY_A}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n").encode()
    part = b'--b\r\nContent-Disposition: form-data; name="portrait"; filename="a.png"\r\n\r\n' + b"\0" * 10000
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as stalled:
        stalled.sendall(head + part)  # and then nothing
        answer = _read_until_closed(stalled)
    assert answer.startswith(b"HTTP/1.1 408") and b"The upload stalled" in answer

    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as gone:
        gone.sendall(head + part + b"\0" * 200000)
    uploads = Path(server.folder) / "outputs" / "jobs" / ".uploads"
    deadline = time.monotonic() + 60
    while any(uploads.glob("*")) and time.monotonic() < deadline:  # until the server has noticed
        time.sleep(0.05)
    assert not any(uploads.glob("*"))
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=30) as client:
        assert client.get("/v1/health").status_code == 200
    log = server.log.read_text()
    assert "Traceback" not in log and "ClientDisconnect" not in log, log[-2000:]


def test_the_server_raises_its_open_file_limit(tmp_path, monkeypatch):
    popen = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", functools.partial(popen, preexec_fn=_lower_open_files))
    started = Server(tmp_path).start()
    monkeypatch.setattr(subprocess, "Popen", popen)
    try:
        line = next(line for line in Path(f"/proc/{started.process.pid}/limits").read_text().splitlines()
                    if line.startswith("Max open files"))
        soft, hard = line.split()[3:5]
        assert soft == hard or int(soft) == 1 << 20, line  # raised from 1024 to the hard limit
    finally:
        started.stop()


def test_serve_help_says_how_to_run_behind_a_proxy(capsys):
    from avatar.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    help_text = capsys.readouterr().out
    for needed in ("AVATAR_HEADER_TIMEOUT_S", "AVATAR_MAX_CONNECTIONS", "AVATAR_MAX_UPLOADS", "AVATAR_MIN_FREE_MB",
                   "client_header_timeout", "proxy_buffering off", "flush_interval -1"):
        assert needed in help_text, needed


def test_a_kept_alive_connection_gets_the_same_header_deadline_for_its_next_request(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while b'{"status":"ok"}' not in first:
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")  # the next request, half sent: uvicorn's own
        assert _read_until_closed(sock).startswith(b"HTTP/1.1 408")  # keep-alive timer stopped at its first byte

    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:  # answered before its body
        sock.sendall(b"POST /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" + b"\0" * 200000)
        answer = _read_until_closed(sock)  # closed after the answer, not held open for the rest of the body
        assert answer.startswith(b"HTTP/1.1 405")
