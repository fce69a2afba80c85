"""`avatar worker`: run jobs from Redis (AVATAR_BROKER) on this machine, one at a time per process.

With `--concurrency 1` (the default, one worker per GPU) the worker uses Celery's
solo pool: the process you start is the one that runs the job. Killing it (even
with -9) kills the job with it, its lease stops, and another worker's reaper puts
the job back in line within seconds. There is no second process whose fate could
differ from the job's (a prefork pool splits the consumer from the job process).
`--concurrency N` (several CPU jobs on a many-core machine) uses a prefork pool of
N processes; each run there holds its own lease too, so a killed child is recovered
the same way.

The worker needs the same outputs folder (AVATAR_OUTPUTS) as the server, on a
shared filesystem when they are on different machines, and the same job database
(AVATAR_DATABASE_URL, e.g. PostgreSQL across machines).
"""

from __future__ import annotations

import argparse
import os
import sys

from avatar.errors import AvatarError, InputError


def parse_queues(text: str) -> list[str]:
    from avatar.service.celery_app import QUEUES

    queues = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown or not queues:
        raise InputError(f"Unknown queue {unknown[0] if unknown else text!r}; use cpu, gpu or cpu,gpu.")
    return list(dict.fromkeys(queues))


def celery_argv(queues: list[str], concurrency: int, name: str, loglevel: str) -> list[str]:
    """The `celery worker` arguments: no gossip, mingle or event heartbeats (nothing here uses them, and mingle
    alone adds seconds to every start)."""
    pool = ["--pool=solo", "--concurrency=1"] if concurrency == 1 else ["--pool=prefork", f"--concurrency={concurrency}"]
    return ["worker", *pool, f"--queues={','.join(queues)}", f"--hostname={name}@%h", f"--loglevel={loglevel}",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]


def _check_job_store() -> None:
    """Open the job database and check every page now: damage is one line at start, not a traceback per job."""
    from avatar.service.store import JobStore
    from avatar.service.store_health import check_integrity

    store = JobStore()
    try:
        check_integrity(store.engine, store.url)
    finally:
        store.engine.dispose()


def run(args: argparse.Namespace) -> int:
    from avatar.service.celery_app import app, broker_url, check_broker, configure, run_lease_s

    url = broker_url()
    run_lease_s()  # a bad AVATAR_RUN_LEASE_S is one line now, not a failure of every job
    queues = parse_queues(args.queues)
    if args.concurrency < 1:
        raise InputError("--concurrency must be 1 or more (1 = one job at a time, one worker per GPU).")
    _check_job_store()
    check_broker(url)
    configure(app, url)
    app.worker_main(celery_argv(queues, args.concurrency, args.name or f"avatar-{os.getpid()}", args.loglevel))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "worker", help="run queued jobs from Redis (needs AVATAR_BROKER)",
        description="Run jobs sent through Redis (AVATAR_BROKER=redis://host:port/db). Start one per GPU; "
                    "all workers and the server must share the outputs folder and the job database.")
    parser.add_argument("--queues", default="cpu,gpu",
                        help="which jobs to take: cpu, gpu or cpu,gpu (default cpu,gpu)")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="jobs at once; 1 (default) runs them in this process, more uses a process pool")
    parser.add_argument("--name", help="worker name, shown in logs and job records (default avatar-<pid>)")
    parser.add_argument("--loglevel", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="log level (default INFO)")
    parser.set_defaults(func=run)


def main(argv: list[str]) -> int:
    """Entry for `python -m avatar.commands.worker` (works before and after the command is listed in the CLI)."""
    parser = argparse.ArgumentParser(prog="avatar")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["worker", *argv])
    try:
        return int(args.func(args) or 0)
    except AvatarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
