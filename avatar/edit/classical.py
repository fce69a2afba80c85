"""Inpainting with no model: OpenCV's Telea and Navier-Stokes, and xphoto's FSR and shift-map.

These are always available, so every tool works before any diffusion model is
installed. They continue the surrounding structure into the hole rather than
invent content: good for removing an object from a plain or regular background,
blurry on large holes in busy scenes.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.edit.masks import as_mask, mask_bbox
from avatar.edit.options import CLASSICAL_ALGORITHMS, DEFAULT_CLASSICAL
from avatar.errors import InputError, quoted

__all__ = ["CLASSICAL_ALGORITHMS", "DEFAULT_CLASSICAL", "inpaint_classical"]


def _context_margin(algorithm: str, bbox: tuple[int, int, int, int], radius: int) -> int:
    """How many pixels around the hole a method needs to see.

    Telea and Navier-Stokes only read a band `radius` wide around the hole; FSR and
    shift-map look for matching content further away, so they get a margin that
    grows with the hole. Cropping keeps big images fast.
    """
    if algorithm in ("telea", "ns"):
        return radius + 4
    x0, y0, x1, y1 = bbox
    return max(32, (max(x1 - x0, y1 - y0) + 1) // 2)


def inpaint_classical(image: np.ndarray, mask: np.ndarray, algorithm: str = DEFAULT_CLASSICAL, radius: int = 5) -> np.ndarray:
    """Fill the masked pixels from their surroundings; pixels outside the mask stay as they are."""
    if algorithm not in CLASSICAL_ALGORITHMS:
        raise InputError(f"Unknown classical method {quoted(algorithm)}; use one of {', '.join(CLASSICAL_ALGORITHMS)}.")
    mask = as_mask(mask)
    bbox = mask_bbox(mask)
    if bbox is None:
        return image.copy()
    height, width = image.shape[:2]
    margin = _context_margin(algorithm, bbox, radius)
    x0, y0, x1, y1 = bbox
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(width, x1 + margin), min(height, y1 + margin)
    crop = np.ascontiguousarray(image[y0:y1, x0:x1, :3])
    hole = np.ascontiguousarray(mask[y0:y1, x0:x1]).astype(np.uint8) * 255

    if algorithm in ("telea", "ns"):
        flag = cv2.INPAINT_TELEA if algorithm == "telea" else cv2.INPAINT_NS
        filled = cv2.inpaint(crop, hole, radius, flag)
    else:
        kind = cv2.xphoto.INPAINT_FSR_FAST if algorithm == "fsr" else cv2.xphoto.INPAINT_SHIFTMAP
        filled = np.zeros_like(crop)
        # xphoto marks the *known* pixels as non-zero, the opposite of cv2.inpaint.
        valid = np.ascontiguousarray(255 - hole)
        if algorithm == "shiftmap":
            # Shift-map works in Lab, as its documentation asks.
            lab = cv2.cvtColor(crop, cv2.COLOR_RGB2Lab)
            cv2.xphoto.inpaint(lab, valid, filled, kind)
            filled = cv2.cvtColor(filled, cv2.COLOR_Lab2RGB)
        else:
            cv2.xphoto.inpaint(crop, valid, filled, kind)

    result = image[..., :3].copy()
    region = result[y0:y1, x0:x1]
    inside = hole > 0
    region[inside] = filled[inside]
    return result
