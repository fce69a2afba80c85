"""Image tool jobs: inpainting, moving or removing an object, and selecting one (a mask from text, a box or clicks).

The parameters are the tools' declared options (`avatar.edit.options`): converted,
range-checked and defaulted by `avatar.options.from_params`, then the rules a range
cannot say. The checks also decode the picture and the mask (a corrupt or oversized
file is refused at submit, not after waiting in line) and ask the registry for the
model the job needs. Classical filling and GrabCut selections need no model and go
to the cpu queue; diffusion and text selection (CLIPSeg) to gpu.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from avatar.edit.options import (
    POINTS_SCHEMA,
    InpaintOptions,
    MaskOptions,
    ShiftOptions,
    check_inpaint,
    check_mask,
    check_shift,
)
from avatar.errors import InputError
from avatar.options import from_params, json_schema, params_of, specs
from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind, shorten


def inpaint_options(params: dict[str, Any]) -> InpaintOptions:
    """An inpainting job's options from its parameters, checked (the declared defaults where left out)."""
    return check_inpaint(from_params(InpaintOptions, params))


def shift_options(params: dict[str, Any]) -> ShiftOptions:
    """A shift job's options from its parameters, checked."""
    return check_shift(from_params(ShiftOptions, params))


def mask_options(params: dict[str, Any]) -> MaskOptions:
    """A mask job's options from its parameters, checked."""
    return check_mask(from_params(MaskOptions, params))


def _picture(inputs: Inputs, what: str):
    """The job's picture and mask, decoded; one sentence when either is missing or unreadable."""
    from avatar.edit.masks import load_mask
    from avatar.media import load_image

    for name in ("image", "mask"):
        if name not in inputs:
            raise InputError(f"The {what} job needs {'an' if name == 'image' else 'a'} {name} file.")
    return load_image(inputs["image"]), load_mask(inputs["mask"])


def _fill_method(options: InpaintOptions) -> str:
    """The method the options resolve to ("classical" or an installed model id; a missing model is refused)."""
    from avatar.edit.inpaint import resolve_method
    from avatar.models.registry import get_registry

    method = resolve_method(options.method)
    if method != "classical":
        get_registry().require(method)
    return method


# -- inpainting ------------------------------------------------------------------------------

def _check_inpaint(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.edit.masks import fit_mask, require_nonempty

    method = _fill_method(inpaint_options(params))
    image, mask = _picture(inputs, "inpainting")
    require_nonempty(fit_mask(mask, image)[0])
    return "cpu" if method == "classical" else "gpu"


def _run_inpaint(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.edit.inpaint import inpaint
    from avatar.edit.job_files import write_edit_result

    options = inpaint_options(params)
    method = _fill_method(options)
    image, mask = _picture(inputs, "inpainting")
    result = inpaint(image, mask, method, options, progress=progress)
    return write_edit_result(out, "inpaint", image, result.image, result.mask, options, {
        "engine": result.engine, "seconds": round(result.seconds, 3), "notices": result.notices})


# -- moving or removing an object ------------------------------------------------------------

def _check_shift(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.edit.masks import fit_mask, require_nonempty

    method = _fill_method(shift_options(params).fill())
    image, mask = _picture(inputs, "object shift")
    require_nonempty(fit_mask(mask, image)[0], "The object's mask")
    return "cpu" if method == "classical" else "gpu"


def _run_shift(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.edit.job_files import write_edit_result
    from avatar.edit.shift import remove_object, shift_object

    options = shift_options(params)
    fill = options.fill()
    method = _fill_method(fill)
    image, mask = _picture(inputs, "object shift")
    if options.removes:
        result = remove_object(image, mask, pad=options.pad, method=method, options=fill, progress=progress)
    else:
        result = shift_object(image, mask, options.dx, options.dy, pad=options.pad, method=method, options=fill,
                              progress=progress)
    kind = "remove" if options.removes else "shift"
    return write_edit_result(out, kind, image, result.image, result.mask, fill, {
        "engine": result.fill.engine, "dx": options.dx, "dy": options.dy, "pad": options.pad,
        "notices": result.notices})


def _describe_shift(params: dict[str, Any]) -> str:
    dx, dy = params.get("dx", 0), params.get("dy", 0)
    if params.get("remove") or not (dx or dy):
        return "remove the object"
    return f"move the object by ({dx}, {dy}) px"


# -- selecting an object ---------------------------------------------------------------------

def _check_mask(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.edit.text_mask import CLIPSEG_ID
    from avatar.media import load_image
    from avatar.models.registry import get_registry

    options = mask_options(params)
    if "image" not in inputs:
        raise InputError("The mask job needs an image file.")
    load_image(inputs["image"])
    if options.prompt is None:
        return "cpu"
    get_registry().require(CLIPSEG_ID)
    return "gpu"


def _run_mask(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.edit.job_files import write_edit_result
    from avatar.edit.masks import mask_from_box, mask_from_points
    from avatar.edit.text_mask import mask_from_text
    from avatar.media import load_image

    options = mask_options(params)
    image = load_image(inputs["image"])
    details: dict[str, Any] = {}
    if options.prompt is not None:
        selection = mask_from_text(image, options.prompt, threshold=options.threshold, progress=progress)
        mask = selection.mask
        details = {"matched": selection.matched, "best_score": round(selection.best_score, 4),
                   "notices": [selection.notice] if selection.notice else []}
    elif options.box is not None:
        mask = mask_from_box(image, options.box)
    else:
        mask = mask_from_points(image, [tuple(p) for p in options.points],
                                [tuple(p) for p in options.background_points])
    if not mask.any():
        raise InputError("Nothing was selected; move the box or the points over the object.")
    return write_edit_result(out, "mask", image, None, mask, params_of(options), details)


def _describe_mask(params: dict[str, Any]) -> str:
    if params.get("prompt"):
        return f"select “{shorten(str(params['prompt']), 40)}”"
    return "select the object in a box" if params.get("box") else "select the clicked object"


INPAINT = JobKind("inpaint", "Inpainting", ("image", "mask"), _check_inpaint, _run_inpaint,
                  lambda params: f"fill with {params.get('method', 'auto')}"
                  + (f": “{shorten(str(params['prompt']), 40)}”" if params.get("prompt") else ""),
                  schema=lambda: json_schema(InpaintOptions))
SHIFT = JobKind("shift", "Object shift", ("image", "mask"), _check_shift, _run_shift, _describe_shift,
                schema=lambda: json_schema(ShiftOptions))


def _mask_schema() -> dict[str, Any]:
    """The mask options' schema; the point lists are lists of [x, y] pairs (their help and defaults as declared)."""
    schema = json_schema(MaskOptions)
    for spec in specs(MaskOptions):
        if spec.name in ("points", "background_points"):
            pairs: dict[str, Any] = dict(POINTS_SCHEMA)
            if spec.optional:
                pairs = {"anyOf": [pairs, {"type": "null"}]}
            if spec.default is not None:
                pairs["default"] = spec.default
            schema["properties"][spec.name] = {**pairs, "description": spec.help}
    return schema


MASK = JobKind("mask", "Object mask", ("image",), _check_mask, _run_mask, _describe_mask, schema=_mask_schema)
IMAGE_KINDS = (INPAINT, SHIFT, MASK)
