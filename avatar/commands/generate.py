"""`avatar generate-avatar --prompt P [--seed N] -o face.png`: a portrait from a prompt."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from PIL import Image

from avatar.commands.progress_bar import progress_bar
from avatar.errors import InputError
from avatar.generate import MODEL_ID, generate_portrait
from avatar.models.registry import get_registry


def _run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise InputError(f"{output} must end in .png or .jpg.")
    if not output.parent.exists():
        raise InputError(f"The folder {output.parent} does not exist; create it or choose another output path.")
    get_registry().require(MODEL_ID)  # say how to install it before drawing a bar
    with progress_bar("generating portrait") as progress:
        portrait = generate_portrait(
            args.prompt,
            negative_prompt=args.negative_prompt,
            seed=args.seed,
            steps=args.steps,
            guidance=args.guidance,
            size=args.size,
            max_attempts=args.attempts,
            progress=progress,
        )
    partial = output.with_name(f".{output.stem}.partial{output.suffix}")
    Image.fromarray(portrait.image).save(partial)
    os.replace(partial, output)
    print(f"wrote {output} (seed {portrait.seed}, attempt {portrait.attempts} of {args.attempts})")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("generate-avatar", help="generate a portrait with a face from a text prompt")
    parser.add_argument("--prompt", required=True, help="what the portrait shows")
    parser.add_argument("--negative-prompt", default="", help="what it should not show")
    parser.add_argument("--seed", type=int, default=0, help="first seed; later attempts use seed+1, seed+2, ...")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--size", type=int, default=512, help="width and height in pixels (multiple of 8)")
    parser.add_argument("--attempts", type=int, default=4, help="seeds to try until a face is found")
    parser.add_argument("-o", "--output", required=True, help="where to write the portrait (.png or .jpg)")
    parser.set_defaults(func=_run)
