"""Wav2Lip's mel front end against the original's numbers, and the per-frame window cutting."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import wavfile
from scipy.signal import resample_poly

from avatar.speech.timeline import Speech
from avatar.talk.wav2lip.audio import (
    iter_mel_windows,
    mel_windows,
    melspectrogram,
    to_model_rate,
    window_starts,
)
from tests.conftest import PROJECT_DIR

REFERENCE = PROJECT_DIR.parent / "shared" / "reference" / "wav2lip"
FIXTURES = PROJECT_DIR.parent / "shared" / "fixtures"


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    """The fixture as librosa.load gave it to the original: int16 / 32768, mean of channels, float32."""
    rate, data = wavfile.read(FIXTURES / "RD_Radio31_000.wav")
    assert rate == 16000 and data.dtype == np.int16
    return (data.astype(np.float32) / 32768.0).mean(axis=1, dtype=np.float32)


@pytest.fixture(scope="module")
def reference_mel() -> np.ndarray:
    return np.load(REFERENCE / "mel_RD_Radio31_000.npy")


def test_mel_matches_original(samples, reference_mel):
    mel = melspectrogram(samples)
    assert mel.dtype == np.float32 and mel.shape == reference_mel.shape == (80, 1 + len(samples) // 200)
    error = float(np.abs(mel - reference_mel).max())
    print(f"max abs error vs original Wav2Lip mel: {error:.3g}")
    assert error <= 1e-3
    # The first and last two frames are where reflect padding (older librosa) would differ by > 1.
    assert np.abs(mel[:, [0, 1, -2, -1]] - reference_mel[:, [0, 1, -2, -1]]).max() <= 1e-3


def test_mel_of_silence_is_the_floor():
    mel = melspectrogram(np.zeros(1600, np.float32))
    assert mel.shape == (80, 9)
    assert np.all(mel == -4.0)


def test_window_starts_follow_the_original():
    starts = window_starts(10, 1000, fps=25.0)
    assert starts.tolist() == [0, 3, 6, 9, 12, 16, 19, 22, 25, 28]
    assert window_starts(4, 1000, fps=30.0).tolist() == [0, 2, 5, 8]
    # Past the end: the last 16 frames.
    assert window_starts(12, 40, fps=25.0).tolist() == [0, 3, 6, 9, 12, 16, 19, 22, 24, 24, 24, 24]


def test_windows_cut_the_mel(reference_mel):
    n_mel = reference_mel.shape[1]
    n_frames = 210  # 8.4 s of video for 8 s of audio: the last frames run past the end
    windows = mel_windows(reference_mel, n_frames, fps=25.0)
    assert windows.shape == (n_frames, 1, 80, 16) and windows.dtype == np.float32
    for i in (0, 1, 7, 100, 195):
        start = int(i * 80 / 25)
        assert start + 16 <= n_mel
        np.testing.assert_array_equal(windows[i, 0], reference_mel[:, start : start + 16])
    for i in (196, 209):
        assert int(i * 80 / 25) + 16 > n_mel
        np.testing.assert_array_equal(windows[i, 0], reference_mel[:, n_mel - 16 :])


def test_windows_match_the_originals_model_input(reference_mel):
    forward = np.load(REFERENCE / "forward.npz")
    windows = mel_windows(reference_mel, 41, fps=25.0)
    np.testing.assert_array_equal(windows[[10, 40]], forward["mel_input"])


def test_iterator_equals_array(reference_mel):
    n_frames = 203
    whole = mel_windows(reference_mel, n_frames, fps=25.0)
    batches = list(iter_mel_windows(reference_mel, n_frames, 25.0, 16))
    assert [len(b) for b in batches] == [16] * 12 + [11]
    assert all(b.shape[1:] == (1, 80, 16) and b.flags.c_contiguous for b in batches)
    np.testing.assert_array_equal(np.concatenate(batches), whole)


def test_too_little_audio_for_a_window():
    with pytest.raises(ValueError):
        mel_windows(np.zeros((80, 15), np.float32), 3)


def test_model_rate_passes_16k_through(samples):
    out = to_model_rate(Speech(samples=samples, sample_rate=16000))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, samples)


def test_resampled_input_gives_the_same_timing(samples, reference_mel):
    n = 22050 * 3 + 1234  # not a whole number of hops at either rate
    recording = resample_poly(samples, 441, 320)[:n].astype(np.float32)
    out = to_model_rate(Speech(samples=recording, sample_rate=22050))
    assert out.dtype == np.float32 and out.ndim == 1
    mel = melspectrogram(out)
    expected_frames = 1 + (n / 22050) * 80
    assert abs(mel.shape[1] - expected_frames) <= 1
    # Round trip 16 k -> 22.05 k -> 16 k keeps the features (the edges of the cut aside).
    k = mel.shape[1] - 2
    assert np.abs(mel[:, :k] - reference_mel[:, :k]).mean() < 0.02
