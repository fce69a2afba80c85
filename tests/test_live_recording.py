"""Saving a live session: what it said becomes a job whose video shows the session's frames with its sound."""

from __future__ import annotations

import json
import time
import wave

import av
import numpy as np
import pytest

from avatar.errors import InputError
from avatar.service.live_kind import submit_saved_session
from avatar.live.session import LiveSession, LiveSettings
from avatar.service.jobs import JobService, job_folder
from avatar.service.store import JobStore
from avatar.talk.builtin.engine import BuiltinEngine

from tests.conftest import Clock

OWNER = "session:test"


@pytest.fixture(scope="module")
def portrait(maya_rig):
    return maya_rig

@pytest.fixture
def service(tmp_path) -> JobService:
    return JobService(JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}"), root=tmp_path / "jobs")


def wait_done(service: JobService, job_id: str, timeout: float = 300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = service.get(OWNER, job_id)
        if job.status in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {service.get(OWNER, job_id)}")


def decoded(path) -> tuple[list[np.ndarray], np.ndarray, int]:
    """The video's frames (RGB) and its sound (mono float) at its rate."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        sound = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
    return frames, sound, rate


def test_a_saved_session_is_a_video_of_what_was_seen_and_heard(portrait, service):
    picture, prepared = portrait
    clock = Clock()
    session = LiveSession(picture, LiveSettings(speak_ahead=600.0), clock=clock, prepared=prepared)
    with session:
        clock.t += 0.8  # idle first
        for n in range(session.frame_at(session.now()) + 1):
            session.frame(n)
        session.say("Hello there, nice to see you.")
        assert session.wait_placed()
        first = session.placed[0]
        clock.t = session.start + first.end + 0.4  # the first sentence heard in full, then a pause
        session.say("This second sentence is long enough to be cut in the middle of it.")
        assert session.wait_placed()
        second = session.placed[1]
        clock.t = session.start + second.start + 0.5 * (second.end - second.start)
        for n in range(session.frame_at(session.now()) + 1):
            session.frame(n)
        session.audio(0, int(session.now() * session.settings.sample_rate))
        session.stop()
        cut = session.placed[1]
        assert cut.interrupted and cut.end < second.end
        clock.t += 1.0  # idle again after the cut
        seconds = session.now()

        job_id = submit_saved_session(session, OWNER, service=service)
        job = wait_done(service, job_id)
        assert job.status == "done", job.error
        assert {"video.mp4", "audio.wav", "captions.srt", "manifest.json"} <= set(job.results)
        results = job_folder(job_id, service.root) / "results"

        fps = session.settings.fps
        frames, sound, rate = decoded(results / "video.mp4")
        assert len(frames) == int(seconds * fps)
        # The saved frames are the session's frames (the same code on the same clock), within the encoder's loss.
        for n in (0, session.frame_at(first.start) + 5, session.frame_at(cut.start) + 8, len(frames) - 1):
            difference = np.abs(frames[n].astype(np.int16) - session.frame(n).astype(np.int16))
            assert difference.mean() < 2.0, n
        assert not np.array_equal(frames[session.frame_at(first.start) + 5], frames[0])

        def loudness(t0: float, t1: float) -> float:
            return float(np.abs(sound[int(t0 * rate): int(t1 * rate)]).max())

        assert loudness(0.0, first.start - 0.1) < 0.01  # idle: silence
        assert loudness(first.start, first.end) > 0.1  # the first sentence
        assert loudness(first.end + 0.1, cut.start - 0.1) < 0.01  # the pause
        assert loudness(cut.start, cut.end - 0.05) > 0.05  # the second, up to the cut
        assert loudness(cut.end + 0.1, seconds) < 0.01  # and nothing after it

        with wave.open(str(results / "audio.wav")) as wav:
            assert wav.getnframes() == round(len(frames) / fps * wav.getframerate())  # the video's length
        captions = (results / "captions.srt").read_text()
        assert "Hello there" in captions and "This second sentence" in captions
        manifest = json.loads((results / "manifest.json").read_text())
        assert manifest["task"] == "live_session" and manifest["video"]["frames"] == len(frames)
        assert [line["interrupted"] for line in manifest["transcript"]] == [False, True]
        listed = service.list(OWNER)
        assert listed[0].id == job_id and listed[0].kind == "live"


def test_the_saved_clock_gives_the_weights_the_viewer_saw(portrait, tmp_path):
    """Every frame's weights as the session computed them when the frame was due (sentences placed, cut and
    forgotten meanwhile) are those of the saved clock, JSON round trip included."""
    from avatar.live.recording import read_saved, write_session_files
    from avatar.live.render import saved_weights
    from avatar.live.timeline import Timeline

    picture, prepared = portrait
    clock = Clock()
    seen: list[np.ndarray] = []
    with LiveSession(picture, LiveSettings(speak_ahead=600.0), clock=clock, prepared=prepared) as session:
        fps = session.settings.fps

        def watch(until: float) -> None:
            """Move the clock frame by frame, as a viewer's track does, keeping each frame's weights."""
            while len(seen) / fps <= until:
                clock.t = session.start + len(seen) / fps
                session.frame(len(seen))
                seen.append(session.weights(range(len(seen), len(seen) + 1))[0])

        watch(0.5)
        session.say("One short sentence. And another one after it.")
        assert session.wait_placed()
        watch(session.placed[1].start + 0.3)
        session.stop()
        watch(session.now() + 7.0)  # long enough for the first sentences to leave the session's timeline
        session.say("A third.")
        assert session.wait_placed()
        watch(session.placed[-1].end + 0.5)
        clock.t = session.start + len(seen) / fps
        saved = read_saved(write_session_files(session.recording(), tmp_path)["session"])
    assert [line.text for line in saved.heard] == ["One short sentence.", "And another one after it.", "A third."]
    assert (saved.first_frame, saved.frames) == (0, len(seen))
    assert saved.shown  # sentences placed and cut within the mouth's look-ahead of frames already shown
    weights = saved_weights(BuiltinEngine(), saved, Timeline(saved.lines), range(0, len(seen)))
    np.testing.assert_array_equal(weights, np.array(seen))


def test_a_session_of_no_time_has_nothing_to_save(portrait, service):
    picture, prepared = portrait
    with LiveSession(picture, LiveSettings(), clock=Clock(), prepared=prepared) as session:
        with pytest.raises(InputError, match="not run long enough") as caught:
            submit_saved_session(session, OWNER, service=service)
        assert "\n" not in str(caught.value)
    assert service.list(OWNER) == []


def test_a_damaged_saved_session_is_refused_at_submit(portrait, service, tmp_path):
    picture, prepared = portrait
    clock = Clock()
    with LiveSession(picture, LiveSettings(), clock=clock, prepared=prepared) as session:
        clock.t += 2.0
        from avatar.live.recording import write_session_files

        files = write_session_files(session.recording(), tmp_path)
    data = json.loads(files["session"].read_text())
    data["frames"] += 10  # the sound no longer matches the clock
    files["session"].write_text(json.dumps(data))
    with pytest.raises(InputError, match="does not match its clock"):
        service.submit(OWNER, "live", {}, files)
    files["session"].write_text("{}")
    with pytest.raises(InputError, match="not usable"):
        service.submit(OWNER, "live", {}, files)
    assert service.list(OWNER) == []


def test_a_long_session_saves_its_last_stretch(portrait, tmp_path, monkeypatch):
    """A session longer than it keeps (30 minutes; 3 s here) saves its last stretch, sound and captions shifted."""
    import avatar.live.session as live_session
    from avatar.live.recording import read_saved, write_session_files

    monkeypatch.setattr(live_session, "KEEP_S", 3.0)
    picture, prepared = portrait
    clock = Clock()
    with LiveSession(picture, LiveSettings(speak_ahead=600.0), clock=clock, prepared=prepared) as session:
        session.say("Said early on.")
        assert session.wait_placed()
        clock.t = session.start + session.placed[0].end + 8.0
        session.say("Said at the end.")
        assert session.wait_placed()
        clock.t = session.start + session.placed[-1].end + 0.5
        files = write_session_files(session.recording(), tmp_path)
        fps = session.settings.fps
        saved = read_saved(files["session"])
        assert saved.count == 3 * fps and saved.frames == session.frame_at(session.now())
        assert [line.text for line in saved.heard] == ["Said at the end."]
        with wave.open(str(files["audio"])) as wav:
            sound = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
            rate = wav.getframerate()
        line = saved.heard[0]
        assert len(sound) == 3 * rate
        assert not sound[: int((line.start - saved.offset - 0.05) * rate)].any()
        assert np.abs(sound[int((line.start - saved.offset) * rate):]).max() > 3000
