"""How a video is dubbed: declared once for the CLI's flags, the job's checks, the API's schema and the page.

Kept apart from `avatar.video.dub` so that the job kinds can name them without
importing the video decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

from avatar.options import option
from avatar.talk.engine import ENHANCE_CHOICES, ENHANCE_HELP

FITS = ("pingpong", "loop", "hold", "trim")
DUB_ENGINES = ("builtin", "wav2lip")
TEETH = ("video", "drawn")
PAUSES = ("video", "closed")


@dataclass(frozen=True)
class DubOptions:
    """How a video is dubbed; every field has a sensible default."""

    engine: str = option("builtin", "what redraws the mouth: builtin (no download) or wav2lip (needs the "
                         "wav2lip-gan model)", choices=DUB_ENGINES)
    face_index: int = option(0, "which face of the video to re-animate, 0 = the largest", min=0)
    fit: str = option("pingpong", "when the speech is longer than the video: pingpong (forward and back), "
                      "loop or hold (the last frame); trim cuts the video where shorter speech ends",
                      choices=FITS)
    seed: int = option(0, "seed for the voice's variation", min=0, max=2**31 - 1)
    lead: float = option(0.05, "seconds the mouth moves ahead of the sound", min=0, max=0.5)
    expression_scale: float = option(1.0, "how far the mouth moves (0.3 subtle, 1.5 lively)", min=0, max=2)
    teeth: str = option("video", "built-in engine: the speaker's own teeth from a frame where the video shows their "
                        "mouth open (video), or teeth drawn from the face's colours (drawn)", choices=TEETH)
    pauses: str = option("video", "built-in engine: where the new speech and the video's own sound both pause "
                         "(0.3 s or more), keep the speaker's own mouth (video: their parted lips, smiles, breaths) "
                         "or close it (closed)", choices=PAUSES)
    enhance: str = option("none", ENHANCE_HELP, choices=ENHANCE_CHOICES)
