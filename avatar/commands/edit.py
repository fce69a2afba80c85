"""`avatar mask | shift | inpaint | remove`: the image tools on the command line.

Each command is the page's function with flags: select the object (text, box,
clicked points or a mask file), then move, remove or fill it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from avatar.commands.progress_bar import progress_bar
from avatar.edit.classical import CLASSICAL_ALGORITHMS, DEFAULT_CLASSICAL
from avatar.edit.inpaint import InpaintOptions, inpaint
from avatar.edit.masks import fit_mask, load_mask, mask_from_box, mask_from_points, mask_overlay, parse_box
from avatar.edit.shift import DEFAULT_PAD, remove_object, shift_object
from avatar.edit.text_mask import DEFAULT_THRESHOLD, mask_from_text
from avatar.errors import InputError
from avatar.media import IMAGE_EXTENSIONS, load_image, save_image


def register(subparsers: argparse._SubParsersAction) -> None:
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
    shift.add_argument("--x", type=int, required=True, metavar="DX", help="pixels to the right (negative: left)")
    shift.add_argument("--y", type=int, required=True, metavar="DY", help="pixels down (negative: up)")
    shift.add_argument("--pad", type=int, default=DEFAULT_PAD, metavar="PX", help=f"grow the hole by PX (default {DEFAULT_PAD})")
    _add_inpaint_options(shift, with_prompt=False)
    shift.add_argument("-o", "--output", type=Path, required=True, metavar="PATH", help="image to write")
    shift.set_defaults(func=run_shift)

    fill = subparsers.add_parser(
        "inpaint",
        help="fill the masked area of an image",
        description="Fill the white area of a mask: Stable Diffusion when installed, else OpenCV.",
    )
    fill.add_argument("--image", type=Path, required=True, metavar="PATH", help="the picture")
    fill.add_argument("--mask", type=Path, required=True, metavar="PATH", help="white (or painted) = area to fill")
    _add_inpaint_options(fill, with_prompt=True)
    fill.add_argument("-o", "--output", type=Path, required=True, metavar="PATH", help="image to write")
    fill.set_defaults(func=run_inpaint)

    remove = subparsers.add_parser(
        "remove",
        help="remove an object and fill where it was",
        description="Remove an object; the hole is filled by inpainting with settings that remove, not replace.",
    )
    remove.add_argument("--image", type=Path, required=True, metavar="PATH", help="the picture")
    _add_selection(remove, allow_mask=True)
    remove.add_argument("--pad", type=int, default=DEFAULT_PAD, metavar="PX", help=f"grow the hole by PX (default {DEFAULT_PAD})")
    _add_inpaint_options(remove, with_prompt=False)
    remove.add_argument("-o", "--output", type=Path, required=True, metavar="PATH", help="image to write")
    remove.set_defaults(func=run_remove)


def _add_selection(parser: argparse.ArgumentParser, allow_mask: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--object", metavar="TEXT", help="describe the object (needs the clipseg model)")
    group.add_argument("--box", metavar="X0,Y0,X1,Y1", help="a box around the object, in pixels (GrabCut)")
    group.add_argument("--points", metavar="X,Y;X,Y", help="clicks on the object, in pixels (GrabCut)")
    if allow_mask:
        group.add_argument("--mask", type=Path, metavar="PATH", help="a mask picture: white = the object")
    parser.add_argument(
        "--threshold", type=float, default=DEFAULT_THRESHOLD, help=f"text match threshold, 0-1 (default {DEFAULT_THRESHOLD})"
    )


def _add_inpaint_options(parser: argparse.ArgumentParser, with_prompt: bool) -> None:
    defaults = InpaintOptions()
    parser.add_argument(
        "--method",
        default="auto",
        help="auto (diffusion if installed, else classical), sd, classical, or a model id (default auto)",
    )
    parser.add_argument(
        "--classical-algorithm", choices=tuple(CLASSICAL_ALGORITHMS), default=DEFAULT_CLASSICAL, help="for the classical method"
    )
    if with_prompt:
        parser.add_argument("--prompt", default="", help="what to paint in the hole (diffusion)")
        parser.add_argument("--negative-prompt", default="", help="what to avoid (diffusion)")
        parser.add_argument("--guidance", type=float, default=defaults.guidance, help=f"default {defaults.guidance}")
        parser.add_argument("--strength", type=float, default=defaults.strength, help=f"0-1 (default {defaults.strength})")
        parser.add_argument("--mask-blur", type=int, default=defaults.mask_blur, metavar="PX", help=f"default {defaults.mask_blur}")
        parser.add_argument("--only-masked", action="store_true", help="paint a padded crop around the mask at full resolution")
        parser.add_argument(
            "--masked-padding", type=int, default=defaults.masked_padding, metavar="PX", help=f"default {defaults.masked_padding}"
        )
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"default {defaults.seed}")
    parser.add_argument("--steps", type=int, default=defaults.steps, help=f"diffusion steps (default {defaults.steps})")


def _options(args: argparse.Namespace) -> InpaintOptions:
    options = InpaintOptions(seed=args.seed, steps=args.steps, classical_algorithm=args.classical_algorithm)
    for name in ("prompt", "negative_prompt", "guidance", "strength", "mask_blur", "only_masked", "masked_padding"):
        if hasattr(args, name):
            setattr(options, name, getattr(args, name))
    return options


def _check_output(path: Path) -> Path:
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise InputError(f"Write the result as {', '.join(IMAGE_EXTENSIONS)}, not {path.name}.")
    return path


def _parse_points(text: str) -> list[tuple[int, int]]:
    points = []
    for part in text.replace(" ", "").split(";"):
        if not part:
            continue
        try:
            x, y = (int(round(float(v))) for v in part.split(","))
        except ValueError:
            raise InputError(f"Points are X,Y pairs separated by ';', such as '120,80;140,90', not {text!r}.") from None
        points.append((x, y))
    return points


def _select(args: argparse.Namespace, image: np.ndarray, strict: bool) -> np.ndarray:
    """The object's mask from whichever selection flag was given.

    With `strict`, a text prompt that matches nothing is an error (moving or removing
    a guess would surprise); `avatar mask` instead writes the best guess and warns.
    """
    if args.box is not None:
        return mask_from_box(image, parse_box(args.box))
    if args.points is not None:
        return mask_from_points(image, _parse_points(args.points))
    if getattr(args, "mask", None) is not None:
        mask, notice = fit_mask(load_mask(args.mask), image)
        if notice:
            print(f"note: {notice}", file=sys.stderr)
        return mask
    selection = mask_from_text(image, args.object, threshold=args.threshold)
    if selection.notice:
        if strict:
            raise InputError(
                f"Nothing in the image matched {selection.prompt!r} (best score {selection.best_score:.2f}, "
                f"threshold {selection.threshold:.2f}); try other words, a lower --threshold, or --box."
            )
        print(f"warning: {selection.notice}", file=sys.stderr)
    return selection.mask


def _print_notices(notices: list[str]) -> None:
    for notice in notices:
        print(f"note: {notice}", file=sys.stderr)


def run_mask(args: argparse.Namespace) -> int:
    output = _check_output(args.output)
    image = load_image(args.image)
    mask = _select(args, image, strict=False)
    overlay_path = output.with_name(f"{output.stem}_overlay.png")
    save_image(output, mask.astype(np.uint8) * 255)
    save_image(overlay_path, mask_overlay(image, mask))
    share = 100.0 * mask.mean()
    print(f"{output}  ({share:.1f}% of the image; overlay: {overlay_path})")
    return 0


def run_shift(args: argparse.Namespace) -> int:
    output = _check_output(args.output)
    image = load_image(args.image)
    mask = _select(args, image, strict=True)
    with progress_bar("shift") as progress:
        result = shift_object(
            image, mask, args.x, args.y, pad=args.pad, method=args.method, options=_options(args), progress=progress
        )
    save_image(output, result.image)
    _print_notices(result.notices)
    print(f"{output}  (moved by {result.dx}, {result.dy}; filled with {result.fill.engine})")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    output = _check_output(args.output)
    image = load_image(args.image)
    mask = _select(args, image, strict=True)
    with progress_bar("remove") as progress:
        result = remove_object(image, mask, pad=args.pad, method=args.method, options=_options(args), progress=progress)
    save_image(output, result.image)
    _print_notices(result.notices)
    print(f"{output}  (filled with {result.fill.engine})")
    return 0


def run_inpaint(args: argparse.Namespace) -> int:
    output = _check_output(args.output)
    image = load_image(args.image)
    mask = load_mask(args.mask)
    with progress_bar("inpaint") as progress:
        result = inpaint(image, mask, method=args.method, options=_options(args), progress=progress)
    save_image(output, result.image)
    _print_notices(result.notices)
    print(f"{output}  (filled with {result.engine} in {result.seconds:.1f} s)")
    return 0
