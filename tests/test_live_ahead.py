"""The video track renders a few frames ahead of their time: the viewer gets the same frames, in order, and a sentence
placed or a Stop pressed meanwhile is shown exactly as without rendering ahead (on a clock the test moves)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from avatar.live.session import LiveSession, LiveSettings
from avatar.live.tracks import AHEAD_FRAMES, VIDEO_CLOCK, LiveVideoTrack
from tests.conftest import Clock, run_async


@pytest.fixture(scope="module")
def portrait(maya_rig):
    return maya_rig


def session_of(portrait, clock: Clock) -> LiveSession:
    picture, prepared = portrait
    # The test's clock stands still while the voice speaks: let it speak every sentence ahead.
    return LiveSession(picture, LiveSettings(speak_ahead=600.0), clock=clock, prepared=prepared)


async def _flushed(track: LiveVideoTrack) -> None:
    """Wait until the lane has rendered every frame it was given (it runs one job at a time, in order)."""
    await asyncio.wrap_future(track.lane.submit(lambda: None))


def _speak_and_stop(portrait, ahead: int) -> dict:
    """Frames 0..69 pulled at their due times: a sentence typed at frame 10, Stop at frame 40."""
    clock = Clock()

    async def scenario() -> dict:
        with session_of(portrait, clock) as session:
            track = LiveVideoTrack(session, ahead=ahead)
            frames, pts, again = [], [], {}
            try:
                for n in range(70):
                    if n in (10, 40):
                        await _flushed(track)  # the frames ahead are rendered before the clock changes
                        again[f"before {n}"] = track.rendered_again
                        if n == 10:
                            session.say("Hello there, nice to see you again today.")
                            assert await asyncio.to_thread(session.wait_placed)
                        else:
                            session.stop()
                    clock.t = session.start + session.frame_due(n)
                    frame = await track.recv()
                    if n in (10, 40):
                        again[f"at {n}"] = track.rendered_again
                        again[f"queued after {n}"] = sorted(track._ahead)
                    frames.append(frame.to_ndarray())
                    pts.append(frame.pts)
                return {"frames": frames, "pts": pts, "again": again, "placed": session.placed,
                        "recording": session.recording()}
            finally:
                track.stop()

    return run_async(scenario())


@pytest.fixture(scope="module")
def with_and_without(portrait):
    return _speak_and_stop(portrait, AHEAD_FRAMES), _speak_and_stop(portrait, 0)


def test_frames_rendered_ahead_are_the_frames_rendered_when_due_in_order(with_and_without):
    ahead, due = with_and_without
    assert ahead["pts"] == [n * VIDEO_CLOCK // 25 for n in range(70)] == due["pts"]
    assert ahead["placed"] == due["placed"] and ahead["placed"][0].interrupted
    for n, (a, b) in enumerate(zip(ahead["frames"], due["frames"])):
        np.testing.assert_array_equal(a, b, err_msg=f"frame {n}")
    assert not np.array_equal(ahead["frames"][9], ahead["frames"][30])  # the sentence moved the face


def test_a_sentence_placed_or_a_stop_drops_the_frames_rendered_before_it(with_and_without):
    ahead, _ = with_and_without
    again = ahead["again"]
    # Each change reached the frames rendered ahead: they were rendered again when due, and the next ones queued.
    assert again["at 10"] == again["before 10"] + 1
    assert again["at 40"] == again["before 40"] + 1
    assert again["queued after 40"] == list(range(41, 41 + AHEAD_FRAMES))


def test_a_saved_session_keeps_what_was_shown_with_or_without_rendering_ahead(with_and_without):
    ahead, due = with_and_without
    a, b = ahead["recording"], due["recording"]
    assert (a.first_frame, a.frames) == (b.first_frame, b.frames)
    assert [(line.text, line.start, line.end) for line in a.lines] == [(line.text, line.start, line.end)
                                                                       for line in b.lines]
    assert sorted(a.shown) == sorted(b.shown)
    for n in a.shown:
        np.testing.assert_array_equal(a.shown[n], b.shown[n])


def test_a_sentence_placed_beyond_a_frames_reach_keeps_it_and_stop_does_not(portrait):
    clock = Clock()
    with session_of(portrait, clock) as session:
        session.say("This sentence is long enough to leave a few seconds before the next one begins.")
        assert session.wait_placed()
        first = session.placed[0]
        clock.t += first.start + 0.2
        now = session.frame_at(session.now())
        for n in range(now + 1):
            session.frame(n)

        early = session.render(now + 1)
        session.say("The next one.")
        assert session.wait_placed() and session.placed[-1].start >= first.end
        kept = session.hand_out(early)  # the next sentence starts too late to change this frame
        assert kept is not None
        np.testing.assert_array_equal(kept, session.render(now + 1).image)

        early = session.render(now + 2)
        session.stop()
        assert session.hand_out(early) is None  # the cut is right after it: render it again
        assert session.frame(now + 2).shape == kept.shape
