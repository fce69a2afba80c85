"""Live work has its own lane: the voice speaks on one thread of its own, frames render on the session's thread,
and a CPU-heavy job beside a speaking session neither stops its frames nor is stopped by it."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np

from avatar.avatars import get_default_avatar
from avatar.live.session import VOICE_THREADS, LiveSession, LiveSettings, open_session
from avatar.live.tracks import LiveVideoTrack
from avatar.service.job_kind import JobKind
from avatar.service.jobs import JobService
from avatar.service.kinds import KINDS
from avatar.service.store import JobStore
from avatar.speech import piper_voice
from avatar.talk.pipeline import prepare_portrait
from tests.conftest import run_async


class StillClock:
    def __call__(self) -> float:
        return 100.0


def test_the_live_voice_speaks_on_one_thread_on_an_engine_of_its_own(voice_engines):
    avatar = get_default_avatar("maya")
    picture = prepare_portrait(avatar.image_path, 128, landmarks_path=avatar.landmarks_path)
    with LiveSession(picture, LiveSettings(speak_ahead=600.0), clock=StillClock()) as session:
        session.say("Hello there.")
        assert session.wait_placed() and not session.errors
    assert VOICE_THREADS == 1
    live_engine = piper_voice._engine_on_threads(1)
    assert voice_engines and all(engine is live_engine for engine in voice_engines)
    assert live_engine is not piper_voice._shared_engine()  # jobs speak on the shared engine, on every core
    assert live_engine.voice.session.get_session_options().intra_op_num_threads == 1


def test_a_cpu_heavy_job_and_a_speaking_session_both_go_on(tmp_path, monkeypatch):
    """Counts only: the frames due while the job runs mostly arrive, and the job finishes."""
    seconds = 4.0
    running = threading.Event()

    def burn(params, inputs, out: Path, progress):
        running.set()
        a = np.random.default_rng(0).random((400, 400))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            a = np.tanh(a @ a.T / 400)
        (out / "burnt.txt").write_text(f"{a.sum():.3f}")
        return ["burnt.txt"]

    monkeypatch.setitem(KINDS, "burn", JobKind("burn", "Burn", (), lambda params, inputs: "cpu", burn))
    service = JobService(JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}"), root=tmp_path / "jobs")

    async def scenario() -> tuple[int, float, str]:
        session = await asyncio.to_thread(open_session, "maya", LiveSettings(), 256)
        track = LiveVideoTrack(session)
        try:
            await asyncio.to_thread(session.frame, 0)  # first-use costs are not the lane's
            job = await asyncio.to_thread(service.submit, "alice", "burn", {}, {})
            assert await asyncio.to_thread(running.wait, 30)
            session.say("Hello there. The frames keep coming while a heavy job runs beside this session.")
            started, delivered = session.now(), 0
            while session.now() - started < seconds - 0.5:
                await track.recv()
                delivered += 1
            due = (session.now() - started) * session.settings.fps
            deadline = time.monotonic() + 60
            while service.get("alice", job.id).status in ("queued", "running") and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            return delivered, due, service.get("alice", job.id).status
        finally:
            track.stop()
            await asyncio.to_thread(session.close)

    delivered, due, status = run_async(scenario())
    assert delivered >= 0.5 * due, (delivered, due)
    assert status == "done"


def test_a_track_renders_on_a_thread_of_its_own():
    with open_session("maya", LiveSettings(), 128) as session:
        track = LiveVideoTrack(session)
        try:
            thread = track.lane.submit(lambda: threading.current_thread().name).result()
            assert thread.startswith("live-render") and thread != threading.current_thread().name
        finally:
            track.stop()
