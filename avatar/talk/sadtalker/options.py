"""SadTalker's own settings (beside the options every engine shares, `avatar.talk.engine.TalkOptions`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from avatar.options import option
from avatar.talk.engine import file_option


@dataclass(frozen=True)
class SadTalkerOptions:
    pose_style: int = option(0, "one of SadTalker's 46 learned head-motion styles", min=0, max=45)
    preprocess: str = option("full", "full blends the animated face back into the whole portrait; crop gives the "
                                     "face crop only", choices=("full", "crop"))
    face_size: int = option(256, "the renderer's size, a model file each (512 is sharper and about four times "
                                 "slower)", choices=(256, 512))
    blink_video: Optional[str] = file_option("blink as the face in this video does (without it, blinks are drawn "
                                             "at random from the seed)", "video", flag="--ref-eyeblink",
                                             label="Blink like the face in this video (optional)")

    LABELS: ClassVar[dict[str, str]] = {"preprocess": "Framing", "face_size": "Face resolution"}
    """How the page names its widgets (default: the option's name)."""
