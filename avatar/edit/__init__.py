"""Image tools: object masks, inpainting, object shift and removal.

Each tool works with no model installed (GrabCut masks, OpenCV inpainting) and uses
a diffusion or segmentation model from the registry when one is installed.
"""

from avatar.edit.inpaint import InpaintOptions, InpaintResult, inpaint, inpaint_methods
from avatar.edit.masks import (
    as_mask,
    fit_mask,
    mask_blur,
    mask_from_box,
    mask_from_brush,
    mask_from_points,
    mask_overlay,
    mask_pad,
)
from avatar.edit.shift import RemoveResult, ShiftResult, remove_object, shift_object
from avatar.edit.text_mask import TextMask, mask_from_text

__all__ = [
    "InpaintOptions",
    "InpaintResult",
    "RemoveResult",
    "ShiftResult",
    "TextMask",
    "as_mask",
    "fit_mask",
    "inpaint",
    "inpaint_methods",
    "mask_blur",
    "mask_from_box",
    "mask_from_brush",
    "mask_from_points",
    "mask_from_text",
    "mask_overlay",
    "mask_pad",
    "remove_object",
    "shift_object",
]
