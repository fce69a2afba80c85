"""A live session on a clock the test moves: idle motion, speech placed on the clock, Stop, expiry, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.errors import InputError, NoFaceError
from avatar.live.render import SETTLE_S, clock_weights
from avatar.live.session import MOUTH, LiveSession, LiveSettings, open_session
from avatar.live.timeline import Timeline
from avatar.speech.voice import join_chunks
from avatar.speech.voices import get_voice
from avatar.talk.engine import TalkOptions
from avatar.talk.builtin.engine import BuiltinEngine
from avatar.talk.builtin.rig import BASES
from tests.conftest import Clock

OPEN = BASES.index("open")
HEAD = slice(BASES.index("tilt"), None)


@pytest.fixture(scope="module")
def portrait(maya_rig):
    return maya_rig


@pytest.fixture(scope="module")
def voice_rate() -> int:
    return next(iter(get_voice("joe").speak("Hi."))).sample_rate


def session_of(portrait, clock: Clock, **settings) -> LiveSession:
    picture, prepared = portrait
    # The test's clock stands still while the voice speaks: let it speak every sentence ahead.
    return LiveSession(picture, LiveSettings(**{"speak_ahead": 600.0, **settings}), clock=clock, prepared=prepared)


def test_idle_frames_blink_and_move_the_head_with_the_mouth_at_rest(portrait):
    with session_of(portrait, Clock()) as session:
        weights = session.weights(range(0, 250))  # ten seconds
        assert np.abs(weights[:, MOUTH]).max() < 0.01
        assert weights[:, BASES.index("blink")].max() > 0.5
        assert np.ptp(weights[:, HEAD], axis=0).min() > 0
        assert not np.array_equal(session.frame(0), session.frame(60))
        assert session.frame(0).shape == portrait[0].image.shape


def test_speech_opens_the_mouth_when_its_sound_plays_and_the_sound_is_the_voices(portrait, voice_rate):
    clock = Clock()
    with session_of(portrait, clock, sample_rate=voice_rate) as session:
        idle_before = session.weights(range(0, 3))
        session.frame(2)
        assert session.say("Hello there, nice to see you.") == ["Hello there, nice to see you."]
        assert session.wait_placed()
        (line,) = session.placed
        assert line.start >= session.frame_due(3)
        np.testing.assert_array_equal(session.weights(range(0, 3))[:, HEAD], idle_before[:, HEAD])

        reference = np.concatenate([c.samples for c in get_voice("joe").speak("Hello there, nice to see you.")])
        first = int(round(line.start * voice_rate))
        sound = session.audio(0, first + len(reference) + 1000)
        assert not sound[:first].any() and not sound[first + len(reference):].any()
        np.testing.assert_allclose(sound[first:first + len(reference)], reference, atol=1e-6)

        frames = session.frame_at(line.end) + 5
        weights = session.weights(range(0, frames))
        assert weights[:, OPEN].max() > 0.3
        # The mouth is the engine's mouth for this sentence as a video, placed at the frame its sound starts on.
        fps = session.settings.fps
        start_frame = session.frame_at(line.start)
        assert start_frame / fps == pytest.approx(line.start)
        speech = join_chunks(list(get_voice("joe").speak("Hello there, nice to see you.")))
        video = BuiltinEngine().weights(speech, TalkOptions(), range(0, frames - start_frame), None)
        np.testing.assert_allclose(weights[start_frame:, MOUTH], video[:, MOUTH], atol=1e-4)
        # The first sound the voice makes and the first opening of the mouth are due at the same time.
        audible = np.flatnonzero(np.abs(sound) > 0.02 * np.abs(sound).max())[0] / voice_rate
        voiced = next(p.start for p in session._timeline.utterances[0].phonemes if p.ipa.strip())
        assert abs(audible - voiced) <= 1 / fps
        opening = np.flatnonzero(weights[:, OPEN] > 0.1)[0] / fps
        assert audible - session.settings.lead - 2 / fps <= opening <= audible + 1 / fps

def test_sentences_play_in_order_and_the_transcript_lists_what_was_heard(portrait):
    clock = Clock()
    with session_of(portrait, clock) as session:
        session.say("First one. Second one!")
        session.say("And the third?")
        assert session.wait_placed()
        assert session.transcript == []  # nothing has sounded yet: the clock has not moved
        placed = session.placed
        assert [line.text for line in placed] == ["First one.", "Second one!", "And the third?"]
        assert all(a.end <= b.start for a, b in zip(placed, placed[1:]))
        clock.t += placed[1].start + 0.01
        assert [line.text for line in session.transcript] == ["First one.", "Second one!"]
        clock.t += 60
        assert [line.text for line in session.transcript] == ["First one.", "Second one!", "And the third?"]
        assert not any(line.interrupted for line in session.transcript)
        assert not session.speaking


def test_stop_cuts_the_sound_clears_the_queue_and_the_mouth_rests_within_a_few_frames(portrait):
    clock = Clock()
    with session_of(portrait, clock) as session:
        session.say("This sentence is long enough to be cut in the middle of it. This one is never heard.")
        assert session.wait_placed()
        first = session.placed[0]
        clock.t += first.start + 0.6 * (first.end - first.start)
        now = session.frame_at(session.now())
        for n in range(now + 1):
            session.frame(n)
        heard = session.audio(0, int(session.now() * session.settings.sample_rate))
        before = session.weights(range(0, now + 1))
        assert before[-5:, OPEN].max() > 0.05  # mid-sentence

        session.stop()
        assert [line.text for line in session.placed] == [first.text]
        (line,) = session.transcript
        assert line.interrupted and line.end < first.end
        # The head keeps the path it was on; the mouth closes from where it was, no faster than it moves in speech.
        np.testing.assert_array_equal(session.weights(range(0, now + 1))[:, HEAD], before[:, HEAD])
        rate = session.settings.sample_rate
        np.testing.assert_array_equal(session.audio(0, len(heard)), heard)
        assert not session.audio(int((line.end + 0.001) * rate), rate).any()
        after = session.weights(range(now + 1, now + 40))
        steps = np.abs(np.diff(before[-25:, MOUTH], axis=0)).max()
        assert np.abs(after[0, MOUTH] - before[-1, MOUTH]).max() <= steps
        head = np.abs(np.diff(np.concatenate([before[-10:], after[:10]])[:, HEAD], axis=0))  # row 9: the join
        assert (head[9] <= 2 * np.delete(head, 9, axis=0).max(axis=0) + 1e-6).all()
        assert np.abs(after[5:, MOUTH]).max() < 0.02
        # Then, within SETTLE_S of the cut, the head moves as it idles, as if the sentence had not been said.
        idle = clock_weights(session.engine, Timeline([]), session.settings, range(now + 1, now + 40))
        settled = np.arange(now + 1, now + 40) / session.settings.fps >= line.end + SETTLE_S
        assert settled.sum() > 30
        np.testing.assert_array_equal(after[settled][:, HEAD], idle[settled][:, HEAD])
        clock.t += 0.2  # the frames and sound already on their way
        assert not session.speaking

        session.say("Back again.")  # a session that was stopped speaks again
        assert session.wait_placed()
        assert session.placed[-1].text == "Back again."


def test_say_with_interrupt_replaces_what_was_queued(portrait):
    with session_of(portrait, Clock()) as session:
        session.say("One sentence. Another sentence. A third sentence.")
        session.say("Instead this.", interrupt=True)
        assert session.wait_placed()
        assert session.placed[-1].text == "Instead this."


def test_a_silent_session_expires_after_its_idle_timeout(portrait):
    clock = Clock()
    with session_of(portrait, clock, idle_timeout=10) as session:
        clock.t += 9
        assert not session.expired
        session.say("Still here.")
        assert session.wait_placed()
        clock.t += 8  # past the timeout since start, not since the sentence ended
        assert not session.expired
        clock.t += session.placed[-1].end + 10 - session.now() + 0.1
        assert session.expired


def test_close_frees_the_session(portrait):
    session = session_of(portrait, Clock())
    worker = session._worker
    session.close()
    assert session.expired and session.prepared is None and not worker.is_alive()
    with pytest.raises(InputError, match="has ended"):
        session.frame(0)
    with pytest.raises(InputError, match="has ended"):
        session.say("Hello.")


@pytest.mark.parametrize("text, message", [("", "empty"), ("   ", "empty"), ("...", "nothing the voice can speak"),
                                           ("word " * 300, "more than the 1,000"), (None, "must be a string")])
def test_bad_text_is_refused_in_one_sentence(portrait, text, message):
    with session_of(portrait, Clock()) as session:
        with pytest.raises(InputError, match=message) as caught:
            session.say(text)
        assert str(caught.value).count(". ") == 0 and "\n" not in str(caught.value)
        assert not session.speaking


def test_a_portrait_without_a_face_is_refused_in_one_sentence():
    blank = np.full((256, 256, 3), 128, np.uint8)
    with pytest.raises(NoFaceError) as caught:
        open_session(blank)
    assert "\n" not in str(caught.value)


def test_the_voice_speaks_only_a_little_ahead_of_the_clock(portrait):
    clock = Clock()
    with session_of(portrait, clock, speak_ahead=1.0) as session:
        session.say("One sentence here. And another one here. And a third one.")
        assert not session.wait_placed(timeout=2.0)  # the clock stands still: only what fits ahead is spoken
        placed = session.placed
        assert 1 <= len(placed) < 3 and placed[0].text == "One sentence here."
        assert placed[-1].start < session.now() + 1.0
        for _ in range(3):  # as the clock moves on, the rest is spoken
            clock.t += 5
            if session.wait_placed(timeout=5.0):
                break
        assert [line.text for line in session.placed] == ["One sentence here.", "And another one here.",
                                                          "And a third one."]
