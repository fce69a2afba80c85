"""`avatar serve`: the HTTP API on uvicorn (jobs run in this process, or on workers when AVATAR_BROKER is set)."""

from __future__ import annotations

import argparse
import os
import sys

PROXY_HELP = """\
limits (environment variables):
  AVATAR_MAX_UPLOAD_MB      largest submission body (default 200)
  AVATAR_MAX_UPLOADS        bodies received at once (default 8); another waits up to
                            AVATAR_UPLOAD_WAIT_S (default 10), then gets 503
  AVATAR_BODY_TIMEOUT_S     longest pause while a body arrives, then 408 (default 30)
  AVATAR_HEADER_TIMEOUT_S   time for a request's header, then 408 and closed (default 10)
  AVATAR_MAX_CONNECTIONS    open connections; the oldest still sending its header makes
                            room for a new one (default 1000, kept below the open-file limit)
  AVATAR_MIN_FREE_MB        free disk below which submissions get 507 (default 100)

on the internet, put it behind a reverse proxy that terminates TLS, e.g. nginx:
  server {
      client_max_body_size 200m;                   # = AVATAR_MAX_UPLOAD_MB
      client_header_timeout 10s;  client_body_timeout 30s;
      location / { proxy_pass http://127.0.0.1:8000;  proxy_request_buffering off; }
      location ~ ^/v1/jobs/[^/]+/events$ {         # server-sent events
          proxy_pass http://127.0.0.1:8000;  proxy_buffering off;  proxy_read_timeout 1h;
      }
  }
or Caddy:  reverse_proxy 127.0.0.1:8000 { flush_interval -1 }  with request_body { max_size 200MB }
(README, "Jobs and the HTTP API", has the full snippets)."""


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from avatar.service.api import create_app
    from avatar.service.jobs import get_service
    from avatar.service.runs import jobs_root
    from avatar.service.transport import ConnectionLimits, guarded_protocol, raise_open_file_limit
    from avatar.service.uploads import sweep_spool

    app = create_app(auth=not args.no_auth)  # AvatarError (no keys) -> one line, exit 2
    os.environ.pop("AVATAR_API_KEYS", None)  # the app keeps only their hashes; nothing below needs the keys
    service = get_service()  # now, not at the first request: jobs left queued by a stopped server start again
    sweep_spool(service.root or jobs_root())  # uploads a killed server was receiving
    limits = ConnectionLimits.from_env(raise_open_file_limit())
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", http=guarded_protocol(limits),
                            timeout_keep_alive=limits.keep_alive_s)
    uvicorn.Server(config).run()
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="serve the HTTP API (keys from AVATAR_API_KEYS; docs at /docs)",
                                   epilog=PROXY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--no-auth", action="store_true",
                        help="accept requests without a key (only on a machine only you can reach)")
    parser.set_defaults(func=run)


if __name__ == "__main__":
    from avatar.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
