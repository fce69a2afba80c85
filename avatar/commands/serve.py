"""`avatar serve`: the HTTP API on uvicorn (jobs run in this process, or on workers when AVATAR_BROKER is set)."""

from __future__ import annotations

import argparse
import os
import sys


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from avatar.service.api import create_app
    from avatar.service.jobs import get_service

    app = create_app(auth=not args.no_auth)  # AvatarError (no keys) -> one line, exit 2
    os.environ.pop("AVATAR_API_KEYS", None)  # the app keeps only their hashes; nothing below needs the keys
    get_service()  # now, not at the first request: jobs left queued by a stopped server start again
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="serve the HTTP API (keys from AVATAR_API_KEYS; docs at /docs)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--no-auth", action="store_true",
                        help="accept requests without a key (only on a machine only you can reach)")
    parser.set_defaults(func=run)


if __name__ == "__main__":
    from avatar.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
