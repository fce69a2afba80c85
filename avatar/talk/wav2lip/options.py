"""Wav2Lip's own settings (beside the options every engine shares, `avatar.talk.engine.TalkOptions`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from avatar.options import option

DEFAULT_PADS = (0, 10, 0, 0)
"""Pixels added to the face box: top, bottom, left, right (the original's default)."""


@dataclass(frozen=True)
class Wav2LipOptions:
    pads: tuple[int, int, int, int] = option(
        DEFAULT_PADS, "pixels added to the face box Wav2Lip redraws: top, bottom, left, right", min=0, max=200)

    LABELS: ClassVar[dict[str, str]] = {"pads": "Face box padding (top, bottom, left, right)"}
