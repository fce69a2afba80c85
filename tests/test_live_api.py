"""The live API through WebRTC: a client peer opens a session, hears it speak, stops, saves and ends it."""

from __future__ import annotations

import asyncio
import gc
import time

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from avatar.live.capacity import LiveCapacity
from avatar.live.manager import LiveSessions
from avatar.live.routes import live_router
from avatar.live.session import LiveSettings
from avatar.service.jobs import JobService, job_folder
from avatar.service.store import JobStore
from tests.conftest import run_async

KEYS = {"key-a": "alice", "key-b": "bob"}
A, B = {"X-API-Key": "key-a"}, {"X-API-Key": "key-b"}


def owner(request: Request) -> str:
    who = KEYS.get(request.headers.get("x-api-key", ""))
    if who is None:
        raise HTTPException(401, "A valid API key is needed.")
    return who


@pytest.fixture
def jobs(tmp_path) -> JobService:
    return JobService(JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}"), root=tmp_path / "jobs")


@pytest.fixture
def client(jobs):
    app = FastAPI()
    router = live_router(owner, LiveSessions(LiveCapacity(1), LiveSettings(idle_timeout=30)), jobs=lambda: jobs)
    app.include_router(router)
    with TestClient(app) as client:
        yield client
    assert not router.live_sessions.entries  # the server's shutdown ended every session


async def _offer() -> RTCPeerConnection:
    peer = RTCPeerConnection()
    peer.addTransceiver("video", direction="recvonly")
    peer.addTransceiver("audio", direction="recvonly")
    await peer.setLocalDescription(await peer.createOffer())
    return peer


async def _consume(track, into: list) -> None:
    try:
        while True:
            frame = await track.recv()
            into.append(frame.to_ndarray())
    except MediaStreamError:
        return


def _finished(jobs: JobService, job_id: str, timeout: float = 300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = jobs.get("alice", job_id)
        if job.status in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"the saved session's job did not finish: {jobs.get('alice', job_id)}")


def test_a_session_idles_speaks_stops_saves_and_ends_over_webrtc(client, jobs):
    async def scenario() -> None:
        peer = await _offer()
        received: dict[str, list] = {"video": [], "audio": []}
        readers: list[asyncio.Task] = []
        peer.on("track", lambda track: readers.append(asyncio.ensure_future(_consume(track, received[track.kind]))))
        answer = await asyncio.to_thread(client.post, "/v1/live", headers=A,
                                         json={"sdp": peer.localDescription.sdp, "type": "offer", "avatar": "maya"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        session = body["id"]
        await peer.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))

        other = await _offer()
        full = await asyncio.to_thread(client.post, "/v1/live", headers=B,
                                       json={"sdp": other.localDescription.sdp, "type": "offer"})
        assert full.status_code == 503 and "live session" in full.json()["detail"]
        await other.close()

        await asyncio.sleep(1.5)  # idle
        idle_audio = len(received["audio"])
        assert len(received["video"]) >= 10 and idle_audio >= 20
        assert max(np.abs(a).max() for a in received["audio"]) < 100  # silence while idle

        theirs = await asyncio.to_thread(client.post, f"/v1/live/{session}/say", headers=B, json={"text": "Hi."})
        assert theirs.status_code == 404
        said = await asyncio.to_thread(client.post, f"/v1/live/{session}/say", headers=A,
                                       json={"text": "Hello there. This is a second sentence that runs on a while."})
        assert said.status_code == 200 and said.json()["sentences"][0] == "Hello there."
        await asyncio.sleep(2.5)
        assert max(np.abs(a).max() for a in received["audio"][idle_audio:]) > 1000  # the voice arrived
        stopped = await asyncio.to_thread(client.post, f"/v1/live/{session}/stop", headers=A)
        assert stopped.status_code == 200
        await asyncio.sleep(0.3)  # what was already on its way
        state = (await asyncio.to_thread(client.get, f"/v1/live/{session}", headers=A)).json()
        assert [line["text"] for line in state["transcript"]][0] == "Hello there."
        assert state["transcript"][-1]["interrupted"] and not state["speaking"]
        video = received["video"]
        assert len(video) >= 50  # about 25 a second
        assert any(not np.array_equal(video[0], later) for later in video[1:])  # the face moves

        assert (await asyncio.to_thread(client.post, f"/v1/live/{session}/save", headers=B)).status_code == 404
        saved = await asyncio.to_thread(client.post, f"/v1/live/{session}/save", headers=A)
        assert saved.status_code == 202, saved.text
        job_id = saved.json()["job"]
        assert saved.json()["links"]["job"] == f"/v1/jobs/{job_id}"
        seconds = state["seconds"]
        job = await asyncio.to_thread(_finished, jobs, job_id)
        assert job.status == "done", job.error
        assert {"video.mp4", "audio.wav", "captions.srt", "manifest.json"} <= set(job.results)
        with av.open(str(job_folder(job_id, jobs.root) / "results" / "video.mp4")) as container:
            frames = sum(1 for _ in container.decode(container.streams.video[0]))
        with av.open(str(job_folder(job_id, jobs.root) / "results" / "video.mp4")) as container:
            rate = container.streams.audio[0].rate
            sound = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(container.streams.audio[0])])
        assert seconds * 25 - 5 <= frames <= (seconds + 2) * 25  # saved a moment after the state was read
        heard = state["transcript"][0]
        assert np.abs(sound[int(heard["start"] * rate): int(heard["end"] * rate)]).max() > 0.1  # the first sentence
        assert np.abs(sound[: int(max(0.0, heard["start"] - 0.2) * rate)]).max() < 0.01  # idle before it
        cut = state["transcript"][-1]
        assert len(state["transcript"]) == 2 and cut["interrupted"]
        assert np.abs(sound[int(cut["start"] * rate): int(cut["end"] * rate)]).max() > 0.05  # the second, until cut
        assert np.abs(sound[int((cut["end"] + 0.1) * rate):]).max() < 0.01  # and silence after the cut

        gone = await asyncio.to_thread(client.delete, f"/v1/live/{session}", headers=A)
        assert gone.status_code == 204
        assert (await asyncio.to_thread(client.get, f"/v1/live/{session}", headers=A)).status_code == 404
        await peer.close()
        await asyncio.gather(*readers)

    run_async(scenario())


def test_bad_offers_and_portraits_are_refused_in_one_sentence(client):
    no_offer = client.post("/v1/live", headers=A, json={"avatar": "maya"})
    assert no_offer.status_code == 422 and "offer" in no_offer.json()["detail"]
    unknown = client.post("/v1/live", headers=A, json={"sdp": "v=0", "type": "offer", "avatar": "nobody"})
    assert unknown.status_code == 422 and "no default avatar" in unknown.json()["detail"]
    blank = np.full((64, 64, 3), 128, np.uint8)
    import cv2

    png = cv2.imencode(".png", blank)[1].tobytes()
    faceless = client.post("/v1/live", headers=A, data={"params": '{"sdp": "v=0", "type": "offer"}'},
                           files={"portrait": ("blank.png", png, "image/png")})
    assert faceless.status_code == 422 and "face" in faceless.json()["detail"].lower()
    assert client.post("/v1/live", json={}).status_code == 401
    assert client.post("/v1/live/nothing/say", headers=A, json={"text": "Hi."}).status_code == 404


def test_an_idle_session_ends_on_its_own_and_frees_its_place():
    app = FastAPI()
    router = live_router(owner, LiveSessions(LiveCapacity(1), LiveSettings(idle_timeout=1.0)))
    app.include_router(router)
    live = router.live_sessions

    async def scenario(client: TestClient) -> None:
        peer = await _offer()
        answer = await asyncio.to_thread(client.post, "/v1/live", headers=A,
                                         json={"sdp": peer.localDescription.sdp, "type": "offer"})
        assert answer.status_code == 200, answer.text
        session = answer.json()["id"]
        entry = live.entries[session]
        assert gc.get_freeze_count() > 0  # the heap is settled while it streams, as on the page (avatar.live.heap)
        await asyncio.sleep(3.0)  # nobody says anything: the client may have vanished
        assert session not in live.entries and live.capacity.in_use == 0 and entry.session.closed
        assert gc.get_freeze_count() == 0
        assert (await asyncio.to_thread(client.get, f"/v1/live/{session}", headers=A)).status_code == 404
        await peer.close()

    with TestClient(app) as client:
        run_async(scenario(client))


def test_the_jobs_api_serves_live_sessions_behind_its_keys(tmp_path):
    """`avatar serve`'s app includes the live routes, with the same key check as its jobs."""
    from avatar.service.api import create_app
    from avatar.service.jobs import JobService
    from avatar.service.store import JobStore

    app = create_app(JobService(JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}"), root=tmp_path / "jobs"),
                     keys=["key-one"])
    with TestClient(app) as client:
        assert client.post("/v1/live", json={"sdp": "x", "type": "offer"}).status_code == 401
        headers = {"Authorization": "Bearer key-one"}
        assert client.get("/v1/live/nope", headers=headers).status_code == 404
        refused = client.post("/v1/live", json={"type": "offer"}, headers=headers)
        assert refused.status_code == 422 and refused.json()["detail"].endswith(".")
        paths = client.get("/openapi.json").json()["paths"]
        assert "/v1/live" in paths and "/v1/live/{session_id}/save" in paths


def _recording_open_session(monkeypatch, delay: float = 0.0) -> list:
    """Make the manager's `open_session` real but slow by `delay`, and keep every session it opens."""
    import avatar.live.manager as manager

    opened, real = [], manager.open_session

    def slow_open(portrait, settings):
        time.sleep(delay)
        opened.append(real(portrait, settings))
        return opened[-1]

    monkeypatch.setattr(manager, "open_session", slow_open)
    return opened


def test_a_session_whose_connection_cannot_be_made_is_closed_and_frees_its_place(monkeypatch):
    import avatar.live.manager as manager

    opened = _recording_open_session(monkeypatch)

    def no_connection():
        raise RuntimeError("no ports left")

    monkeypatch.setattr(manager, "RTCPeerConnection", no_connection)
    sessions = LiveSessions(LiveCapacity(1), LiveSettings(idle_timeout=30))
    with pytest.raises(RuntimeError, match="no ports left"):
        run_async(sessions.open("alice", "maya", {"sdp": "v=0", "type": "offer"}))
    assert len(opened) == 1 and opened[0].closed
    assert not sessions.entries and sessions.capacity.in_use == 0


def test_a_request_cancelled_while_its_session_opens_closes_the_session_once_it_is_ready(monkeypatch):
    opened = _recording_open_session(monkeypatch, delay=0.5)
    sessions = LiveSessions(LiveCapacity(1), LiveSettings(idle_timeout=30))

    async def hang_up() -> None:
        task = asyncio.ensure_future(sessions.open("alice", "maya", {"sdp": "v=0", "type": "offer"}))
        await asyncio.sleep(0.1)  # the portrait is being prepared on its thread
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sessions.capacity.in_use == 0 and not sessions.entries
        deadline = time.monotonic() + 30
        while not (opened and opened[0].closed) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    run_async(hang_up())
    assert len(opened) == 1 and opened[0].closed
