"""The real-speaker mouth benchmark's measures: lag-searching correlation and the mouth opening."""

import numpy as np
import pytest

from benchmarks.reality import FLOOR_EVERY, FLOOR_SECONDS, closed_mouth_floor, correlate, mouth_opening, read_video


def test_correlate_finds_a_known_lag_and_skips_nans():
    rng = np.random.default_rng(0)
    real = np.convolve(rng.normal(size=200), np.ones(4) / 4, mode="same")
    ours = np.roll(real, 2)  # ours two frames later
    ours[[20, 21, 50, 90]] = np.nan
    real[[5, 120]] = np.nan
    r, lag = correlate(ours, real, max_lag=3)
    assert lag == 2
    assert r > 0.99

    r, lag = correlate(np.roll(real, -1), real, max_lag=3)
    assert lag == -1 and r > 0.99


def test_correlate_resamples_to_a_common_rate():
    t30, t25 = np.arange(180) / 30.0, np.arange(150) / 25.0
    real = np.sin(2 * np.pi * 1.3 * t30) + 0.5 * np.sin(2 * np.pi * 3.1 * t30)
    ours = np.sin(2 * np.pi * 1.3 * t25) + 0.5 * np.sin(2 * np.pi * 3.1 * t25)
    r, lag = correlate(ours, real, ours_fps=25.0, real_fps=30.0)
    assert lag == 0 and r > 0.98


def test_mouth_opening_of_a_real_speaker(fixtures):
    clip = fixtures / "real_talk" / "woman_glasses.mp4"
    if not clip.exists():
        pytest.skip("real_talk clips not present")
    frames, fps = read_video(clip)
    values = mouth_opening(frames[:25], fps)
    assert values.shape == (25,)
    found = values[np.isfinite(values)]
    assert len(found) >= 20
    assert found.min() >= 0.0 and found.max() <= 0.5
    assert found.max() - found.min() > 0.02  # the mouth moves while she speaks


def test_a_frame_reads_the_same_whatever_frames_come_before_it(fixtures):
    """The opening is a property of the frame: a box carried over from the previous
    frame made the same closed mouth read anywhere from 0.015 to 0.064."""
    clip = fixtures / "real_talk" / "anchor_office.mp4"
    if not clip.exists():
        pytest.skip("real_talk clips not present")
    frames, fps = read_video(clip)
    values = mouth_opening([frames[0], frames[12], frames[0], frames[40], frames[0], frames[12], frames[0]], fps)
    assert np.all(np.isfinite(values))
    assert np.all(values[[0, 2, 4, 6]] == values[0])
    assert values[1] == values[5]


def test_the_floor_reads_a_closed_mouth_under_the_head_motion_of_pauses(fixtures):
    """`--floor`: every mouth weight zero, only the head moving. On a clip whose closed lips dlib reads plainly the
    readings stay low; they differ from pose to pose, so the head did move."""
    clip = fixtures / "real_talk" / "woman_glasses.mp4"
    if not clip.exists():
        pytest.skip("real_talk clips not present")
    floor = closed_mouth_floor(clip)
    assert floor.moving.shape == (int(FLOOR_SECONDS * 25) // FLOOR_EVERY,) and np.all(np.isfinite(floor.moving))
    assert floor.still < 0.03 and np.max(floor.moving) < 0.03
    assert len(np.unique(floor.moving)) > 5
