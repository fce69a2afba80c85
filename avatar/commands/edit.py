"""`avatar mask | shift | inpaint | remove`: the image tools on the command line.

Each command is a job of the same service as the pages and the API (`mask`,
`shift`, `inpaint`; the same job folders, listed by `avatar jobs list` and on
History), followed with a progress bar; its result is then written where `-o` says.
The tools' flags come from their declared options (`avatar.edit.options`). An
object chosen by text, a box or clicks is first selected by a `mask` job, whose mask
the move, removal or fill is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from avatar.commands.jobs import FinishedJob, run_job
from avatar.edit.options import InpaintOptions, MaskOptions, ShiftOptions
from avatar.errors import InputError
from avatar.media import IMAGE_EXTENSIONS
from avatar.options import args_params, specs
from avatar.service.image_kinds import shift_options


def register(subparsers: argparse._SubParsersAction) -> None:
    from avatar.options import add_arguments

    mask = subparsers.add_parser(
        "mask",
        help="make an object mask from text, a box or clicks",
        description="Write a black-and-white mask of the object, and an overlay picture beside it.",
    )
    mask.add_argument("--image", type=Path, required=True, metavar="PATH", help="the picture")
    _add_selection(mask, allow_mask=False)
    mask.add_argument("-o", "--output", type=Path, required=True, metavar="PATH", help="mask PNG to write")
    mask.set_defaults(func=run_mask)

    shift = subparsers.add_parser(
        "shift",
        help="move an object by (x, y) pixels and fill where it was",
        description="Move an object; the hole it leaves is filled by inpainting.",
    )
    shift.add_argument("--image", type=Path, required=True, metavar="PATH", help="the picture")
    _add_selection(shift, allow_mask=True)
    add_arguments(shift, ShiftOptions, skip=("remove",))
    _required(shift, "dx", "dy")
    shift.add_argument("-o", "--output", type=Path, required=True, metavar="PATH", help="image to write")
    shift.set_defaults(func=run_shift)

    fill = subparsers.add_parser(
        "inpaint",
        help="fill the masked area of an image",
        description="Fill the white area of a mask: Stable Diffusion when installed, else OpenCV.",
    )
    fill.add_argument("--image", type=Path, required=True, metavar="PATH", help="the picture")
    fill.add_argument("--mask", type=Path, required=True, metavar="PATH", help="white (or painted) = area to fill")
    add_arguments(fill, InpaintOptions)
    fill.add_argument("-o", "--output", type=Path, required=True, metavar="PATH", help="image to write")
    fill.set_defaults(func=run_inpaint)

    remove = subparsers.add_parser(
        "remove",
        help="remove an object and fill where it was",
        description="Remove an object; the hole is filled by inpainting with settings that remove, not replace.",
    )
    remove.add_argument("--image", type=Path, required=True, metavar="PATH", help="the picture")
    _add_selection(remove, allow_mask=True)
    add_arguments(remove, ShiftOptions, skip=("dx", "dy", "remove"))
    remove.add_argument("-o", "--output", type=Path, required=True, metavar="PATH", help="image to write")
    remove.set_defaults(func=run_remove)


def _required(parser: argparse.ArgumentParser, *names: str) -> None:
    """Make declared options' flags required on this command (a shift needs its move)."""
    for action in parser._actions:
        if action.dest in names:
            action.required = True


def _help(name: str) -> str:
    return next(spec.help for spec in specs(MaskOptions) if spec.name == name)


def _add_selection(parser: argparse.ArgumentParser, allow_mask: bool) -> None:
    """How to pick the object: the `mask` job's ways (text, box, clicks), or a mask picture; and the text threshold."""
    from avatar.options import add_arguments

    group = parser.add_mutually_exclusive_group(required=True)
    # Their own dests: the values are parsed here (X0,Y0,X1,Y1 and "X,Y;X,Y") before they become job parameters.
    group.add_argument("--object", dest="select_prompt", metavar="TEXT", help=_help("prompt"))
    group.add_argument("--box", dest="select_box", metavar="X0,Y0,X1,Y1", help=_help("box") + " (GrabCut)")
    group.add_argument("--points", dest="select_points", metavar="X,Y;X,Y", help=_help("points") + " (GrabCut)")
    if allow_mask:
        group.add_argument("--mask", type=Path, metavar="PATH", help="a mask picture: white = the object")
    add_arguments(parser, MaskOptions, skip=("prompt", "box", "points", "background_points"))


def _check_output(path: Path) -> Path:
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise InputError(f"Write the result as {', '.join(IMAGE_EXTENSIONS)}, not {path.name}.")
    return path


def _parse_points(text: str) -> list[list[int]]:
    points = []
    for part in text.replace(" ", "").split(";"):
        if not part:
            continue
        try:
            x, y = (int(round(float(v))) for v in part.split(","))
        except ValueError:
            raise InputError(f"Points are X,Y pairs separated by ';', such as '120,80;140,90', not {text!r}.") from None
        points.append([x, y])
    return points


def _selection_params(args: argparse.Namespace) -> dict:
    """The `mask` job's parameters for the selection flags given."""
    from avatar.edit.masks import parse_box

    params = args_params(MaskOptions, args)  # the threshold, when given
    if args.select_box is not None:
        params["box"] = list(parse_box(args.select_box))
    elif args.select_points is not None:
        params["points"] = _parse_points(args.select_points)
    else:
        params["prompt"] = args.select_prompt
    return params


def _select(args: argparse.Namespace, strict: bool) -> FinishedJob:
    """Run the `mask` job for the selection flags.

    With `strict`, a text prompt that matches nothing is an error (moving or removing
    a guess would surprise); `avatar mask` instead writes the best guess and warns.
    """
    finished = run_job("mask", _selection_params(args), {"image": args.image}, label="select")
    made = finished.manifest
    if made.get("matched") is False:
        if strict:
            raise InputError(
                f"Nothing in the image matched {made['options']['prompt']!r} (best score {made['best_score']:.2f}, "
                f"threshold {made['options']['threshold']:.2f}); try other words, a lower --threshold, or --box."
            )
        for notice in made.get("notices", []):
            print(f"warning: {notice}", file=sys.stderr)
    return finished


def _object_mask(args: argparse.Namespace) -> Path:
    """The object's mask file: the --mask picture as given, else the selection job's mask."""
    if args.mask is not None:
        return args.mask
    return _select(args, strict=True).files["mask.png"]


def save_result(path: Path, output: Path) -> Path:
    """Write a job's result picture to the user's path, in the format its suffix names (atomically)."""
    from PIL import Image

    from avatar.media import save_image

    with Image.open(path) as opened:
        array = np.asarray(opened)
    return save_image(output, array)


def _print_notices(finished: FinishedJob) -> None:
    for notice in finished.manifest.get("notices", []):
        print(f"note: {notice}", file=sys.stderr)


def run_mask(args: argparse.Namespace) -> int:
    from avatar.edit.masks import load_mask, mask_overlay
    from avatar.media import load_image, save_image

    output = _check_output(args.output)
    finished = _select(args, strict=False)
    mask = load_mask(finished.files["mask.png"])
    overlay_path = output.with_name(f"{output.stem}_overlay.png")
    save_image(output, mask.astype(np.uint8) * 255)
    save_image(overlay_path, mask_overlay(load_image(args.image), mask))
    share = 100.0 * mask.mean()
    print(f"{output}  ({share:.1f}% of the image; overlay: {overlay_path})")
    return 0


def run_shift(args: argparse.Namespace) -> int:
    output = _check_output(args.output)
    params = args_params(ShiftOptions, args)
    if not params.get("dx") and not params.get("dy"):
        raise InputError("A move by (0, 0) leaves the object where it is; give --x or --y, or use `avatar remove`.")
    shift_options(params)  # every rule, before the object is selected
    finished = run_job("shift", params, {"image": args.image, "mask": _object_mask(args)}, label="shift")
    save_result(finished.files["result.png"], output)
    _print_notices(finished)
    made = finished.manifest
    print(f"{output}  (moved by {made['dx']}, {made['dy']}; filled with {made['engine']})")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    output = _check_output(args.output)
    params = {**args_params(ShiftOptions, args), "remove": True}
    shift_options(params)  # every rule, before the object is selected
    finished = run_job("shift", params, {"image": args.image, "mask": _object_mask(args)}, label="remove")
    save_result(finished.files["result.png"], output)
    _print_notices(finished)
    print(f"{output}  (filled with {finished.manifest['engine']})")
    return 0


def run_inpaint(args: argparse.Namespace) -> int:
    output = _check_output(args.output)
    finished = run_job("inpaint", args_params(InpaintOptions, args), {"image": args.image, "mask": args.mask},
                       label="inpaint")
    save_result(finished.files["result.png"], output)
    _print_notices(finished)
    made = finished.manifest
    print(f"{output}  (filled with {made['engine']} in {made['seconds']:.1f} s)")
    return 0
