"""Face enhancement of a video, frame after frame, without flicker; and how flicker is measured.

GFPGAN redraws each face on its own, so two nearly identical frames can come back
with visibly different skin, teeth or eyes: the video shimmers. Two things keep it
still (`StableFaceEnhancer`):

- **Steady alignment.** The five alignment points are smoothed through time (an
  exponential average that resets when the face really moves, more than
  `reset_fraction` of the eye distance) and held while they stay within
  `hold_fraction` of the eye distance of the points last used, so a still face is
  cut out by exactly the same matrix every frame and GFPGAN sees the same crop.
- **Change limited by the input's change.** Each output pixel may change from the
  previous output by at most what the input pixel changed (plus `tolerance`
  levels). Where the face did not move the previous enhancement is kept; where the
  mouth opens or the head turns the new one comes through. So the enhanced video
  never changes more, pixel by pixel, than the unenhanced one: its flicker is at
  most the input's (plus the tolerance), whatever the network does with each frame.
  Outside the face (no background treatment) the output is the input, unchanged.

A frame without a face passes through (only the background treatment, if any) and
restarts both memories. `flicker(frames, mask)` is the measure the tests and the
manifest use: the mean absolute change between consecutive frames inside the face.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import cv2
import numpy as np

from avatar.enhance.enhancer import FaceEnhancer, _check_frame, _largest_face_points
from avatar.enhance.face_align import align_face, feather_mask, five_points, paste_face
from avatar.errors import InputError


def flicker(frames: Sequence[np.ndarray], mask: Optional[np.ndarray] = None) -> float:
    """Mean absolute change (0-255 levels) between consecutive frames, inside `mask` (H, W) weights if given."""
    if len(frames) < 2:
        return 0.0
    total, weight = 0.0, 0.0
    for before, after in zip(frames[:-1], frames[1:]):
        change = np.abs(after.astype(np.float32) - before.astype(np.float32)).mean(axis=2)
        if mask is None:
            total += float(change.mean())
            weight += 1.0
        else:
            total += float((change * mask).sum())
            weight += float(mask.sum())
    return total / weight if weight else 0.0


def relative_flicker(enhanced: Sequence[np.ndarray], original: Sequence[np.ndarray],
                     mask: Optional[np.ndarray] = None) -> float:
    """Flicker of the enhanced frames over that of the frames they came from (1.0: the same; 1.1: 10% more).

    The enhanced frames may be larger (an output scale): they are compared at the originals' size.
    """
    height, width = original[0].shape[:2]
    resized = [f if f.shape[:2] == (height, width) else cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA)
               for f in enhanced]
    base = flicker(original, mask)
    return flicker(resized, mask) / base if base > 0 else (0.0 if flicker(resized, mask) == 0 else float("inf"))


def face_mask(landmarks68: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The (H, W) float32 weights of the aligned square around a face in a (width, height) frame: where to measure."""
    return feather_mask(align_face(np.zeros((size[1], size[0], 3), np.uint8), five_points(landmarks68)).affine, size)


@dataclass
class EnhancementLog:
    """What happened to a video's frames, for the manifest."""

    frames: int = 0
    face_found: list[bool] = field(default_factory=list)
    kept_fraction: list[float] = field(default_factory=list)  # per enhanced frame: share of values held back

    @property
    def faces_lost(self) -> list[int]:
        return [index for index, found in enumerate(self.face_found) if not found]

    def entry(self) -> dict:
        found = np.array(self.face_found, bool)
        return {"frames": self.frames, "frames_enhanced": int(found.sum()),
                "faces_lost": _ranges(~found),
                "kept_from_previous": round(float(np.mean(self.kept_fraction)), 4) if self.kept_fraction else 0.0}


def _ranges(flags: np.ndarray) -> list[list[int]]:
    """The runs of True in `flags` as [first, last] indices (inclusive)."""
    runs, start = [], None
    for index, flag in enumerate(list(flags) + [False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            runs.append([start, index - 1])
            start = None
    return runs


class StableFaceEnhancer:
    """A `FaceEnhancer` fed one frame at a time, keeping the face steady across frames (see the module's doc)."""

    def __init__(self, enhancer: FaceEnhancer, *, stable: bool = True, smoothing: float = 0.6,
                 reset_fraction: float = 0.15, hold_fraction: float = 0.03, tolerance: float = 0.0):
        if not 0 <= smoothing < 1:
            raise InputError(f"The landmark smoothing must be from 0 to below 1, not {smoothing}.")
        self.enhancer = enhancer
        self.stable = stable
        self.smoothing = smoothing
        self.reset_fraction = reset_fraction
        self.hold_fraction = hold_fraction
        self.tolerance = tolerance
        self.log = EnhancementLog()
        self._points: Optional[np.ndarray] = None
        self._input: Optional[np.ndarray] = None
        self._output: Optional[np.ndarray] = None

    def _forget(self) -> None:
        self._points = self._input = self._output = None

    def _smoothed(self, five: np.ndarray) -> np.ndarray:
        """The five points averaged with the previous frame's, unless the face moved too far for that."""
        if not self.stable or self._points is None:
            return five
        eyes = float(np.linalg.norm(five[1] - five[0])) or 1.0
        moved = float(np.abs(five - self._points).max())
        if moved > self.reset_fraction * eyes:
            return five
        if moved <= self.hold_fraction * eyes:
            return self._points
        return self.smoothing * self._points + (1 - self.smoothing) * five

    def _limited(self, frame: np.ndarray, output: np.ndarray) -> tuple[np.ndarray, float]:
        """The output, its change from the previous output held within the input's change (per pixel and channel);
        and the share of values that were held back."""
        if not self.stable or self._input is None or self._output.shape != output.shape:
            return output, 0.0
        allowed = np.abs(frame.astype(np.int16) - self._input.astype(np.int16)).astype(np.float32)
        if allowed.shape != output.shape:  # an output scale: the input's change at the output's size
            allowed = cv2.resize(allowed, (output.shape[1], output.shape[0]), interpolation=cv2.INTER_NEAREST)
        allowed += self.tolerance
        before = self._output.astype(np.float32)
        wanted = output.astype(np.float32) - before
        step = np.clip(wanted, -allowed, allowed)
        kept = float((step != wanted).mean())
        return np.clip(np.rint(before + step), 0, 255).astype(np.uint8), kept

    def process(self, frame: np.ndarray, landmarks68: Optional[np.ndarray] = None, *, detect: bool = True
                ) -> np.ndarray:
        """One (H, W, 3) uint8 RGB frame -> enhanced frame; `landmarks68` None: found with dlib (unless not `detect`,
        meaning the caller knows there is no face here)."""
        frame = _check_frame(frame)
        points = landmarks68 if landmarks68 is not None else (_largest_face_points(frame) if detect else None)
        self.log.frames += 1
        aligned = None
        if points is not None:
            five = self._smoothed(five_points(points))
            try:
                aligned = align_face(frame, five)
            except InputError:
                aligned = None
        if aligned is None:
            self._forget()
            self.log.face_found.append(False)
            return self.enhancer._plain(frame)
        restored = self.enhancer.restore_faces(aligned.crop[None])[0]
        output = paste_face(frame, restored, aligned.affine, self.enhancer.scale, self.enhancer._base(frame))
        output, kept = self._limited(frame, output)
        self._points, self._input, self._output = five, frame.copy(), output  # an engine may reuse its buffer
        self.log.face_found.append(True)
        self.log.kept_fraction.append(kept)
        return output
