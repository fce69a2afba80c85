"""Move an object by (dx, dy), or take it out: mask, pad, fill the hole, paste.

The object's mask is padded (`ShiftOptions.pad`, 20 px by default) so the fill also covers its soft
edge and shadow; the padded hole is inpainted with settings that remove rather
than replace (empty prompt, low guidance); for a shift, the object's own pixels
are pasted back at the new place with a feathered edge. Parts that land outside
the canvas are clipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from avatar.edit.inpaint import InpaintOptions, InpaintResult, inpaint, removal_options
from avatar.edit.masks import fit_mask, mask_blur, mask_pad, require_nonempty
from avatar.edit.options import ShiftOptions
from avatar.errors import InputError
from avatar.progress import Progress, report, scaled

DEFAULT_PAD = ShiftOptions().pad  # declared in avatar.edit.options
DEFAULT_FEATHER = 3


@dataclass
class RemoveResult:
    """The image without the object, the object's mask and the padded hole that was filled."""

    image: np.ndarray
    mask: np.ndarray
    hole: np.ndarray
    fill: InpaintResult
    notices: list[str] = field(default_factory=list)


@dataclass
class ShiftResult:
    """The image with the object moved, where it is now, and the cleaned background."""

    image: np.ndarray
    mask: np.ndarray  # where the object was
    moved_mask: np.ndarray  # where the object is now (clipped to the canvas)
    background: np.ndarray  # the image with the object removed
    dx: int
    dy: int
    clipped: bool
    fill: InpaintResult
    notices: list[str] = field(default_factory=list)


def translate(array: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Move an array's content by (dx, dy) pixels; what leaves the canvas is dropped, new area is zero."""
    height, width = array.shape[:2]
    moved = np.zeros_like(array)
    if abs(dx) >= width or abs(dy) >= height:
        return moved
    src_x = slice(max(0, -dx), min(width, width - dx))
    dst_x = slice(max(0, dx), min(width, width + dx))
    src_y = slice(max(0, -dy), min(height, height - dy))
    dst_y = slice(max(0, dy), min(height, height + dy))
    moved[dst_y, dst_x] = array[src_y, src_x]
    return moved


def remove_object(
    image: np.ndarray,
    mask: np.ndarray,
    pad: int = DEFAULT_PAD,
    method: Optional[str] = None,
    options: Optional[InpaintOptions] = None,
    progress: Optional[Progress] = None,
) -> RemoveResult:
    """Take the masked object out of the image and fill where it was (`method` overrides `options.method`)."""
    mask, notice = fit_mask(mask, image)
    require_nonempty(mask, "The object's mask")
    hole = mask_pad(mask, pad)
    fill = inpaint(image, hole, method, removal_options(options), progress)
    notices = ([notice] if notice else []) + fill.notices
    return RemoveResult(fill.image, mask, hole, fill, notices)


def shift_object(
    image: np.ndarray,
    mask: np.ndarray,
    dx: int,
    dy: int,
    pad: int = DEFAULT_PAD,
    feather: int = DEFAULT_FEATHER,
    method: Optional[str] = None,
    options: Optional[InpaintOptions] = None,
    progress: Optional[Progress] = None,
) -> ShiftResult:
    """Move the masked object by (dx, dy) pixels (right and down are positive)."""
    dx, dy = int(round(dx)), int(round(dy))
    mask, notice = fit_mask(mask, image)
    require_nonempty(mask, "The object's mask")
    height, width = image.shape[:2]
    moved_mask = translate(mask, dx, dy)
    if not moved_mask.any():
        raise InputError(
            f"Moving the object by ({dx}, {dy}) puts it entirely outside the {width}x{height} image; "
            "use a smaller shift, or remove the object instead."
        )
    removed = remove_object(image, mask, pad, method, options, scaled(progress, 0.0, 0.9))

    report(progress, "pasting", 0.92)
    alpha = translate(mask_blur(mask, feather), dx, dy)[..., None]
    moved_pixels = translate(image[..., :3], dx, dy).astype(np.float32)
    result = removed.image.astype(np.float32) * (1.0 - alpha) + moved_pixels * alpha
    result = np.clip(np.round(result), 0, 255).astype(np.uint8)
    clipped = int(moved_mask.sum()) < int(mask.sum())
    notices = ([notice] if notice else []) + removed.fill.notices
    if clipped:
        notices.append("Part of the object moved outside the image and was cut off.")
    report(progress, "done", 1.0)
    return ShiftResult(result, mask, moved_mask, removed.image, dx, dy, clipped, removed.fill, notices)
