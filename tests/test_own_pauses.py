"""The speaker's own mouth in the pauses a dub's new speech and the video's own sound share."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.speech.timeline import Speech
from avatar.video.own_pauses import RAMP_FRAMES, own_mouth_strength, quiet_frames

RATE, FPS = 16000, 25


def sound(*spans: tuple[float, float], seconds: float = 4.0, hiss: float = 0.001) -> Speech:
    """A tone (speech) over `spans` (start, end in seconds) and a hiss (RMS `hiss`) everywhere."""
    rng = np.random.default_rng(0)
    samples = hiss * rng.standard_normal(int(seconds * RATE))
    t = np.arange(len(samples)) / RATE
    for start, end in spans:
        inside = (t >= start) & (t < end)
        samples[inside] += 0.3 * np.sin(2 * np.pi * 180 * t[inside])
    return Speech(samples.astype(np.float32), RATE)


def frames(first: float, last: float) -> slice:
    return slice(round(first * FPS), round(last * FPS))


@pytest.mark.parametrize("hiss", [0.001, 0.02])  # silent, and a noisy room: quiet against the speech's level
def test_quiet_frames_follow_the_sound(hiss):
    quiet = quiet_frames(sound((1.0, 2.0), hiss=hiss), FPS, 100)
    assert quiet[frames(0, 1)].all() and not quiet[frames(1, 2)].any() and quiet[frames(2, 4)].all()
    assert not quiet_frames(sound(hiss=0.02), FPS, 100).any()  # a steady noise above silence is not a pause


def test_only_pauses_both_sounds_share_keep_the_own_mouth_faded_in_and_out_inside_them():
    new = sound((0.0, 1.0), (2.0, 4.0))  # pauses 1.0-2.0
    own = sound((0.0, 1.4), (2.0, 4.0))  # pauses 1.4-2.0: shared 1.4-2.0
    plan = np.arange(100)
    strength = own_mouth_strength(new, own, plan, FPS, 100)
    kept = np.flatnonzero(strength > 0)
    assert kept[0] == round(1.4 * FPS) and kept[-1] == round(2.0 * FPS) - 1
    assert np.all(strength[frames(0, 1.4)] == 0) and np.all(strength[frames(2.0, 4.0)] == 0)
    inside = strength[kept]
    assert np.all(np.diff(inside[:RAMP_FRAMES + 1]) > 0) and inside[RAMP_FRAMES] == 1.0
    assert np.all(np.diff(inside[-RAMP_FRAMES - 1:]) < 0)


def test_a_short_shared_pause_a_video_without_sound_and_a_pause_only_the_new_speech_has_keep_nothing():
    new = sound((0.0, 1.0), (1.2, 4.0))  # a 0.2 s pause: under PAUSE_S
    assert not own_mouth_strength(new, sound((0.0, 1.0), (1.2, 4.0)), np.arange(100), FPS, 100).any()
    assert not own_mouth_strength(sound((0.0, 1.0), (2.0, 4.0)), None, np.arange(100), FPS, 100).any()
    talking = sound((0.0, 4.0))  # the speaker talked through the new speech's pause
    assert not own_mouth_strength(sound((0.0, 1.0), (2.0, 4.0)), talking, np.arange(100), FPS, 100).any()


@pytest.mark.parametrize("fit_plan", [np.r_[np.arange(50), np.arange(49, -1, -1)]])
def test_the_video_frames_shown_decide_which_own_sound_counts(fit_plan):
    """With pingpong the second half shows the video backwards: its pauses come where those frames are shown."""
    own = sound((0.0, 1.0), seconds=2.0)  # the video: quiet from 1.0 s (frames 25-49)
    strength = own_mouth_strength(sound(seconds=4.0), own, fit_plan, FPS, 100)  # the new speech: silent
    kept = strength > 0
    assert kept[25:75].all() and not kept[:25].any() and not kept[75:].any()
