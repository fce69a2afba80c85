"""Submission bodies in the API, driven in-process over raw ASGI: streamed to disk, bounded, cleaned up on every path."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import tracemalloc
from pathlib import Path
from typing import Any, AsyncIterator, Optional

import pytest

from avatar.service.api import create_app
from avatar.service.job_kind import JobKind
from avatar.service.jobs import JobService
from avatar.service.kinds import KINDS
from avatar.service.store import JobStore
from avatar.service.uploads import MAX_PARAMS_DEPTH, json_depth
from tests.conftest import run_async

KEY = "upload-test-key"
BOUNDARY = "testboundary"
CHUNK = b"\x5a" * 65536


class _Queue:
    """An executor that only remembers what it was given: these tests are about taking jobs in, not running them."""

    def __init__(self) -> None:
        self.jobs: list = []

    def submit(self, job) -> None:
        self.jobs.append(job)


@pytest.fixture
def blob_kind(monkeypatch):
    """A kind with one file field whose check only looks at the file's size (no decoding in the way)."""
    seen: dict[str, int] = {}

    def check(params: dict[str, Any], inputs: dict[str, Path]) -> str:
        seen["size"] = inputs["data"].stat().st_size if "data" in inputs else 0
        return "cpu"

    monkeypatch.setitem(KINDS, "blob", JobKind("blob", "Blob", ("data",), check, lambda *args: []))
    return seen


@pytest.fixture
def service(tmp_path) -> JobService:
    return JobService(JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}"), _Queue(), tmp_path / "jobs")


def _head(field: str, filename: Optional[str] = None) -> bytes:
    name = f'; filename="{filename}"' if filename else ""
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"{name}\r\n\r\n'.encode()


def _form(params: dict, file_chunks: int = 0) -> list[bytes]:
    """A multipart body as pieces: params, then (with file_chunks) one file of that many 64 KB pieces."""
    pieces = [_head("params") + json.dumps(params).encode() + b"\r\n"]
    if file_chunks:
        pieces.append(_head("data", "big.bin"))
        pieces.extend([CHUNK] * file_chunks)
        pieces.append(b"\r\n")
    pieces.append(f"--{BOUNDARY}--\r\n".encode())
    return pieces


async def _call(app, path: str, pieces: AsyncIterator[dict] | list[bytes], content_type: Optional[str] = None,
                length: Optional[int] = None) -> tuple[int, dict]:
    """One POST through the ASGI app; `pieces` is the body (sent in order) or an iterator of ASGI messages."""
    headers = [(b"authorization", f"Bearer {KEY}".encode()),
               (b"content-type", (content_type or f"multipart/form-data; boundary={BOUNDARY}").encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    if isinstance(pieces, list):
        messages = iter([{"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
                         for i, piece in enumerate(pieces)])

        async def source():
            for message in messages:
                yield message
        stream = source()
    else:
        stream = pieces
    ended = asyncio.Event()

    async def receive() -> dict:
        if not ended.is_set():
            try:
                return await stream.__anext__()
            except StopAsyncIteration:
                ended.set()
        await asyncio.Event().wait()  # a real server never answers again once the body is complete

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body) if body else {}


def _left_in(root: Path) -> list[Path]:
    """Every file under the jobs folder (the spool folder's own empty directory does not count)."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_large_upload_streams_to_disk_with_bounded_memory(service, blob_kind, tmp_path):
    app = create_app(service, keys=[KEY])
    pieces = _form({"note": "sixty megabytes"}, file_chunks=960)  # 60 MB in 64 KB pieces (one piece, reused)
    tracemalloc.start()
    try:
        status, body = run_async(_call(app, "/v1/jobs/blob", pieces))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 202, body
    assert blob_kind["size"] == 960 * len(CHUNK)
    assert peak < 16 * 1024**2, f"the upload raised memory by {peak / 1024**2:.0f} MB"  # it was ~180 MB for 60 MB
    stored = tmp_path / "jobs" / body["id"] / "inputs" / "data" / "big.bin"
    assert stored.stat().st_size == 960 * len(CHUNK)
    assert _left_in(tmp_path / "jobs" / ".uploads") == []  # the spooled file was moved, not copied and left


def test_a_client_that_disconnects_mid_upload_leaves_nothing_and_no_log(service, blob_kind, tmp_path, caplog):
    app = create_app(service, keys=[KEY])

    async def half_then_gone():
        yield {"type": "http.request", "body": _head("data", "a.bin") + CHUNK * 4, "more_body": True}
        yield {"type": "http.disconnect"}

    with caplog.at_level(logging.INFO):
        run_async(_call(app, "/v1/jobs/blob", half_then_gone()))
    assert _left_in(tmp_path / "jobs") == [] and service.store.list(None) == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_refusals_while_reading_leave_no_file(service, blob_kind, tmp_path, monkeypatch):
    monkeypatch.setenv("AVATAR_MAX_UPLOAD_MB", "1")
    monkeypatch.setenv("AVATAR_BODY_TIMEOUT_S", "0.2")
    app = create_app(service, keys=[KEY])
    too_big = run_async(_call(app, "/v1/jobs/blob", _form({}, file_chunks=20)))  # no Content-Length: counted
    assert too_big[0] == 413 and too_big[1]["detail"] == "The upload is larger than 1 MB; send smaller files."

    async def stalls():
        yield {"type": "http.request", "body": _head("data", "a.bin") + CHUNK, "more_body": True}
        await asyncio.Event().wait()

    stalled = run_async(_call(app, "/v1/jobs/blob", stalls()))
    assert stalled[0] == 408 and stalled[1]["detail"] == ("The upload stalled: nothing arrived for 0.2 s; "
                                                          "send it again.")
    cut = run_async(_call(app, "/v1/jobs/blob", [_head("data", "a.bin") + CHUNK]))  # ends without a boundary
    assert cut[0] == 400 and "cut short" in cut[1]["detail"]
    assert _left_in(tmp_path / "jobs") == [] and service.store.list(None) == []


def test_concurrent_uploads_are_capped(service, blob_kind, tmp_path, monkeypatch):
    monkeypatch.setenv("AVATAR_MAX_UPLOADS", "1")
    monkeypatch.setenv("AVATAR_UPLOAD_WAIT_S", "0.2")  # how long the second one waits for the first to arrive
    app = create_app(service, keys=[KEY])

    async def both():
        release, started = asyncio.Event(), asyncio.Event()

        async def slow():
            started.set()
            yield {"type": "http.request", "body": _head("params") + b"{}\r\n", "more_body": True}
            await release.wait()
            yield {"type": "http.request", "body": f"--{BOUNDARY}--\r\n".encode(), "more_body": False}

        first = asyncio.create_task(_call(app, "/v1/jobs/blob", slow()))
        await started.wait()
        while not first.done() and not list((tmp_path / "jobs" / ".uploads").glob("*")):
            await asyncio.sleep(0.01)  # until the first upload is being received
        second = await _call(app, "/v1/jobs/blob", _form({}))
        release.set()
        return await first, second

    first, second = run_async(both())
    assert second[0] == 503 and second[1]["detail"] == ("The server is already receiving 1 uploads; send this one "
                                                        "again in a few seconds.")
    assert first[0] == 202
    assert run_async(_call(app, "/v1/jobs/blob", _form({})))[0] == 202  # the slot is free again


def test_params_too_deep_or_too_large_are_one_sentence(service, blob_kind):
    app = create_app(service, keys=[KEY])
    deep = "[" * 100_000 + "]" * 100_000
    pieces = [_head("params") + deep.encode() + b"\r\n", f"--{BOUNDARY}--\r\n".encode()]
    status, body = run_async(_call(app, "/v1/jobs/blob", pieces))
    assert status == 413 and "64 KB" in body["detail"] and len(body["detail"]) < 200
    nested = '{"a": ' * 1000 + "1" + "}" * 1000  # small, but deep
    for pieces, content_type in (
            ([_head("params") + nested.encode() + b"\r\n", f"--{BOUNDARY}--\r\n".encode()], None),
            ([b"params=" + nested.replace(" ", "").encode()], "application/x-www-form-urlencoded")):
        status, body = run_async(_call(app, "/v1/jobs/blob", pieces, content_type))
        assert status == 422 and body["detail"] == (f"The params field nests more than {MAX_PARAMS_DEPTH} levels "
                                                    "deep; send a flat JSON object of the job's parameters.")
    huge = {"text": "x" * 70_000}
    status, body = run_async(_call(app, "/v1/jobs/blob", [b"params=" + json.dumps(huge).encode()],
                                     "application/x-www-form-urlencoded"))
    assert status == 413 and "x" * 50 not in body["detail"]
    status, body = run_async(_call(app, "/v1/jobs/blob", _form({"points": [[1, 2], [3, 4]]})))
    assert status == 202
    assert json_depth('{"a": "[[[[", "b": [{"c": "\\"]]"}]}') == 3  # brackets in strings do not count


def test_a_full_disk_is_507_and_stores_nothing(service, blob_kind, tmp_path, monkeypatch):
    app = create_app(service, keys=[KEY])
    monkeypatch.setenv("AVATAR_MIN_FREE_MB", str(10**12))  # "less free space than the margin", on any machine
    status, body = run_async(_call(app, "/v1/jobs/blob", _form({}, file_chunks=2)))
    assert status == 507 and body["detail"] == ("The server's disk is full; free some space on it, then send the "
                                                "job again.")
    monkeypatch.setenv("AVATAR_MIN_FREE_MB", "0")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    import avatar.service.uploads as uploads

    class FullFile:  # a spool file on a disk that fills up while the body arrives
        def __init__(self, *args, **kwargs) -> None:
            pass

        write = full

        def close(self) -> None:
            pass

    monkeypatch.setattr(uploads, "open", FullFile, raising=False)
    status, body = run_async(_call(app, "/v1/jobs/blob", _form({}, file_chunks=2)))
    assert status == 507
    monkeypatch.undo()
    monkeypatch.setitem(KINDS, "blob", JobKind("blob", "Blob", ("data",), full, lambda *args: []))
    status, body = run_async(_call(app, "/v1/jobs/blob", _form({}, file_chunks=2)))  # full while stored
    assert status == 507
    assert _left_in(tmp_path / "jobs") == [] and service.store.list(None) == []


def test_spool_folders_left_by_a_dead_server_are_swept(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    from avatar.service.uploads import spool_root, sweep_spool

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    spool = spool_root(tmp_path)
    left = spool / f"{host}~{dead.stdout.strip()}-0123abcd"
    mine = spool / f"{host}~{os.getpid()}-4567cdef"
    other_host = spool / f"elsewhere~{dead.stdout.strip()}-89abcdef"
    for folder in (left, mine, other_host):
        folder.mkdir(parents=True)
        (folder / "0-part").write_bytes(b"half an upload")
    assert sweep_spool(tmp_path) == 1
    assert not left.exists() and mine.exists() and other_host.exists()


def test_a_body_of_another_type_is_415_with_the_way_to_send_it(service, blob_kind, tmp_path):
    app = create_app(service, keys=[KEY])
    status, body = run_async(_call(app, "/v1/jobs/blob", [b'{"text": "Hi."}'], "application/json"))
    assert status == 415 and body["detail"].startswith("Send a job as multipart/form-data")
    assert _left_in(tmp_path / "jobs") == [] and service.store.list(None) == []
