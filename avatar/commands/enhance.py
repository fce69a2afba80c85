"""`avatar enhance FILE`: restore the face of an image or a video (GFPGAN), optionally sharpen the rest (Real-ESRGAN).

Runs as an `enhance` job of the job service, as the Video Tools page and the API do
(same checks, same folder under outputs/jobs/). The flags come from
`EnhanceOptions`; a missing model stops before any work with its install command
(exit 2, one line).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from avatar.enhance.options import EnhanceOptions, is_image
from avatar.options import add_arguments, args_params


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "enhance", help="restore the face of an image or a video (needs gfpgan-1.4)",
        description="Redraw the face of an image (PNG, JPEG, WebP) or a video with GFPGAN, pasted back with a "
                    "feathered edge; face+background also sharpens the rest with Real-ESRGAN. In a video the face "
                    "is kept steady from frame to frame; frames without a face pass through.")
    parser.add_argument("file", type=Path, metavar="FILE", help="the image or video to enhance")
    add_arguments(parser, EnhanceOptions)
    parser.add_argument("-o", "--output", type=Path,
                        help="where to copy the result (it is always kept with its job under outputs/jobs/)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from avatar.commands.jobs import copy_result, run_job
    
    field = "image" if is_image(args.file.name) else "video"
    finished = run_job("enhance", args_params(EnhanceOptions, args), {field: args.file}, "face enhancement")
    manifest = finished.manifest
    name = manifest["output"]["file"]
    path = copy_result(finished, name, args.output) if args.output is not None else finished.files[name]
    shape = manifest["output"]
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in manifest["timings_s"].items())
    if field == "image":
        found = "face enhanced" if manifest["face_found"] else "no face found: passed through"
        print(f"{path}  ({shape['width']}x{shape['height']}, {found}; {timings})")
    else:
        lost = manifest["enhancement"]["faces_lost"]
        print(f"{path}  ({shape['frames']} frames, {shape['width']}x{shape['height']}; real-time factor "
              f"{manifest['rtf']}; {timings}" + (f"; frames without a face, passed through: {lost}" if lost else "")
              + ")")
    return 0
