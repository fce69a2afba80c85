"""`avatar generate-avatar --prompt P [--seed N] -o face.png`: a portrait from a prompt.

A `portrait` job of the same service as the page and the API (listed by `avatar
jobs list` and on History); its flags come from `PortraitOptions`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from avatar.errors import InputError
from avatar.portrait.options import PortraitOptions


def _run(args: argparse.Namespace) -> int:
    from avatar.commands.edit import save_result
    from avatar.commands.jobs import run_job
    from avatar.options import args_params

    output = Path(args.output)
    if output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise InputError(f"{output} must end in .png or .jpg.")
    if not output.parent.exists():
        raise InputError(f"The folder {output.parent} does not exist; create it or choose another output path.")
    finished = run_job("portrait", args_params(PortraitOptions, args), {}, label="generating portrait")
    save_result(finished.files["portrait.png"], output)
    made = finished.manifest
    print(f"wrote {output} (seed {made['seed']}, attempt {made['attempts']} of {made['options']['max_attempts']})")
    return 0


def register(subparsers) -> None:
    from avatar.options import add_arguments

    parser = subparsers.add_parser("generate-avatar", help="generate a portrait with a face from a text prompt")
    add_arguments(parser, PortraitOptions)
    for action in parser._actions:
        if action.dest == "prompt":
            action.required = True
    parser.add_argument("-o", "--output", required=True, help="where to write the portrait (.png or .jpg)")
    parser.set_defaults(func=_run)
