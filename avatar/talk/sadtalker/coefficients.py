"""Audio -> SadTalker's 70 motion coefficients per frame: 64 expression, 3 head angles, 3 translations.

The whole first stage of SadTalker, as its `get_data` + `Audio2Coeff.generate`
ran it:

1. the speech is cut to whole 25 fps frames and every frame gets its mel window
   (audio.py);
2. a blink schedule says how closed the eyes are in each frame (`blink_ratio`),
   or a reference video's expressions replace the portrait's to lend their
   blinks (`blink_reference`);
3. Audio2Exp gives each frame's expression, Audio2Pose the head pose, driven by
   seeded noise and one of 46 styles;
4. the poses are smoothed over time with a Savitzky-Golay filter (13 frames,
   quadratic), because each 32-frame clip is predicted on its own and would
   otherwise jump where clips meet.

Everything random comes from `seed`: blinks from a NumPy generator (the original
used Python's global `random`), pose noise from a torch generator (the original
used torch's global one, so `seed` reproduces its poses after
`torch.manual_seed(seed)`). "Still" mode and the expression scale are applied
later, by the renderer stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.signal import savgol_filter

from avatar.errors import InputError
from avatar.talk.sadtalker.audio import speech_windows
from avatar.talk.sadtalker.audio2exp import EXPRESSIONS, Audio2Exp, expressions
from avatar.talk.sadtalker.audio2pose import POSE, Audio2Pose, check_pose_style, poses

COEFFICIENTS = EXPRESSIONS + POSE
BLINK = np.array([0.5, 0.9, 1.0, 0.9, 0.5], dtype=np.float32)
"""Eye closing over one blink's five frames (0.2 s at 25 fps)."""
NO_BLINKS_UP_TO = 20
"""Recordings of at most this many frames get no blinks, as in the original."""
SMOOTHING = 13
"""Savitzky-Golay window for the poses, in frames (about half a second)."""


@dataclass(frozen=True)
class MotionCoefficients:
    """Per-frame coefficients that drive the renderer, and the blink schedule that shaped them.

    `coeffs` (frames, 70) float32: expression (64) then pose (3 angles in
    radians, 3 translations). `blink` (frames,) float32: eye closing 0..1 fed to
    Audio2Exp (all zeros when blinks came from a reference video or were off).
    """

    coeffs: np.ndarray
    frames: int
    blink: np.ndarray


def blink_ratio(frames: int, rng: np.random.Generator) -> np.ndarray:
    """A random blink schedule (frames,) float32: five-frame blinks at random gaps, as the original drew them.

    Gaps are drawn uniformly from [10, min(frames // 2, 70)) frames (shorter
    recordings blink more often); a blink that would not end before the last
    frame is not started. For exactly 21 frames the original's range was empty
    (it crashed); here the gap is then 10.
    """
    ratio = np.zeros(frames, dtype=np.float32)
    if frames <= NO_BLINKS_UP_TO:
        return ratio
    low = min(10, frames)
    high = max(min(frames // 2, 70), low + 1)
    at = 0
    while at < frames:
        gap = int(rng.integers(low, high))
        if at + gap + len(BLINK) > frames - 1:
            break
        ratio[at + gap:at + gap + len(BLINK)] = BLINK
        at += gap + len(BLINK)
    return ratio


def smooth_poses(pose: np.ndarray) -> np.ndarray:
    """Savitzky-Golay smoothing over time (quadratic; 13 frames, or the largest odd window that fits).

    Two frames or fewer are returned as they are: the original's filter would
    have needed a window longer than its quadratic and failed.
    """
    frames = len(pose)
    window = SMOOTHING if frames >= SMOOTHING else (frames - 1) // 2 * 2 + 1
    if window <= 2:
        return pose
    return savgol_filter(pose, window, 2, axis=0).astype(np.float32)


def _source_row(source_coeffs: np.ndarray) -> np.ndarray:
    """The portrait's first 70 coefficients from a (70,), (73,) vector or the first row of a 2-D array."""
    source = np.asarray(source_coeffs, dtype=np.float32)
    if source.ndim == 2:
        source = source[0]
    if source.ndim != 1 or source.shape[0] not in (COEFFICIENTS, COEFFICIENTS + 3):
        raise InputError(f"The portrait's coefficients are shaped {np.shape(source_coeffs)}, not (70,) or (73,); "
                         "compute them with SadTalker's face reconstruction.")
    return source[:COEFFICIENTS]


def _tiled(reference: np.ndarray, frames: int) -> np.ndarray:
    """A reference video's (T', 64) expressions repeated from its start until `frames` rows."""
    reference = np.asarray(reference, dtype=np.float32)
    if reference.ndim != 2 or reference.shape[1] < EXPRESSIONS or len(reference) == 0:
        raise InputError(f"The blink reference is shaped {reference.shape}, not (frames, 64); "
                         "compute it with SadTalker's face reconstruction on the reference video.")
    return reference[np.arange(frames) % len(reference), :EXPRESSIONS]


def motion_coefficients(
    audio2exp: Audio2Exp,
    audio2pose: Audio2Pose,
    samples16k: np.ndarray,
    source_coeffs: np.ndarray,
    pose_style: int,
    seed: int,
    blink: np.ndarray | None = None,
    blinks: bool = True,
    blink_reference: np.ndarray | None = None,
) -> MotionCoefficients:
    """Coefficients for every whole 25 fps frame of `samples16k` (mono float32 at 16 kHz).

    `source_coeffs`: the portrait's coefficients (70,) or (73,) (exp, angles,
    translation[, crop]). `blink`: a fixed schedule (frames,) instead of the
    seeded random one; `blinks=False`: no blinks (eyes as in the portrait);
    `blink_reference`: a reference video's expressions (T', 64), repeated to
    the audio's length, which replace the portrait's expression as Audio2Exp's
    reference (its eyes then blink as the video's do) with no added blinks.
    """
    style = check_pose_style(pose_style)
    source = _source_row(source_coeffs)
    windows = speech_windows(samples16k)
    frames = len(windows)
    if blink_reference is not None:
        if blink is not None:
            raise InputError("Give either a blink schedule or a blink reference video, not both.")
        ref_exp = _tiled(blink_reference, frames)
        schedule = np.zeros(frames, dtype=np.float32)
    else:
        ref_exp = source[:EXPRESSIONS]
        if blink is not None:
            schedule = np.asarray(blink, dtype=np.float32).reshape(-1)
            if schedule.shape != (frames,):
                raise InputError(f"The blink schedule has {schedule.size} values for {frames} frames; give one per frame.")
        elif blinks:
            schedule = blink_ratio(frames, np.random.default_rng(seed))
        else:
            schedule = np.zeros(frames, dtype=np.float32)
    exp = expressions(audio2exp, windows, ref_exp, schedule)
    pose = poses(audio2pose, windows, source[EXPRESSIONS:], style, torch.Generator().manual_seed(seed))
    coeffs = np.concatenate([exp, smooth_poses(pose)], axis=1).astype(np.float32)
    return MotionCoefficients(coeffs=coeffs, frames=frames, blink=schedule)
