"""Paint the inside of the mouth where the lips part.

Warping a closed mouth open only stretches lip pixels into the gap; a real open
mouth shows a dark cavity and a hint of the upper teeth. This draws both inside the
current inner-lip outline, with soft edges, on a small region around the mouth.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.talk.rig import smoothstep

CAVITY_RGB = np.array([52, 18, 20], np.float32)
TEETH_RGB = np.array([228, 222, 208], np.float32)
SUBPIXEL_SHIFT = 2


def paint_mouth(crop: np.ndarray, inner_lips: np.ndarray, opening: float, teeth: float, eye_distance: float) -> None:
    """Paint cavity and teeth in place inside the inner-lip polygon.

    `opening` (0..1) fades the cavity in, so a barely parted mouth is not a black
    slit; `teeth` (0..1) raises how much of the upper teeth shows (f, v).
    """
    if opening <= 0.02:
        return
    pad = int(0.15 * eye_distance) + 2
    x0, y0 = np.floor(inner_lips.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(inner_lips.max(axis=0)).astype(int) + pad
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(crop.shape[1], x1), min(crop.shape[0], y1)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return
    height, width = y1 - y0, x1 - x0
    scale = 1 << SUBPIXEL_SHIFT
    polygon = np.round((inner_lips - [x0, y0]) * scale).astype(np.int32)
    mask = np.zeros((height, width), np.float32)
    cv2.fillPoly(mask, [polygon], 1.0, lineType=cv2.LINE_AA, shift=SUBPIXEL_SHIFT)
    if mask.max() <= 0:
        return
    sigma = max(0.6, 0.02 * eye_distance)
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)

    # Vertical position inside the opening: 0 at the upper lip, 1 at the lower lip.
    top = inner_lips[:, 1].min() - y0
    bottom = inner_lips[:, 1].max() - y0
    rows = (np.arange(height, dtype=np.float32) - top) / max(bottom - top, 1.0)
    shade = 1.0 - 0.45 * np.exp(-((rows - 0.55) ** 2) / 0.08)  # darkest in the middle
    color = CAVITY_RGB[None, None, :] * shade[:, None, None]
    color = np.broadcast_to(color, (height, width, 3)).copy()
    teeth_depth = (0.22 + 0.3 * teeth) * min(1.0, 0.15 * eye_distance / max(bottom - top, 1.0) + 0.4)
    teeth_rows = smoothstep((teeth_depth - rows) / 0.08)[:, None, None]
    color = color * (1 - teeth_rows) + TEETH_RGB * teeth_rows

    alpha = (mask * min(1.0, opening * 2.5))[..., None]
    region = crop[y0:y1, x0:x1].astype(np.float32)
    crop[y0:y1, x0:x1] = (region * (1 - alpha) + color * alpha).astype(np.uint8)

