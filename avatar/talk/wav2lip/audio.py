"""Wav2Lip's audio front end: the mel spectrogram the network was trained on.

The network only understands the exact features of its training, so every step
below matches the original (`audio.py` + `hparams.py` of Rudrabha/Wav2Lip run
with librosa 0.11), rewritten in NumPy/SciPy so librosa is not needed:

- pre-emphasis y[n] = x[n] - 0.97 x[n-1] (the filter starts from silence);
- centred STFT, 800-sample periodic Hann window, hop 200: the signal is padded
  by 400 zeros on each side (librosa 0.11's `pad_mode="constant"`; reflect
  padding, the default of older librosa, changes the first and last frames);
- magnitude through librosa's Slaney mel filterbank (80 bands, 55-7600 Hz,
  Slaney mel scale, area normalisation);
- 20 log10(max(1e-5, x)) - 20 dB, then min_level -100 dB .. 0 dB mapped
  linearly to [-4, 4] and clipped.

At 16 kHz and hop 200 there are 80 mel frames per second of audio, plus one.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy.signal import get_window, lfilter

from avatar.speech.timeline import Speech
from avatar.speech.resampling import resample

SAMPLE_RATE = 16000
N_FFT = 800
HOP = 200
WIN = 800
N_MELS = 80
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
REF_LEVEL_DB = 20.0
MIN_LEVEL_DB = -100.0
MAX_ABS_VALUE = 4.0
MEL_STEP = 16
"""Mel frames per window: 0.2 s of audio for each video frame."""
MEL_FPS = SAMPLE_RATE / HOP
"""Mel frames per second of audio (80)."""


def to_model_rate(speech: Speech) -> np.ndarray:
    """Mono float32 samples at 16 kHz, the only rate the network was trained at.

    Other rates go through scipy's polyphase resampler. The original resampled with
    librosa's default (soxr), which differs slightly at the band edge; that only
    matters for recordings not already at 16 kHz, and far less than the recording
    itself does.
    """
    samples = np.asarray(speech.samples, dtype=np.float32)
    if samples.ndim > 1:
        samples = samples.mean(axis=-1, dtype=np.float32)
    rate = int(speech.sample_rate)
    return resample(samples, rate, SAMPLE_RATE).astype(np.float32, copy=False)


# Slaney's mel scale: linear (F_SP Hz per mel) below 1 kHz, logarithmic above.
F_SP = 200.0 / 3.0
MIN_LOG_HZ = 1000.0
MIN_LOG_MEL = MIN_LOG_HZ / F_SP
LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(hz >= MIN_LOG_HZ, MIN_LOG_MEL + np.log(np.maximum(hz, MIN_LOG_HZ) / MIN_LOG_HZ) / LOG_STEP, hz / F_SP)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Inverse of `_hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= MIN_LOG_MEL, MIN_LOG_HZ * np.exp(LOG_STEP * (mel - MIN_LOG_MEL)), F_SP * mel)


def mel_filterbank(
    sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = FMIN, fmax: float = FMAX
) -> np.ndarray:
    """Triangular filters (n_mels, 1 + n_fft // 2), each scaled to unit area.

    Band edges are evenly spaced on the Slaney mel scale; each filter's peak is
    2 / (its width in Hz), so loud low bands and wide high bands weigh alike. Kept
    in float32 as librosa returns it, so the products round the same way.
    """
    fft_hz = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    offsets = edges[:, None] - fft_hz[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


_MEL_BASIS = mel_filterbank()
_WINDOW = get_window("hann", WIN, fftbins=True)


def _stft_magnitude(y: np.ndarray) -> np.ndarray:
    """|STFT| (1 + N_FFT // 2, frames), frames centred on every HOP-th sample.

    Zero padding of N_FFT // 2 on both sides (librosa 0.11's default) gives
    1 + len(y) // HOP frames.
    """
    padded = np.pad(y, N_FFT // 2, mode="constant")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    return np.abs(np.fft.rfft(frames * _WINDOW, n=N_FFT, axis=-1)).T


def melspectrogram(samples: np.ndarray) -> np.ndarray:
    """Normalised log-mel spectrogram (80, T) of 16 kHz mono samples, T = 1 + n // 200.

    Computed in float64 (as the original did once pre-emphasis had promoted the
    float32 samples) and returned as float32.
    """
    y = np.asarray(samples, dtype=np.float32).reshape(-1)
    if len(y) == 0:
        raise ValueError("cannot compute a mel spectrogram of empty audio")
    y = lfilter([1.0, -PREEMPHASIS], [1.0], y)
    mel = _MEL_BASIS @ _stft_magnitude(y)
    db = 20.0 * np.log10(np.maximum(10.0 ** (MIN_LEVEL_DB / 20.0), mel)) - REF_LEVEL_DB
    scaled = 2.0 * MAX_ABS_VALUE * (db - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS_VALUE
    return np.clip(scaled, -MAX_ABS_VALUE, MAX_ABS_VALUE).astype(np.float32)


def window_starts(n_frames: int, n_mel: int, fps: float = 25.0, step: int = MEL_STEP) -> np.ndarray:
    """First mel frame of each video frame's window, as the original inference cut them.

    Frame i starts at int(i * 80 / fps) (computed as the original did, i * (80 / fps));
    a window that would run past the end is replaced by the last `step` frames.
    """
    if n_mel < step:
        raise ValueError(f"need at least {step} mel frames (0.2 s of audio), got {n_mel}")
    starts = (np.arange(n_frames, dtype=np.float64) * (MEL_FPS / fps)).astype(np.int64)
    return np.minimum(starts, n_mel - step)


def mel_windows(mel: np.ndarray, n_frames: int, fps: float = 25.0, step: int = MEL_STEP) -> np.ndarray:
    """All windows at once: (n_frames, 1, 80, step) float32, for short clips and tests."""
    return _cut(mel, window_starts(n_frames, mel.shape[1], fps, step), step)


def iter_mel_windows(
    mel: np.ndarray, n_frames: int, fps: float = 25.0, batch: int = 16, step: int = MEL_STEP
) -> Iterator[np.ndarray]:
    """The same windows as `mel_windows`, `batch` frames at a time (b, 1, 80, step).

    Only one batch exists at a time, so memory stays flat however long the audio.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    starts = window_starts(n_frames, mel.shape[1], fps, step)
    for first in range(0, n_frames, batch):
        yield _cut(mel, starts[first : first + batch], step)


def _cut(mel: np.ndarray, starts: np.ndarray, step: int) -> np.ndarray:
    """Windows mel[:, s : s + step] for each start, as a contiguous (n, 1, 80, step) float32 array."""
    index = starts[:, None] + np.arange(step)[None, :]
    return np.ascontiguousarray(np.transpose(mel[:, index], (1, 0, 2))[:, None], dtype=np.float32)
