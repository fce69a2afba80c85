"""SadTalker's audio front end: whole video frames of 16 kHz speech, and one mel window per frame.

SadTalker hears audio through the same features as Wav2Lip (same mel
spectrogram, same 0.2 s windows of 16 mel steps; `avatar.talk.wav2lip.audio`
computes them and is checked against the original there and in
tests/test_sadtalker_coefficients.py). Two things differ and are kept here,
because the networks were trained with them:

- the audio is first cut to a whole number of video frames (640 samples each at
  25 fps), so the spectrogram's last steps describe the same audio the original
  saw;
- the window of frame i starts two frames *earlier*, at mel step
  int(80 * (i - 2) / 25) (Python's int, which truncates towards zero), and steps
  that fall outside the spectrogram are clamped to its first or last step one by
  one (Wav2Lip instead slides a late window back as a whole).

Windows are cut on demand (`MelWindows`), so a long recording holds its
spectrogram (80 floats per 12.5 ms) but never all its windows (1280 floats per
frame) at once.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from avatar.errors import InputError
from avatar.talk.wav2lip.audio import MEL_FPS, MEL_STEP, SAMPLE_RATE, melspectrogram

FPS = 25
"""SadTalker's video frame rate: its networks were trained on 25 fps sequences."""
LEAD_FRAMES = 2
"""A frame's window starts this many frames before the frame (0.08 s of look-behind at 25 fps)."""


class WindowSource(Protocol):
    """Anything that gives (n, 80, 16) windows for a slice of frames: an array, or `MelWindows`."""

    def __len__(self) -> int: ...

    def __getitem__(self, frames: slice) -> np.ndarray: ...


def frame_count(samples16k: int, fps: float = FPS) -> int:
    """Whole video frames in `samples16k` samples; a last partial frame is dropped, as the original did."""
    return int(samples16k / (SAMPLE_RATE / fps))


def whole_frames(samples16k: np.ndarray, fps: float = FPS) -> np.ndarray:
    """The samples cut to a whole number of frames (1-D float32).

    The original also padded with zeros up to that length, which never happens
    since the length is rounded down; only the cut remains.
    """
    samples = np.asarray(samples16k, dtype=np.float32).reshape(-1)
    frames = frame_count(len(samples), fps)
    if frames < 1:
        raise InputError(f"The audio is {len(samples) / SAMPLE_RATE:.3f} s long, shorter than one video frame "
                         f"({1 / fps:.2f} s); use a longer recording.")
    return samples[: int(frames * (SAMPLE_RATE / fps))]


def window_starts(frames: range | np.ndarray, fps: float = FPS) -> np.ndarray:
    """First mel step of each frame's window (may be negative for the first two frames)."""
    index = np.asarray(frames, dtype=np.float64)
    return (MEL_FPS * ((index - LEAD_FRAMES) / fps)).astype(np.int64)  # astype truncates like int()


def mel_windows(mel: np.ndarray, frames: range | int, fps: float = FPS) -> np.ndarray:
    """Windows (n, 80, 16) float32 of `mel` (80, M) for the given frames (an int n means frames 0..n-1).

    Every step of a window is clamped to [0, M - 1] on its own, so the first
    frames repeat the first step and the last ones repeat the last step.
    """
    if isinstance(frames, int):
        frames = range(frames)
    steps = window_starts(frames, fps)[:, None] + np.arange(MEL_STEP)[None, :]
    steps = np.clip(steps, 0, mel.shape[1] - 1)
    return np.ascontiguousarray(np.transpose(mel[:, steps], (1, 0, 2)), dtype=np.float32)


class MelWindows:
    """The windows of every frame of a spectrogram, cut only when a slice of frames is asked for."""

    def __init__(self, mel: np.ndarray, frames: int, fps: float = FPS) -> None:
        self.mel = np.asarray(mel, dtype=np.float32)
        self.frames = frames
        self.fps = fps

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, frames: slice) -> np.ndarray:
        return mel_windows(self.mel, range(*frames.indices(self.frames)), self.fps)


def speech_windows(samples16k: np.ndarray, fps: float = FPS) -> MelWindows:
    """16 kHz mono speech -> the windows of its whole frames, as the original's `get_data` made them."""
    samples = np.asarray(samples16k, dtype=np.float32).reshape(-1)
    return MelWindows(melspectrogram(whole_frames(samples, fps)), frame_count(len(samples), fps), fps)
