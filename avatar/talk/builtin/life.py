"""The motions that make a still portrait look alive: blinks and head movement.

Both are seeded, so the same job renders the same video, and both are functions
of the absolute frame index, so a video rendered in pieces (while speech is still
being synthesized) gets the same motion as one rendered at once.
"""

from __future__ import annotations

import numpy as np

BLINK_CLOSE_S, BLINK_HOLD_S, BLINK_OPEN_S = 0.07, 0.04, 0.10


ACTIVITY_MEAN = 0.5
"""Typical speaking activity; nods are measured from it."""


def blink_track(n_frames: int, fps: float, seed: int, first: int = 0) -> np.ndarray:
    """Eyelid closure (0 open, 1 shut) for frames first..first+n_frames-1: a blink every 2-6 s."""
    rng = np.random.default_rng(seed)
    times = (first + np.arange(n_frames)) / fps
    track = np.zeros(n_frames, np.float32)
    if n_frames == 0:
        return track
    start = rng.uniform(0.8, 3.0)
    duration = BLINK_CLOSE_S + BLINK_HOLD_S + BLINK_OPEN_S
    while start < times[-1]:
        if start + duration >= times[0]:
            local = times - start
            closing = np.clip(local / BLINK_CLOSE_S, 0, 1)
            opening = np.clip((local - BLINK_CLOSE_S - BLINK_HOLD_S) / BLINK_OPEN_S, 0, 1)
            inside = (local >= 0) & (local <= duration)
            track = np.maximum(track, np.where(inside, closing * (1 - opening), 0))
        start += rng.uniform(2.0, 6.0)
    return track


def _smooth_noise(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A wandering signal in about [-1, 1] at times `t`: a few sines at 0.15-1.2 Hz.

    Real speakers' head angles and position (landmarks of four clips of talk) move
    mostly below 0.5 Hz with power up to 1-2 Hz (spectral centroid 0.6-2 Hz).
    """
    signal = np.zeros(len(t))
    for _ in range(3):
        signal += np.sin(2 * np.pi * rng.uniform(0.15, 1.2) * t + rng.uniform(0, 2 * np.pi))
    return (signal / 3).astype(np.float32)


def activity_margin(fps: float) -> int:
    """Frames of energy needed on each side of a frame to compute its head motion."""
    return max(1, int(0.4 * fps))


def head_motion(energy: np.ndarray, fps: float, seed: int, scale: float = 1.0, first: int = 0) -> np.ndarray:
    """Per-frame (tilt radians, sway, nod in eye distances), following speech energy.

    The head drifts gently at rest and moves more, with small nods, while speaking.
    Amplitudes are half of what real speakers show (roll SD 0.014-0.04 rad, sideways
    0.05-0.07 and vertical 0.03-0.13 eye distances, camera motion included): a warp
    of a still portrait shows its seams sooner than a moving head does.
    `energy` is for frames first, first+1, ...; a frame's motion depends on the
    energy `activity_margin(fps)` frames around it, so a caller working in pieces
    passes that much context on each side and keeps the middle.
    """
    rng = np.random.default_rng(seed + 1)
    window = activity_margin(fps)
    kernel = np.hanning(window * 2 + 1)
    activity = np.convolve(energy, kernel / kernel.sum(), mode="same")[: len(energy)]
    t = (first + np.arange(len(activity))) / fps
    level = 0.35 + 0.65 * np.clip(activity, 0, 1)
    tilt = 0.05 * _smooth_noise(t, rng) * level
    sway = 0.06 * _smooth_noise(t, rng) * level
    nod = 0.08 * (activity - ACTIVITY_MEAN) + 0.03 * _smooth_noise(t, rng)
    return (np.stack([tilt, sway, nod], axis=1) * scale).astype(np.float32)
