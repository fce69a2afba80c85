"""`avatar <command>`: a thin layer over the library's task functions.

Each command lives in `avatar/commands/<name>.py` and exposes `register(subparsers)`.
Errors meant for the user (`AvatarError`) end in one line on stderr and exit code 2;
argparse's own usage errors also exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from avatar.errors import AvatarError

COMMAND_MODULES = ("talk", "dub", "voices", "models", "generate", "edit", "video", "enhance", "serve", "worker", "jobs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avatar", description="Avatar Studio on the command line.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"avatar.commands.{name}").register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AvatarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
