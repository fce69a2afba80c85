"""Glasses stay where they are while the eyes blink.

The blink (`rig._blink_field`) closes each eye by stretching the skin above the
upper lid down over the eye. Everything lying on that skin moves with it, and the
rim of a pair of glasses often crosses it: on a real photograph the rim was bent
into a heart over each eye on every blink. A rim is not skin: it sits in front of
the face and must not move with the lids.

So, once per portrait, `find_rims` looks for glasses: thin lines (darker or
lighter than around them) that cross the skin a blink moves and run on across
the nose bridge, as a rim or a bridge bar does; the lashes, the lid's crease and
wrinkles stop at the eye. Over each eye one line is taken: the strongest smooth
path from where the rim enters the lid's skin to where it leaves it. A face
without such a line gets no layer and renders as before. With one, while the eyes blink, `RimLayer.paint` draws the moving skin
from a copy of the face whose rims were filled with the skin above them, then lays the
rims over it where the head alone (not the lids) puts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from avatar.talk.builtin.rig import EYES, FaceRig

LINE_WIDTH = 0.08
"""Widest line (in eye distances) counted as a rim; a rim at 512 px is 2-4 px, a brow three times that."""
CONTRAST = 16
"""How much (grey levels) a line must differ from around it."""
SPAN = 0.6
"""A rim's line runs at least this far (eye distances) across the face, through the middle between the eyes."""
RIM_THICKNESS = 0.04
"""The rim's line as drawn in front of the closing lids (eye distances): a metal rim's width and its soft edge."""
BEND_COST = 6.0
"""What a rim's path pays (grey levels) for moving one row: a rim runs smoothly, lashes cross it steeply."""
LID_MARGIN = 0.03
"""Lines this close (eye distances) to a lid or inside the eye are the eye's own (lashes, crease), never a rim."""


@dataclass
class RimLayer:
    """Glasses rims lying on the skin a blink moves, and that skin without them."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the crop: where blinking frames are redrawn
    clean: np.ndarray  # the face crop (RGB), its rims over the lids filled with the skin above them
    alpha: np.ndarray  # (h, w) float32 over the whole crop: how much of each pixel is rim

    def paint(self, crop: np.ndarray, source: np.ndarray, grid: np.ndarray, blink_field: np.ndarray,
              blink: float) -> None:
        """Redraw the blink's region of `crop` (rendered from `source` with `grid`, blink included): the skin
        from `clean`, and the rims over it where `grid` without the blink puts them."""
        x0, y0, x1, y1 = self.box
        moving = grid[y0:y1, x0:x1]
        still = moving + np.float32(blink) * blink_field[y0:y1, x0:x1]
        skin = cv2.remap(self.clean, moving, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        rims = cv2.remap(source, still, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.remap(self.alpha, still, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
        crop[y0:y1, x0:x1] = np.clip(skin * (1.0 - alpha) + rims * alpha + 0.5, 0, 255).astype(np.uint8)


def _line_strength(gray: np.ndarray, width: int) -> np.ndarray:
    """How much each pixel stands out of lines at most `width` wide, dark or light (grey levels)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    dark = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)
    light = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel)
    return np.maximum(dark, light)


def _eye_areas(shape: tuple[int, int], landmarks: np.ndarray, margin: float) -> np.ndarray:
    """Each eye's outline grown by `margin` pixels: the eye and the roots of its lashes."""
    mask = np.zeros(shape, np.uint8)
    for upper, lower, _ in EYES:
        outline = np.r_[landmarks[upper], landmarks[lower][::-1]]
        cv2.fillPoly(mask, [np.round(outline).astype(np.int32)], 1)
    size = 2 * int(round(margin)) + 1
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))).astype(bool)


def _rim_path(strength: np.ndarray, rim: np.ndarray, moving: np.ndarray) -> Optional[np.ndarray]:
    """The rim's line across one eye's moving skin: one row per column, or None where no rim crosses it.

    The rim's component enters the moving skin at its left and right edges (beside
    the eye's corners); between them the line is followed column by column as the
    strongest path that moves at most one row per column (dynamic programming over
    `strength`, less `BEND_COST` for each row it moves), never through the eye, so only the rim is taken, not the lashes or the lid's crease it
    may touch. `rim`, `moving` and `strength` are the eye's window.
    """
    columns = np.flatnonzero(moving.any(axis=0))
    left, right = int(columns[0]), int(columns[-1])
    if left == 0 or right == moving.shape[1] - 1:
        return None
    enter, leave = np.flatnonzero(rim[:, left - 1]), np.flatnonzero(rim[:, right + 1])
    if len(enter) == 0 or len(leave) == 0:
        return None
    rows = moving.shape[0]
    score = np.full(rows, -np.inf)
    score[enter] = strength[enter, left - 1]
    back = np.zeros((right - left + 3, rows), np.int64)
    for step, column in enumerate(range(left, right + 2), start=1):
        bend = score - BEND_COST
        shifted = np.stack([np.r_[-np.inf, bend[:-1]], score, np.r_[bend[1:], -np.inf]])
        choice = np.argmax(shifted, axis=0)
        back[step] = np.arange(rows) + choice - 1
        score = shifted[choice, np.arange(rows)] + strength[:, column]
    end = np.full(rows, -np.inf)
    end[leave] = score[leave]
    if not np.isfinite(end).any():
        return None
    path = np.zeros(right - left + 3, np.int64)
    path[-1] = int(np.argmax(end))
    for step in range(len(path) - 1, 0, -1):
        path[step - 1] = back[step, path[step]]
    return path


def _fill_from_above(image: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """`image` with each pixel of `holes` replaced by the nearest one above it that is not a hole.

    Above a rim lies the lid's own skin (up to the brow); below it, the lashes. A
    fill from all sides (inpainting) smudged the lashes' dark into the strip the
    blink stretches over the whole eye, which then showed as dark streaks on the lid.
    """
    clean = image.copy()
    for row in np.flatnonzero(holes.any(axis=1)):
        if row > 0:
            clean[row, holes[row]] = clean[row - 1, holes[row]]
    # One pixel's colour copied down a column would streak once stretched: soften along the rows.
    soft = cv2.blur(clean, (5, 1))
    clean[holes] = soft[holes]
    return clean


def find_rims(source: np.ndarray, rig: FaceRig) -> Optional[RimLayer]:
    """The glasses rims that a blink would move, or None when the face wears none (or none crosses the lids' skin)."""
    distance = rig.eye_distance
    field = np.linalg.norm(rig.blink, axis=2)
    if not (field > 0.25).any():
        return None
    gray = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY)
    width = max(3, int(round(LINE_WIDTH * distance)) | 1)
    strength = _line_strength(gray, width)
    eyes = _eye_areas(gray.shape, rig.landmarks, LID_MARGIN * distance)
    lines = (strength >= CONTRAST) & ~eyes
    strength = np.where(eyes, -1e6, strength.astype(np.float64))  # the rim never runs through the eye itself
    count, labels, stats, _ = cv2.connectedComponentsWithStats(lines.astype(np.uint8), connectivity=8)
    middle = float((rig.landmarks[39, 0] + rig.landmarks[42, 0]) / 2)
    frame = np.zeros(gray.shape, bool)
    for index in range(1, count):
        left, _, span, _, _ = stats[index]
        if span >= SPAN * distance and left <= middle <= left + span:
            frame |= labels == index
    rims = np.zeros(gray.shape, np.uint8)
    thickness = max(1, int(round(RIM_THICKNESS * distance)))
    split = int(round(middle))
    for half in (slice(0, split), slice(split, None)):
        # One eye's moving skin, and a margin round it where the rim is seen entering and leaving.
        moving = np.zeros(gray.shape, bool)
        moving[:, half] = field[:, half] > 0.25
        if not moving.any():
            continue
        ys, xs = np.nonzero(moving)
        margin = width
        y0, y1 = max(0, ys.min() - margin), min(gray.shape[0], ys.max() + margin + 1)
        x0, x1 = max(0, xs.min() - margin), min(gray.shape[1], xs.max() + margin + 1)
        path = _rim_path(strength[y0:y1, x0:x1], frame[y0:y1, x0:x1], moving[y0:y1, x0:x1])
        if path is None:
            continue
        first = x0 + int(np.flatnonzero(moving[y0:y1, x0:x1].any(axis=0))[0]) - 1
        for offset, row in enumerate(path):
            cv2.line(rims, (first + offset, y0 + int(row)), (first + offset, y0 + int(row)), 1, thickness)
    if not rims.any():
        return None
    # The rim and its soft edge: a pixel round it, three above (its edge must not be copied down).
    holes = cv2.dilate(rims, np.ones((5, 3), np.uint8), anchor=(1, 1)).astype(bool)
    clean = _fill_from_above(source, holes)
    alpha = np.clip(1.5 * cv2.GaussianBlur(rims.astype(np.float32), (0, 0), 0.7), 0.0, 1.0)
    ys, xs = np.nonzero(cv2.dilate((field > 0.25).astype(np.uint8), np.ones((9, 9), np.uint8)))
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return RimLayer(box=box, clean=clean, alpha=alpha.astype(np.float32))
