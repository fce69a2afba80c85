"""`avatar video text | image | inpaint | upscale`: the video tools on the command line.

Each subcommand is the Video Tools page's function with flags. The result is kept
in its job folder under outputs/ and copied to `-o` when given.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from avatar.commands.progress_bar import progress_bar


def register(subparsers: argparse._SubParsersAction) -> None:
    video = subparsers.add_parser(
        "video",
        help="text-to-video, image-to-video, video inpainting and upscaling",
        description="The video tools: generate, fill a region of, or upscale a video.",
    )
    tools = video.add_subparsers(dest="tool", metavar="TOOL", required=True)

    text = tools.add_parser("text", help="a short clip from a prompt (needs text2video-ms)")
    text.add_argument("--prompt", required=True)
    text.add_argument("--negative-prompt", default="")
    text.add_argument("--frames", type=int, default=16, help="8-64 (default 16)")
    text.add_argument("--steps", type=int, default=25)
    text.add_argument("--guidance", type=float, default=9.0)
    text.add_argument("--seed", type=int, default=0)
    text.add_argument("--width", type=int, default=256)
    text.add_argument("--height", type=int, default=256)
    text.add_argument("--fps", type=int, default=8)
    _add_output(text)
    text.set_defaults(func=run_text)

    image = tools.add_parser("image", help="a short clip from a still (needs svd-xt)")
    image.add_argument("--image", type=Path, required=True, metavar="PATH")
    image.add_argument("--frames", type=int, choices=(14, 25), default=14)
    image.add_argument("--motion-bucket", type=int, default=127, help="how much motion, 1-255 (default 127)")
    image.add_argument("--noise-aug", type=float, default=0.02, help="noise added to the still (default 0.02)")
    image.add_argument("--fps", type=int, default=7)
    image.add_argument("--seed", type=int, default=0)
    image.add_argument("--steps", type=int, default=25)
    image.add_argument("--decode-chunk-size", type=int, default=8, help="frames decoded at once (lower fits smaller GPUs)")
    image.add_argument("--orientation", choices=("landscape", "portrait"), default="landscape",
                       help="1024x576 or 576x1024")
    image.add_argument("--fit", choices=("crop", "pad"), default="crop", help="centre-crop or pad to the model's size")
    _add_output(image)
    image.set_defaults(func=run_image)

    inpaint = tools.add_parser("inpaint", help="fill a region of a video (a logo, a timestamp, an object)")
    inpaint.add_argument("--video", type=Path, required=True, metavar="PATH")
    region = inpaint.add_mutually_exclusive_group(required=True)
    region.add_argument("--mask", type=Path, metavar="PATH", help="a still mask: white = fill, the video's size")
    region.add_argument("--box", metavar="X0,Y0,X1,Y1", help="a box to fill, in pixels")
    region.add_argument("--object", metavar="TEXT", help="describe what to fill, masked per frame (needs clipseg)")
    inpaint.add_argument("--method", default="auto",
                         help="auto, propagation (no model), sd2-inpaint or dreamshaper8-inpaint (default auto)")
    inpaint.add_argument("--prompt", default="", help="what to paint in (diffusion methods)")
    inpaint.add_argument("--seed", type=int, default=0)
    inpaint.add_argument("--steps", type=int, default=25)
    inpaint.add_argument("--guidance", type=float, default=7.5)
    inpaint.add_argument("--strength", type=float, default=1.0)
    _add_output(inpaint)
    inpaint.set_defaults(func=run_inpaint)

    upscale = tools.add_parser("upscale", help="SD to HD: the same video at 720p or 1080p")
    upscale.add_argument("--video", type=Path, required=True, metavar="PATH")
    upscale.add_argument("--height", type=int, default=720, help="target height (default 720)")
    upscale.add_argument("--method", default="auto", help="auto, lanczos (no model) or sd-x4-upscaler (default auto)")
    upscale.add_argument("--noise-level", type=int, default=20, help="sd-x4-upscaler noise level (default 20)")
    upscale.add_argument("--seed", type=int, default=0)
    upscale.add_argument("--steps", type=int, default=20)
    _add_output(upscale)
    upscale.set_defaults(func=run_upscale)


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", type=Path, help="where to copy the MP4 (it is always kept in outputs/)")


def _report(result, output: Path | None) -> int:
    video = result.video_path
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        video = Path(shutil.copyfile(result.video_path, output))
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    print(f"{video}  ({result.frames} frames, {result.width}x{result.height} at {result.fps:g} fps, "
          f"{result.method}; {timings})")
    return 0


def run_text(args: argparse.Namespace) -> int:
    from avatar.video.generate import text_to_video

    with progress_bar("text to video") as progress:
        result = text_to_video(args.prompt, negative_prompt=args.negative_prompt, frames=args.frames, steps=args.steps,
                               guidance=args.guidance, seed=args.seed, width=args.width, height=args.height,
                               fps=args.fps, progress=progress)
    return _report(result, args.output)


def run_image(args: argparse.Namespace) -> int:
    from avatar.video.generate import image_to_video

    with progress_bar("image to video") as progress:
        result = image_to_video(args.image, frames=args.frames, motion_bucket=args.motion_bucket,
                                noise_aug=args.noise_aug, fps=args.fps, seed=args.seed, steps=args.steps,
                                decode_chunk_size=args.decode_chunk_size, orientation=args.orientation, fit=args.fit,
                                progress=progress)
    return _report(result, args.output)


def run_inpaint(args: argparse.Namespace) -> int:
    from avatar.edit.masks import parse_box
    from avatar.video.inpaint import inpaint_video

    with progress_bar("video inpainting") as progress:
        result = inpaint_video(args.video, mask=args.mask, box=parse_box(args.box) if args.box else None,
                               mask_prompt=args.object, prompt=args.prompt, method=args.method, seed=args.seed,
                               steps=args.steps, guidance=args.guidance, strength=args.strength, progress=progress)
    return _report(result, args.output)


def run_upscale(args: argparse.Namespace) -> int:
    from avatar.video.upscale import upscale_video

    with progress_bar("upscaling") as progress:
        result = upscale_video(args.video, target_height=args.height, method=args.method, noise_level=args.noise_level,
                               seed=args.seed, steps=args.steps, progress=progress)
    return _report(result, args.output)
