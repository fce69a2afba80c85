"""The Enhance tool's options, declared once for the CLI's flags, the job's checks, the API's schema and the page.

Light (no torch): the job kinds and the API import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from avatar.options import option

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")  # the image types `avatar.media.load_image` reads
TOOL_MODES = ("face", "face+background")
SCALES = (1, 2, 4)


@dataclass(frozen=True)
class EnhanceOptions:
    """How an image or a video is enhanced; every field has a sensible default."""

    mode: str = option("face", "face: redraw the face with GFPGAN (needs gfpgan-1.4); face+background: also sharpen "
                       "the rest with Real-ESRGAN (needs realesrgan-x2, or realesrgan-x4 for scale 4)",
                       choices=TOOL_MODES)
    scale: int = option(1, "output size as a multiple of the input's (1: same size, sharper)", choices=SCALES)
    stable: bool = option(True, "for videos: keep the enhanced face steady from frame to frame (no flicker)")

    @property
    def background_scale(self) -> int | None:
        """The Real-ESRGAN model the options need (None: the face only)."""
        if self.mode != "face+background":
            return None
        return 4 if self.scale == 4 else 2


def is_image(name: str) -> bool:
    """Whether a file is enhanced as an image (by its extension); anything else is taken as a video."""
    return Path(name).suffix.lower() in IMAGE_SUFFIXES
