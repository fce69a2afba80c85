"""Image tools: object masks, inpainting, object shift and removal.

Each tool works with no model installed (GrabCut masks, OpenCV inpainting) and uses
a diffusion or segmentation model from the registry when one is installed. Their
options are declared once, in `avatar.edit.options`.

The names below are imported on first use, so `avatar.edit.options` stays cheap to
import (no OpenCV) for the job kinds and the API. The fill itself is
`avatar.edit.inpaint.inpaint` (`avatar.edit.inpaint` is its module).
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "InpaintOptions": "options",
    "MaskOptions": "options",
    "ShiftOptions": "options",
    "InpaintResult": "inpaint",
    "inpaint_methods": "inpaint",
    "as_mask": "masks",
    "fit_mask": "masks",
    "mask_blur": "masks",
    "mask_from_box": "masks",
    "mask_from_brush": "masks",
    "mask_from_points": "masks",
    "mask_overlay": "masks",
    "mask_pad": "masks",
    "RemoveResult": "shift",
    "ShiftResult": "shift",
    "remove_object": "shift",
    "shift_object": "shift",
    "TextMask": "text_mask",
    "mask_from_text": "text_mask",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'avatar.edit' has no attribute {name!r}")
    return getattr(importlib.import_module(f"avatar.edit.{_HOMES[name]}"), name)
