"""The portrait generator's options, declared once (beside `avatar.portrait.generate`, which uses them).

The `portrait` job kind, the API's schema, `avatar generate-avatar`'s flags and the
Talking Avatar page's "Generate from a prompt" widgets are derived from these
declarations. Light to import: no torch or diffusers.
"""

from __future__ import annotations

from dataclasses import dataclass

from avatar.errors import InputError
from avatar.options import check, option

# The text-to-image model in the registry that paints the portraits.
MODEL_ID = "sd21-base"


@dataclass
class PortraitOptions:
    """A square portrait from a prompt; attempt k uses seed + k until a face the engines can animate is found."""

    prompt: str = option("", "what the portrait shows, e.g. 'portrait photo of a smiling woman, looking at the camera'")
    negative_prompt: str = option("blurry, deformed, cartoon, text", "what the portrait should not show")
    seed: int = option(0, "the first seed; later attempts use seed+1, seed+2, ...", min=0, max=2**32 - 1)
    steps: int = option(25, "diffusion steps (20-30 is usual)", min=1, max=150)
    guidance: float = option(7.5, "how closely the picture follows the prompt (7.5 is usual)", min=0.0, max=30.0)
    size: int = option(512, "width and height in pixels, a multiple of 8 (512 suits this model)", min=64, max=1024)
    max_attempts: int = option(4, "seeds to try until a face is found", min=1, max=20, flag="--attempts")


def check_portrait(options: PortraitOptions) -> PortraitOptions:
    """The declared ranges, and what they cannot say (one sentence each); the options."""
    if not options.prompt or not options.prompt.strip():
        raise InputError("The prompt is empty; describe the portrait, e.g. 'portrait photo of a smiling woman, "
                         "looking at the camera'.")
    check(options)
    if options.size % 8:
        raise InputError(f"Size {options.size} cannot be generated; use a multiple of 8 between 64 and 1024 "
                         "(512 suits this model).")
    return options
