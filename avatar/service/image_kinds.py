"""Image tool jobs: inpainting, moving or removing an object, and selecting one (a mask from text, a box or clicks).

The checks decode the picture and the mask (a corrupt or oversized file is refused
at submit, not after waiting in line), run the tool's own option checks and ask the
registry for the model the job needs. Classical filling and GrabCut selections need
no model and go to the cpu queue; diffusion and text selection (CLIPSeg) to gpu.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from avatar.edit.classical import DEFAULT_CLASSICAL
from avatar.errors import InputError
from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind, shorten, typed

_FILL = {"method": (str, "auto"), "prompt": (str, ""), "negative_prompt": (str, ""), "seed": (int, 0),
         "steps": (int, 25), "guidance": (float, 7.5), "strength": (float, 1.0), "mask_blur": (int, 4),
         "only_masked": (bool, False), "masked_padding": (int, 32), "classical_algorithm": (str, DEFAULT_CLASSICAL)}


def _picture(inputs: Inputs, what: str):
    """The job's picture and mask, decoded; one sentence when either is missing or unreadable."""
    from avatar.edit.masks import load_mask
    from avatar.media import load_image

    for name in ("image", "mask"):
        if name not in inputs:
            raise InputError(f"The {what} job needs {'an' if name == 'image' else 'a'} {name} file.")
    return load_image(inputs["image"]), load_mask(inputs["mask"])


def _fill_options(options: dict[str, Any]):
    """The inpainting options of a job's parameters, validated; and the method they resolve to."""
    from avatar.edit.inpaint import InpaintOptions, resolve_method
    from avatar.models.registry import get_registry

    values = dict(options)
    method = resolve_method(values.pop("method"))
    if method != "classical":
        get_registry().require(method)
    return InpaintOptions(**values).validate(), method


# -- inpainting ------------------------------------------------------------------------------

def _check_inpaint(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.edit.masks import fit_mask, require_nonempty

    _, method = _fill_options(typed(params, _FILL))
    image, mask = _picture(inputs, "inpainting")
    require_nonempty(fit_mask(mask, image)[0])
    return "cpu" if method == "classical" else "gpu"


def _run_inpaint(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.edit.inpaint import inpaint
    from avatar.edit.job_files import write_edit_result

    options, method = _fill_options(typed(params, _FILL))
    image, mask = _picture(inputs, "inpainting")
    result = inpaint(image, mask, method, options, progress=progress)
    return write_edit_result(out, "inpaint", image, result.image, result.mask, options, {
        "engine": result.engine, "seconds": round(result.seconds, 3), "notices": result.notices})


# -- moving or removing an object ------------------------------------------------------------

_SHIFT = {"dx": (int, 0), "dy": (int, 0), "remove": (bool, False), "pad": (int, 20), "method": (str, "auto"),
          "seed": (int, 0), "steps": (int, 25)}


def _shift_options(params: dict[str, Any]):
    """The shift's options, its fill options and fill method; a move by (0, 0) is a removal (the object leaves its
    place and goes nowhere), so `remove` is the same as leaving dx and dy out."""
    options = typed(params, _SHIFT)
    moves = options["dx"] != 0 or options["dy"] != 0
    if options["remove"] and moves:
        raise InputError("Give either a move (dx, dy) or remove: true, not both; a removal leaves dx and dy at 0.")
    options["remove"] = not moves
    if not 0 <= options["pad"] <= 200:
        raise InputError(f"pad must be 0 to 200 pixels (20 covers a soft edge), not {options['pad']}.")
    fill, method = _fill_options({**_defaults(_FILL), "method": options["method"], "seed": options["seed"],
                                  "steps": options["steps"]})
    return options, fill, method


def _defaults(spec: dict[str, tuple[type, Any]]) -> dict[str, Any]:
    return {name: default for name, (_, default) in spec.items()}


def _check_shift(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.edit.masks import fit_mask, require_nonempty

    _, _, method = _shift_options(params)
    image, mask = _picture(inputs, "object shift")
    require_nonempty(fit_mask(mask, image)[0], "The object's mask")
    return "cpu" if method == "classical" else "gpu"


def _run_shift(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.edit.job_files import write_edit_result
    from avatar.edit.shift import remove_object, shift_object

    options, fill, method = _shift_options(params)
    image, mask = _picture(inputs, "object shift")
    if options["remove"]:
        result = remove_object(image, mask, pad=options["pad"], method=method, options=fill, progress=progress)
    else:
        result = shift_object(image, mask, options["dx"], options["dy"], pad=options["pad"], method=method,
                              options=fill, progress=progress)
    kind = "remove" if options["remove"] else "shift"
    return write_edit_result(out, kind, image, result.image, result.mask, fill, {
        "engine": result.fill.engine, "dx": options["dx"], "dy": options["dy"], "pad": options["pad"],
        "notices": result.notices})


def _describe_shift(params: dict[str, Any]) -> str:
    dx, dy = params.get("dx", 0), params.get("dy", 0)
    if params.get("remove") or not (dx or dy):
        return "remove the object"
    return f"move the object by ({dx}, {dy}) px"


# -- selecting an object ---------------------------------------------------------------------

_MASK = {"prompt": (str, None), "threshold": (float, 0.4), "box": (list, None), "points": (list, None),
         "background_points": (list, [])}


def _mask_request(params: dict[str, Any]) -> dict[str, Any]:
    options = typed(params, _MASK)
    given = [name for name in ("prompt", "box", "points") if options[name] is not None]
    if len(given) != 1:
        raise InputError("Give exactly one way to select: a prompt (text), a box [x0, y0, x1, y1] or points "
                         "[[x, y], ...].")
    if options["box"] is not None and (len(options["box"]) != 4 or not _numbers(options["box"])):
        raise InputError("box must be four numbers x0, y0, x1, y1 (pixels).")
    for name in ("points", "background_points"):
        points = options[name] or []
        if not all(isinstance(p, list) and len(p) == 2 and _numbers(p) for p in points):
            raise InputError(f"{name} must be a list of [x, y] pixel positions, e.g. [[120, 80]].")
    if options["prompt"] is not None and not options["prompt"].strip():
        raise InputError("Describe the object to select, for example 'the cup'.")
    return options


def _numbers(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _check_mask(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.edit.text_mask import CLIPSEG_ID
    from avatar.media import load_image
    from avatar.models.registry import get_registry

    options = _mask_request(params)
    if "image" not in inputs:
        raise InputError("The mask job needs an image file.")
    load_image(inputs["image"])
    if options["prompt"] is None:
        return "cpu"
    get_registry().require(CLIPSEG_ID)
    return "gpu"


def _run_mask(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.edit.job_files import write_edit_result
    from avatar.edit.masks import mask_from_box, mask_from_points
    from avatar.edit.text_mask import mask_from_text
    from avatar.media import load_image

    options = _mask_request(params)
    image = load_image(inputs["image"])
    details: dict[str, Any] = {}
    if options["prompt"] is not None:
        selection = mask_from_text(image, options["prompt"], threshold=options["threshold"], progress=progress)
        mask = selection.mask
        details = {"matched": selection.matched, "best_score": round(selection.best_score, 4),
                   "notices": [selection.notice] if selection.notice else []}
    elif options["box"] is not None:
        mask = mask_from_box(image, options["box"])
    else:
        mask = mask_from_points(image, [tuple(p) for p in options["points"]],
                                [tuple(p) for p in options["background_points"]])
    if not mask.any():
        raise InputError("Nothing was selected; move the box or the points over the object.")
    return write_edit_result(out, "mask", image, None, mask, options, details)


def _describe_mask(params: dict[str, Any]) -> str:
    if params.get("prompt"):
        return f"select “{shorten(str(params['prompt']), 40)}”"
    return "select the object in a box" if params.get("box") else "select the clicked object"


INPAINT = JobKind("inpaint", "Inpainting", ("image", "mask"), _check_inpaint, _run_inpaint,
                  lambda params: f"fill with {params.get('method', 'auto')}"
                  + (f": “{shorten(str(params['prompt']), 40)}”" if params.get("prompt") else ""))
SHIFT = JobKind("shift", "Object shift", ("image", "mask"), _check_shift, _run_shift, _describe_shift)
MASK = JobKind("mask", "Object mask", ("image",), _check_mask, _run_mask, _describe_mask)
IMAGE_KINDS = (INPAINT, SHIFT, MASK)
