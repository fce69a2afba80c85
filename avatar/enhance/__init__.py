"""Face enhancement: GFPGAN v1.4 for the face, Real-ESRGAN x2/x4 for the background (ports of the published models).

See `avatar.enhance.enhancer` for the API the talk, dub and video tools call,
`avatar.enhance.temporal` for video (steady through time), `avatar.enhance.tool`
for the Enhance tool on a whole image or video. The names below load on first use,
so light modules (`avatar.enhance.options`) can be imported without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"MODES": "enhancer", "EnhancedFrames": "enhancer", "FaceEnhancer": "enhancer",
          "check_installed": "enhancer", "BackgroundUpscaler": "upscale", "Tiling": "upscale"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'avatar.enhance' has no attribute {name!r}")
    return getattr(importlib.import_module(f"avatar.enhance.{_WHERE[name]}"), name)
