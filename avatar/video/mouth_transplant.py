"""The built-in engine on a video: each frame keeps its own head, eyes and light; only the mouth is new.

Rigging every frame of a video (closing its mouth, building warp fields, cutting
the interior and the lips) costs about 0.7 s a frame. Instead the engine rigs one
*reference* frame of the tracked face, the one whose mouth is most nearly closed
(its interior, the teeth and the dark of the mouth, cut from another frame where
the speaker's mouth is open: `avatar.video.open_mouth`), and for each frame of the
video:

1. renders the reference's lower face with that frame's mouth weights (open,
   wide, round, closed, teeth; no head motion or blinks: those are the video's own);
2. carries it onto the frame by the similarity (rotation, scale, shift) that
   takes the reference's stable landmarks (eyes, nose, the sides of the face) to
   the frame's, so it follows the head as the video moves it;
3. matches its colour to the frame's around the edge of the region (light and
   white balance drift through a video) and blends it in under a feathered mask
   covering the mouth, the jaw and a margin below the chin, where the speaker's
   own jaw may have hung lower than the new one.

Outside that mask every pixel is the frame's own, unchanged; on a video's own
YUV planes (`apply_yuv`) not even converted to RGB and back, so the encoder gets
them exactly as they were decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from avatar.face.face import Face
from avatar.talk.builtin.engine import BuiltinEngine, PortraitRig
from avatar.talk.builtin.mouth_interior import OpenMouth
from avatar.talk.builtin.rig import BASES, face_axes, smoothstep
from avatar.video.io import YuvFrame

MOUTH_BASES = 5
"""The first bases of the rig are the mouth's (open, wide, round, closed, teeth)."""
STABLE = np.r_[0, 1, 15, 16, 27:36, 36:48]
"""Landmarks that move with the skull, not the jaw or lips: where the similarity is fitted."""
JAW = np.arange(2, 15)
CHIN_MARGIN = 0.22
"""How far (in eye distances) the mask reaches below the jaw line: room for a lower original jaw."""
NOSE_GAP = 0.04
"""How far (in eye distances) below the nose's base the mask's top edge lies: the nostrils stay the frame's own."""
FEATHER = 0.25
"""Width of the mask's soft edge, inside its outline, in eye distances."""
GAIN_LIMITS = (0.8, 1.25)


@dataclass
class Reference:
    """The rigged reference frame and what the transplant precomputes from it."""

    frame: np.ndarray
    landmarks: np.ndarray  # (68, 2) in the reference frame
    prepared: PortraitRig
    mask: np.ndarray  # float32 (H, W) in the reference crop, 1 inside the re-animated region
    crop: tuple[int, int, int, int]


def mouth_mask(landmarks: np.ndarray, shape: tuple[int, int], offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The re-animated region as a float mask: below the nose, inside the jaw, a margin under the chin.

    The mask is exactly 0 outside that outline and rises smoothly to 1 over
    `FEATHER` eye distances inside it, so nothing above the nostrils or beyond
    the jaw's margin is ever touched.
    """
    points = np.asarray(landmarks, np.float64) - offset
    eye_distance, down = face_axes(landmarks)
    jaw = points[JAW]
    centre = points[48:68].mean(axis=0)
    # The jaw line pushed outwards from the mouth centre (more so at the chin, where a lower jaw would show).
    outward = jaw - centre
    outward /= np.maximum(np.linalg.norm(outward, axis=1, keepdims=True), 1e-6)
    below = np.clip(outward @ down, 0.0, 1.0)[:, None]
    jaw = jaw + outward * CHIN_MARGIN * eye_distance * (0.35 + 0.65 * below)
    top = points[[35, 34, 33, 32, 31]] + down * NOSE_GAP * eye_distance
    outline = np.zeros(shape, np.uint8)
    cv2.fillPoly(outline, [np.round(np.vstack([jaw, top])).astype(np.int32)], 1)
    inside = cv2.distanceTransform(outline, cv2.DIST_L2, 5)
    return smoothstep(inside / max(FEATHER * eye_distance, 1.0)).astype(np.float32)


def make_reference(frame: np.ndarray, landmarks: np.ndarray, engine: BuiltinEngine | None = None,
                   open_mouth: Optional[OpenMouth] = None) -> Reference:
    """Rig `frame`'s face (mouth closed, interior and lips cut) once, for every frame of the video; the interior
    from `open_mouth` (another frame, aligned to this one: `avatar.video.open_mouth`) when given."""
    engine = engine or BuiltinEngine()
    landmarks = np.asarray(landmarks, np.float32)
    height, width = frame.shape[:2]
    x_min, y_min = np.floor(landmarks.min(axis=0)).astype(int)
    x_max, y_max = np.ceil(landmarks.max(axis=0)).astype(int)
    box = (max(0, x_min), max(0, y_min), min(width, x_max + 1), min(height, y_max + 1))
    prepared = engine.prepare(frame, Face(box, landmarks, "track"), open_mouth)
    crop = prepared.rig.crop
    x0, y0, x1, y1 = crop
    mask = mouth_mask(landmarks, (y1 - y0, x1 - x0), (x0, y0))
    return Reference(frame=frame, landmarks=landmarks, prepared=prepared, mask=mask, crop=crop)


class MouthTransplant:
    """Renders new mouths onto the frames of one tracked face (see the module's docstring)."""

    def __init__(self, reference: Reference, engine: BuiltinEngine | None = None) -> None:
        self.reference = reference
        self.engine = engine or BuiltinEngine()
        self._corners: Optional[np.ndarray] = None

    def mouths(self, rows: np.ndarray):
        """The reference crop rendered with each row of mouth weights (the buffer is reused between rows)."""
        weights = np.zeros((len(rows), len(BASES)), np.float32)
        weights[:, :MOUTH_BASES] = np.asarray(rows, np.float32)[:, :MOUTH_BASES]
        x0, y0, x1, y1 = self.reference.crop
        for frame in self.engine.render_weights(self.reference.frame, self.reference.prepared, weights):
            yield frame[y0:y1, x0:x1]

    def apply(self, frame: np.ndarray, landmarks: np.ndarray, mouth: np.ndarray) -> np.ndarray:
        """`frame` (RGB) with `mouth` (a rendered reference crop) blended in where this frame's mouth is."""
        placed = self._place(landmarks, frame.shape[1], frame.shape[0], mouth)
        if placed is None:
            return frame
        x0, y0, x1, y1 = placed.box
        theirs = frame[y0:y1, x0:x1].astype(np.float32)
        ours = _matched(placed.mouth.astype(np.float32), theirs, placed.alpha)
        out = frame.copy()
        alpha = placed.alpha[..., None]
        out[y0:y1, x0:x1] = np.clip(theirs + alpha * (ours - theirs) + 0.5, 0, 255).astype(np.uint8)
        return out

    def apply_yuv(self, frame: YuvFrame, landmarks: np.ndarray, mouth: np.ndarray, share: float = 1.0) -> YuvFrame:
        """`frame` (I420 planes) with `mouth` blended in, `share` of the way (1: all of it, 0: the frame itself);
        a new frame, whose planes are `frame`'s own wherever the mask is 0.

        Only the region the mask covers is converted to RGB (to match the mouth's
        colour to it); the mouth is converted to YUV and blended into the planes,
        the luma with the mask and the quarter-size chroma with the mask averaged
        over each 2x2 block, so no other pixel goes through a colour conversion.
        """
        placed = self._place(landmarks, frame.width, frame.height, mouth) if share > 0.0 else None
        if placed is None:
            return frame
        if share < 1.0:
            placed.alpha *= np.float32(share)
        x0, y0, x1, y1 = placed.box
        theirs, _ = frame.rgb_region(x0, y0, x1, y1)
        ours = _matched(placed.mouth.astype(np.float32), theirs.astype(np.float32), placed.alpha)
        ours_yuv = cv2.cvtColor(np.clip(ours + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2YUV_I420)
        height, width = y1 - y0, x1 - x0
        out = frame.copy()
        _blend(out.luma[y0:y1, x0:x1], ours_yuv[:height], placed.alpha)
        half = cv2.resize(placed.alpha, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
        chroma = ours_yuv[height:].reshape(2, height // 2, width // 2)
        for plane, new in zip(out.chroma(), chroma):
            _blend(plane[y0 // 2:y1 // 2, x0 // 2:x1 // 2], new, half)
        return out

    def _place(self, landmarks: np.ndarray, width: int, height: int, mouth: np.ndarray) -> Optional["_Placed"]:
        """The mouth and mask carried onto a frame of `width`x`height`, only over the box the mask reaches.

        The box has even corners (so it covers whole chroma samples); warping into
        it costs what the region costs, not what the frame does.
        """
        reference = self.reference
        x0, y0 = reference.crop[:2]
        source = reference.landmarks[STABLE].astype(np.float64) - (x0, y0)
        target = np.asarray(landmarks, np.float64)[STABLE]
        matrix, _ = cv2.estimateAffinePartial2D(source, target, method=cv2.LMEDS)
        if matrix is None:
            return None
        corners = np.hstack([self._mask_corners, np.ones((4, 1))]) @ matrix.T
        left, top = np.floor(corners.min(axis=0)).astype(int) - 1
        right, bottom = np.ceil(corners.max(axis=0)).astype(int) + 2
        left, top = max(0, left) // 2 * 2, max(0, top) // 2 * 2
        right, bottom = min(width, (right + 1) // 2 * 2), min(height, (bottom + 1) // 2 * 2)
        if right - left < 2 or bottom - top < 2:
            return None
        shifted = matrix.copy()
        shifted[:, 2] -= (left, top)
        size = (right - left, bottom - top)
        warped = cv2.warpAffine(mouth, shifted, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(reference.mask, shifted, size, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        if not alpha.any():
            return None
        return _Placed((left, top, right, bottom), warped, alpha)

    @property
    def _mask_corners(self) -> np.ndarray:
        """The corners of the box around the mask's non-zero pixels, in reference-crop pixels (edges included)."""
        if self._corners is None:
            rows, cols = np.nonzero(self.reference.mask > 0.0)
            top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
            self._corners = np.array([[left, top], [right, top], [left, bottom], [right, bottom]], np.float64)
        return self._corners


@dataclass
class _Placed:
    """A rendered mouth and its mask carried onto a frame, over `box` (x0, y0, x1, y1) of it."""

    box: tuple[int, int, int, int]
    mouth: np.ndarray
    alpha: np.ndarray


def _matched(ours: np.ndarray, theirs: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`ours` (RGB float) with its colour scaled to `theirs` around the mask's edge (light drifts through a video)."""
    band = ((alpha > 0.05) & (alpha < 0.6)).astype(np.uint8)
    if cv2.countNonZero(band) >= 16:
        gain = np.array(cv2.mean(theirs, mask=band)[:3]) / np.maximum(cv2.mean(ours, mask=band)[:3], 1.0)
        ours *= np.clip(gain, *GAIN_LIMITS).astype(np.float32)
    return ours


def _blend(plane: np.ndarray, new: np.ndarray, alpha: np.ndarray) -> None:
    """`plane` (a view, uint8) moved towards `new` by `alpha`, in place; untouched where `alpha` is 0."""
    old = plane.astype(np.float32)
    plane[...] = np.where(alpha > 0.0, np.clip(old + alpha * (new.astype(np.float32) - old) + 0.5, 0, 255),
                          old).astype(np.uint8)
