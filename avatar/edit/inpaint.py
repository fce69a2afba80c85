"""`inpaint(...)`: fill a masked area, with a diffusion model when one is installed.

One entry for the jobs (and so the pages, the CLI and the API) and the object tools.
The method (`InpaintOptions.method`, declared in `avatar.edit.options`) is "auto"
(the first installed diffusion inpainting model, else the classical method), "sd"
(a diffusion model, or a clear "not installed" error), "classical", or a model id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

from avatar.edit.classical import inpaint_classical
from avatar.edit.diffusion import inpaint_diffusion
from avatar.edit.masks import fit_mask, require_nonempty
from avatar.edit.options import DIFFUSION_MODELS, METHODS, InpaintOptions, check_inpaint
from avatar.errors import InputError, ModelNotInstalled, quoted
from avatar.progress import Progress, report

# Object removal runs diffusion with an empty prompt and this low guidance (see removal_options).
REMOVAL_GUIDANCE = 2.0


@dataclass
class InpaintResult:
    """The filled image, the mask that was used (at the image's size) and how it was made."""

    image: np.ndarray
    mask: np.ndarray
    method: str  # "sd" or "classical"
    engine: str  # the model id, or "classical:<algorithm>"
    seed: Optional[int]
    seconds: float
    notices: list[str] = field(default_factory=list)


@dataclass
class MethodChoice:
    """One way to inpaint, as the page lists it."""

    id: str  # "classical" or a model id
    label: str
    installed: bool
    note: str  # why it is unavailable and how to install it, or ""


def _registry():
    from avatar.models.registry import get_registry

    return get_registry()


def installed_diffusion_models() -> list[str]:
    """The diffusion inpainting models present on this machine, best first."""
    registry = _registry()
    return [model_id for model_id in DIFFUSION_MODELS if registry.is_installed(model_id)]


def _missing_note(registry, model_id: str) -> str:
    """The registry's own sentence on a missing model (it says how to install it)."""
    try:
        registry.require(model_id)
    except ModelNotInstalled as exc:
        return str(exc)
    return ""


def inpaint_methods() -> list[MethodChoice]:
    """Every inpainting method with whether it can run here and, if not, what to do."""
    choices: list[MethodChoice] = []
    registry = _registry()
    for model_id in DIFFUSION_MODELS:
        installed = registry.is_installed(model_id)
        label = f"{registry.status(model_id).name} ({model_id})"
        choices.append(MethodChoice(model_id, label, installed, "" if installed else _missing_note(registry, model_id)))
    choices.append(MethodChoice("classical", "Classical (no model: OpenCV)", True, ""))
    return choices


def resolve_method(method: str) -> str:
    """Turn "auto" / "sd" / "classical" / a model id into "classical" or a model id.

    "sd" with no model installed resolves to the best model anyway, so that loading
    it raises the registry's `ModelNotInstalled`, whose message says how to install it.
    """
    if method == "classical":
        return "classical"
    if method in DIFFUSION_MODELS:
        return method
    if method in ("auto", "sd"):
        installed = installed_diffusion_models()
        if installed:
            return installed[0]
        return "classical" if method == "auto" else DIFFUSION_MODELS[0]
    raise InputError(f"Unknown inpainting method {quoted(method)}; use one of {', '.join(METHODS)}.")


def inpaint(
    image: np.ndarray,
    mask: np.ndarray,
    method: Optional[str] = None,
    options: Optional[InpaintOptions] = None,
    progress: Optional[Progress] = None,
) -> InpaintResult:
    """Fill the masked area of an RGB image; pixels away from the mask are kept.

    `method` overrides `options.method` when given. A mask of another size is
    resized (with a notice); an empty mask is refused.
    """
    options = check_inpaint(options or InpaintOptions())
    method = method or options.method
    mask, notice = fit_mask(mask, image)
    require_nonempty(mask)
    notices = [notice] if notice else []
    engine = resolve_method(method)
    started = time.perf_counter()
    report(progress, "inpainting", 0.0)
    if engine == "classical":
        filled = inpaint_classical(image, mask, options.classical_algorithm, options.classical_radius)
        result = InpaintResult(filled, mask, "classical", f"classical:{options.classical_algorithm}", None, 0.0, notices)
    else:
        filled = inpaint_diffusion(image, mask, engine, options, progress)
        result = InpaintResult(filled, mask, "sd", engine, options.seed, 0.0, notices)
    result.seconds = time.perf_counter() - started
    report(progress, "filled", 1.0)
    return result


def removal_options(options: Optional[InpaintOptions] = None) -> InpaintOptions:
    """Settings that make a diffusion model *remove* rather than replace.

    With an object-shaped hole and a descriptive prompt, inpainting models tend to
    paint a new object in the same place. An empty prompt and low guidance leave the
    model to continue the surrounding background instead.
    """
    return replace(options or InpaintOptions(), prompt="", negative_prompt="", guidance=REMOVAL_GUIDANCE)


__all__ = ["DIFFUSION_MODELS", "REMOVAL_GUIDANCE", "InpaintOptions", "InpaintResult", "MethodChoice", "inpaint",
           "inpaint_methods", "installed_diffusion_models", "removal_options", "resolve_method"]
