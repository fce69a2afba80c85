"""`avatar video text | image | inpaint | upscale`: the video tools on the command line.

Each subcommand runs its tool as a job of the job service, as the Video Tools page
and the API do (same checks, same folder under outputs/jobs/, listed by
`avatar jobs list` and on the History page). Its flags come from the tool's
declared options (avatar/video/options.py); a flag left out takes the declared
default. The video is copied to `-o` when given.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Optional

from avatar.options import OptionSpec, add_arguments, args_params, specs
from avatar.video.options import ImageToVideoOptions, InpaintVideoOptions, TextToVideoOptions, UpscaleOptions


def _spec(cls: type, name: str) -> OptionSpec:
    return next(spec for spec in specs(cls) if spec.name == name)


def register(subparsers: argparse._SubParsersAction) -> None:
    video = subparsers.add_parser(
        "video",
        help="text-to-video, image-to-video, video inpainting and upscaling",
        description="The video tools: generate, fill a region of, or upscale a video. Each run is a job "
                    "(`avatar jobs list` shows it).",
    )
    tools = video.add_subparsers(dest="tool", metavar="TOOL", required=True)

    text = tools.add_parser("text", help="a short clip from a prompt (needs text2video-ms)")
    text.add_argument("--prompt", required=True, help=_spec(TextToVideoOptions, "prompt").help)
    add_arguments(text, TextToVideoOptions, skip=("prompt",))
    _add_output(text)
    text.set_defaults(func=run_text)

    image = tools.add_parser("image", help="a short clip from a still (needs svd-xt)")
    image.add_argument("--image", type=Path, required=True, metavar="PATH", help="the still to set in motion")
    add_arguments(image, ImageToVideoOptions)
    _add_output(image)
    image.set_defaults(func=run_image)

    inpaint = tools.add_parser("inpaint", help="fill a region of a video (a logo, a timestamp, an object)")
    inpaint.add_argument("--video", type=Path, required=True, metavar="PATH")
    region = inpaint.add_mutually_exclusive_group(required=True)
    region.add_argument("--mask", type=Path, metavar="PATH", help="a still mask: white = fill, the video's size")
    box, text_mask = _spec(InpaintVideoOptions, "box"), _spec(InpaintVideoOptions, "mask_prompt")
    region.add_argument(box.cli_flag, dest="box", metavar="X0,Y0,X1,Y1", help=box.help)
    region.add_argument(text_mask.cli_flag, dest="mask_prompt", metavar="TEXT", help=text_mask.help)
    add_arguments(inpaint, InpaintVideoOptions, skip=("box", "mask_prompt"))
    _add_output(inpaint)
    inpaint.set_defaults(func=run_inpaint)

    upscale = tools.add_parser("upscale", help="SD to HD: the same video at 720p or 1080p")
    upscale.add_argument("--video", type=Path, required=True, metavar="PATH")
    add_arguments(upscale, UpscaleOptions)
    _add_output(upscale)
    upscale.set_defaults(func=run_upscale)


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path,
                        help="where to copy the MP4 (it is always kept with its job under outputs/jobs/)")


def _run(kind: str, params: dict[str, Any], files: dict[str, Optional[Path]], label: str,
         output: Optional[Path]) -> int:
    """Run the tool's job to its end; copy its video to `output`; print where it is and what it is."""
    from avatar.commands.jobs import copy_result, run_job

    finished = run_job(kind, params, {field: path for field, path in files.items() if path is not None}, label)
    video = copy_result(finished, "video.mp4", output) if output is not None else finished.files["video.mp4"]
    manifest = finished.manifest
    shape = manifest["video"]
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in manifest["timings_s"].items())
    print(f"{video}  ({shape['frames']} frames, {shape['width']}x{shape['height']} at {shape['fps']:g} fps, "
          f"{manifest['method']}; {timings})")
    return 0


def run_text(args: argparse.Namespace) -> int:
    params = {"prompt": args.prompt, **args_params(TextToVideoOptions, args)}
    return _run("text_to_video", params, {}, "text to video", args.output)


def run_image(args: argparse.Namespace) -> int:
    return _run("image_to_video", args_params(ImageToVideoOptions, args), {"image": args.image}, "image to video",
                args.output)


def run_inpaint(args: argparse.Namespace) -> int:
    from avatar.edit.masks import parse_box

    # The box is read as typed ("X0,Y0,X1,Y1"), with its own sentence when it is not four numbers.
    params = args_params(InpaintVideoOptions, argparse.Namespace(**{**vars(args), "box": None}))
    if args.box:
        params["box"] = list(parse_box(args.box))
    return _run("video_inpaint", params, {"video": args.video, "mask": args.mask}, "video inpainting", args.output)


def run_upscale(args: argparse.Namespace) -> int:
    return _run("upscale", args_params(UpscaleOptions, args), {"video": args.video}, "upscaling", args.output)
