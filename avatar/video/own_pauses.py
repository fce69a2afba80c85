"""Where a dub keeps the speaker's own mouth: the pauses that the new speech and the video's own sound share.

Between words a real person rarely holds the closed rest pose the engine draws:
the lips stay parted, they smile, breathe in, laugh. While the new speech is
silent and the video's own speaker was silent too, nothing needs re-animating,
and the person's own mouth is truer than ours. So wherever both sounds are quiet
for at least `PAUSE_S`, the frame keeps its own mouth, faded in and out over
`RAMP_FRAMES` inside the pause so speech frames are always fully re-animated.
Quiet means under `QUIET_BELOW` of the loud frames' level (each sound against
its own 95th percentile of 40 ms levels), the same rule the benchmarks use for pauses.

A pause only the new speech has (the speaker talked there) is drawn closed: their
mouth moved with words that are no longer heard.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from avatar.speech.timeline import Speech

QUIET_BELOW = 0.2
"""A frame is quiet when its sound's RMS is under this share of the sound's 95th-percentile frame RMS."""
SILENT_BELOW = 0.003
"""An RMS (about -50 dBFS) under which a frame is quiet whatever the rest of the sound is like."""
PAUSE_S = 0.3
"""The shortest shared quiet stretch in which the speaker's own mouth is kept."""
RAMP_FRAMES = 3
"""Frames (inside the pause) over which the own mouth fades in and out."""


def quiet_frames(speech: Speech, fps: float, frames: int) -> np.ndarray:
    """Which of `frames` frames at `fps` are quiet in `speech` (frames past its end are quiet)."""
    rate = speech.sample_rate
    levels = np.zeros(frames)
    for index in range(frames):
        piece = speech.samples[int(index * rate / fps):int((index + 1) * rate / fps)]
        levels[index] = float(np.sqrt(np.mean(np.square(piece, dtype=np.float64)))) if len(piece) else 0.0
    loud = float(np.percentile(levels, 95)) if frames else 0.0
    return (levels < QUIET_BELOW * loud) | (levels < SILENT_BELOW)


def own_mouth_strength(new: Speech, own: Optional[Speech], plan: np.ndarray, fps: float, animated: int) -> np.ndarray:
    """For each of the first `animated` output frames, how much of the video's own mouth shows (0..1).

    `plan[step]` is the video frame shown at output step `step` (see `plan_frames`);
    without a sound track of its own the video's pauses are unknown and nothing is kept.
    """
    strength = np.zeros(animated, np.float32)
    if own is None or animated == 0:
        return strength
    sources = np.asarray(plan[:animated])
    own_quiet = quiet_frames(own, fps, int(sources.max()) + 1)[sources]
    shared = quiet_frames(new, fps, animated) & own_quiet
    shortest = int(np.ceil(PAUSE_S * fps - 1e-9))
    ramp = np.minimum(np.arange(1, RAMP_FRAMES + 1) / (RAMP_FRAMES + 1), 1.0)
    start = 0
    while start < animated:
        if not shared[start]:
            start += 1
            continue
        end = start
        while end < animated and shared[end]:
            end += 1
        if end - start >= shortest:
            run = np.ones(end - start, np.float32)
            edge = min(RAMP_FRAMES, (end - start) // 2)
            run[:edge] = ramp[:edge]
            run[len(run) - edge:] = np.minimum(run[len(run) - edge:], ramp[:edge][::-1])
            strength[start:end] = run
        start = end
    return strength
