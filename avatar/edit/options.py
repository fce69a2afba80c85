"""The image tools' options, declared once: inpainting, moving or removing an object, and selecting one.

Each field's name, type, default, range and one-line help live here; the job kinds
(`avatar.service.image_kinds`), the API's schema, the CLI flags (`avatar inpaint`,
`shift`, `remove`, `mask`) and the pages' widgets are derived from them. This
module is light (no torch, diffusers or OpenCV), so anything may import it cheaply.

`check_*` functions are `avatar.options.check` plus the rules a range cannot say,
each one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

from avatar.errors import InputError
from avatar.options import check, option

# Diffusion inpainting models, best first; "auto" and "sd" take the first installed.
DIFFUSION_MODELS: tuple[str, ...] = ("dreamshaper8-inpaint", "sd2-inpaint")
# "auto": the first installed diffusion model, else classical; "sd": a diffusion model (or how to install one).
METHODS: tuple[str, ...] = ("auto", "sd", "classical", *DIFFUSION_MODELS)

# The classical (no model) fills: name -> what a person sees.
CLASSICAL_ALGORITHMS: dict[str, str] = {
    "telea": "Telea (fast marching; fast, smooth)",
    "ns": "Navier-Stokes (fluid-style; fast, smooth)",
    "fsr": "FSR (frequency-selective reconstruction; slower, keeps texture)",
    "shiftmap": "Shift-map (copies nearby patches; slower, keeps regular texture)",
}
DEFAULT_CLASSICAL = "telea"

SEED_MAX = 2**32 - 1


# Options the fill shares with the object tools: one declaration each, used by both dataclasses.
def _method() -> Any:
    return option("auto", "how to fill: auto is diffusion when a model is installed, else classical; sd is the best "
                          "installed diffusion model", choices=METHODS)


def _classical_algorithm() -> Any:
    return option(DEFAULT_CLASSICAL, "the classical (no model) fill", choices=tuple(CLASSICAL_ALGORITHMS))


def _seed() -> Any:
    return option(0, "the diffusion fill's random seed (same seed, same picture)", min=0, max=SEED_MAX)


def _steps() -> Any:
    return option(25, "diffusion steps", min=1, max=200)


@dataclass
class InpaintOptions:
    """How to fill a masked area: the method and the settings the diffusion and classical paths read.

    The diffusion names follow diffusers' pipeline arguments; `only_masked` and
    `masked_padding` are A1111's "inpaint only masked" mode: work on a crop around
    the mask at full model resolution and paste it back, so a small hole in a large
    photo gets detail instead of being painted at a fraction of a pixel per latent.
    `resolution` and `classical_radius` are the library's own settings, not job
    parameters.
    """

    method: str = _method()
    prompt: str = option("", "what to paint in the hole (diffusion); empty continues the background")
    negative_prompt: str = option("", "what to avoid (diffusion)")
    seed: int = _seed()
    steps: int = _steps()
    guidance: float = option(7.5, "how closely the diffusion fill follows the prompt", min=0.0, max=30.0)
    strength: float = option(1.0, "how much of the masked area is repainted (diffusion; 1 = all of it)",
                             min=0.0, max=1.0)
    mask_blur: int = option(4, "soften the mask's edge by this many pixels (diffusion)", min=0, max=64)
    only_masked: bool = option(False, "paint a padded crop around the mask at full model resolution (diffusion)")
    masked_padding: int = option(32, "pixels around the mask in the only-masked crop", min=0, max=512)
    classical_algorithm: str = _classical_algorithm()
    resolution: int = 512
    classical_radius: int = 5

    def validate(self) -> "InpaintOptions":
        return check_inpaint(self)


def check_inpaint(options: InpaintOptions) -> InpaintOptions:
    """The declared ranges and choices, and what they cannot say; the options."""
    check(options)
    if int(options.steps * options.strength) < 1:
        raise InputError(f"Strength {options.strength:g} with {options.steps} steps leaves no step to paint; "
                         "raise the strength (above 0, at most 1) or the steps.")
    if options.resolution < 64:
        raise InputError("The working resolution must be at least 64 pixels.")
    if options.classical_radius < 1:
        raise InputError("The classical fill's radius must be at least 1 pixel.")
    return options


@dataclass
class ShiftOptions:
    """Move the selected object by (dx, dy) pixels, or remove it; the hole is filled as `InpaintOptions` says.

    A move by (0, 0) is a removal: the object leaves its place and goes nowhere.
    """

    # A move is at most the longest side a picture may have (avatar.media.MAX_IMAGE_SIDE): any further is off it.
    dx: int = option(0, "pixels to the right (negative: left)", min=-4096, max=4096, flag="--x")
    dy: int = option(0, "pixels down (negative: up)", min=-4096, max=4096, flag="--y")
    remove: bool = option(False, "take the object out instead of moving it (a move by (0, 0) removes too)")
    pad: int = option(20, "grow the hole by this many pixels, so the fill also covers the object's soft edge "
                          "and shadow", min=0, max=200)
    method: str = _method()
    classical_algorithm: str = _classical_algorithm()
    seed: int = _seed()
    steps: int = _steps()

    @property
    def removes(self) -> bool:
        return self.remove or (self.dx == 0 and self.dy == 0)

    def fill(self) -> InpaintOptions:
        """The fill's options: the declared defaults, with this shift's method, algorithm, seed and steps."""
        return replace(InpaintOptions(), method=self.method, classical_algorithm=self.classical_algorithm,
                       seed=self.seed, steps=self.steps)


def check_shift(options: ShiftOptions) -> ShiftOptions:
    check(options)
    if options.remove and (options.dx or options.dy):
        raise InputError("Give either a move (dx, dy) or remove: true, not both; a removal leaves dx and dy at 0.")
    check_inpaint(options.fill())
    return options


@dataclass
class MaskOptions:
    """Select an object: by a description (CLIPSeg), a box or clicks (GrabCut); exactly one of them."""

    prompt: Optional[str] = option(None, "describe the object to select, e.g. 'the cup' (needs the clipseg model)")
    threshold: float = option(0.4, "how well the picture must match the description (above 0, below 1)",
                              min=0.0, max=1.0)
    box: Optional[tuple[float, float, float, float]] = option(None, "a box around the object: x0, y0, x1, y1 "
                                                                    "in pixels")
    points: Optional[list[tuple[float, float]]] = option(None, "clicks on the object: [[x, y], ...] in pixels")
    background_points: list[tuple[float, float]] = option([], "clicks on the background, with points: "
                                                               "[[x, y], ...] in pixels")


# The JSON Schema of a list of [x, y] pairs (the generic schema cannot say "pairs").
POINTS_SCHEMA = {"type": "array", "items": {"type": "array", "items": {"type": "number"}, "minItems": 2,
                                            "maxItems": 2}}


def check_mask(options: MaskOptions) -> MaskOptions:
    check(options)
    given = [name for name in ("prompt", "box", "points") if getattr(options, name) is not None]
    if len(given) != 1:
        raise InputError("Give exactly one way to select: a prompt (text), a box [x0, y0, x1, y1] or points "
                         "[[x, y], ...].")
    for name in ("points", "background_points"):
        points = getattr(options, name) or []
        if not all(isinstance(p, (list, tuple)) and len(p) == 2 and _numbers(p) for p in points):
            raise InputError(f"{name} must be a list of [x, y] pixel positions, e.g. [[120, 80]].")
    if options.prompt is not None and not options.prompt.strip():
        raise InputError("Describe the object to select, for example 'the cup'.")
    check_threshold(options.threshold)
    return options


def check_threshold(threshold: float) -> None:
    if not 0.0 < threshold < 1.0:
        raise InputError("The threshold must be between 0 and 1 (0.4 is a good start).")


def _numbers(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
