"""`avatar jobs ...`: the job interface on the command line (submit, list, show, wait, cancel, delete, download).

These are the same jobs as the pages' and the API's, in the same store. Jobs made
here belong to the owner "local" (as with `avatar serve --no-auth`); `--key KEY`
acts as an API key's owner instead, and `--all` looks at every owner's jobs (the
command reads the job database directly, so it is for whoever runs the studio).

Without AVATAR_BROKER a job runs inside the process that submitted it, so `submit`
waits for it; with a broker, workers run it and `submit --no-wait` returns at once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from avatar.errors import AvatarError, InputError

POLL_S = 0.05
"""How often a command reads its job's record while it follows it (a SQLite read is cheap; the end is seen soon)."""


def _service():
    from avatar.service.jobs import get_service

    return get_service(resume=False)  # a command must not take (and die with) the jobs a server has queued


def _owner(args: argparse.Namespace) -> str:
    from avatar.service.keys import LOCAL_OWNER, hashes_from_env, key_owner

    if not args.key:
        return LOCAL_OWNER
    owner = key_owner(args.key, hashes_from_env())
    if owner is None:
        raise InputError("That is not one of the keys in AVATAR_API_KEYS; check the key, or leave out --key.")
    return owner


def _find(args: argparse.Namespace, job_id: str):
    """The job and its owner: the caller's own job, or any owner's with --all; InputError when there is none."""
    service = _service()
    job = service.store.get(job_id) if args.all and job_id.isalnum() else service.get(_owner(args), job_id)
    if job is None:
        raise InputError(f"There is no job {job_id!r}" + ("" if args.all else " of yours")
                         + "; `avatar jobs list` shows the ids.")
    return service, job


def parse_params(pairs: list[str], as_json: Optional[str]) -> dict[str, Any]:
    """--params-json first, then each --param name=value; a value is read as JSON when it is JSON (5, true, [1, 2],
    "text"), as text otherwise."""
    params: dict[str, Any] = {}
    if as_json:
        try:
            params = json.loads(as_json)
        except json.JSONDecodeError:
            raise InputError("--params-json is not valid JSON; give one object, e.g. '{\"text\": \"Hello\"}'.") from None
        if not isinstance(params, dict):
            raise InputError("--params-json must be one JSON object, e.g. '{\"text\": \"Hello\"}'.")
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--param {pair!r} is not name=value; e.g. --param text=Hello --param size=256.")
        try:
            params[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[name.strip()] = value
    return params


def read_files(pairs: list[str]) -> tuple[dict[str, Path], dict[str, str]]:
    """--file field=path pairs: the files and their names, by field (the job copies them; none is read into
    memory here)."""
    files, names = {}, {}
    for pair in pairs:
        field, sep, path = pair.partition("=")
        if not sep or not field.strip() or not path:
            raise InputError(f"--file {pair!r} is not field=path; e.g. --file portrait=me.jpg.")
        files[field.strip()], names[field.strip()] = _input_file(Path(path), field)
    return files, names


def _input_file(path: Path, called: str) -> tuple[Path, str]:
    """A file given on the command line, as a job input: the file and its name; one sentence when it is not one."""
    if not path.is_file():
        raise InputError(f"{path} is not a file; check the path given for {called}.")
    return path, path.name


def _follow(service, job, label: Optional[str] = None) -> Any:
    """Draw the job's progress until it ends; the finished record."""
    from avatar.commands.progress_bar import progress_bar

    with progress_bar(label or f"{job.kind} {job.id[:8]}") as report:
        while not job.finished_state:
            if job.status == "queued":
                place = service.place_in_line(job)
                report(f"queued, number {place} in line" if place else "queued", 0.0)
            else:
                report(job.stage or "running", job.progress)
            time.sleep(POLL_S)
            job = service.store.get(job.id)
            if job is None:
                raise AvatarError("The job was deleted while it ran.")
    return job


def _wait(service, job, output: Optional[str]) -> int:
    """Follow the job to its end; print its results (copied into `output` if given) or raise its message."""
    _print_results(service, _to_end(service, job), output)
    return 0


def _to_end(service, job, label: Optional[str] = None) -> Any:
    """Follow the job until it is done (its record) or raise its one sentence (failed, cancelled, interrupted)."""
    try:
        job = _follow(service, job, label)
    except KeyboardInterrupt:
        if not os.environ.get("AVATAR_BROKER"):  # its thread dies with this process: stop it cleanly instead
            service.cancel(job.owner, job.id)
            raise AvatarError(f"Interrupted; job {job.id} was cancelled (it runs in this process).") from None
        raise AvatarError(f"Stopped waiting; job {job.id} goes on: `avatar jobs wait {job.id}`.") from None
    if job.status == "failed":
        raise AvatarError(job.message)
    if job.status == "cancelled":
        raise AvatarError(f"Job {job.id} was cancelled.")
    return job


def _print_results(service, job, output: Optional[str]) -> None:
    paths = [service.result_file(job.owner, job.id, name) for name in job.results]
    if output:
        folder = Path(output)
        folder.mkdir(parents=True, exist_ok=True)
        paths = [Path(shutil.copy2(path, folder / path.name)) for path in paths if path is not None]
    print(f"job {job.id} done in {job.finished - job.created:.1f} s:")
    for path in paths:
        print(f"  {path}")


@dataclass
class FinishedJob:
    """A job a command ran to its end: its record and its result files by name."""

    job: Any
    files: dict[str, Path]
    manifest: dict[str, Any]


def run_job(kind: str, params: dict[str, Any], files: dict[str, Path], label: Optional[str] = None) -> FinishedJob:
    """Run one job the way a page or the API does (same checks, same folder under outputs/jobs/, on History and in
    `avatar jobs list`), following it with a progress bar; its failure is raised as its one sentence.

    Task commands (`avatar talk`, `avatar shift`, `avatar video ...`) are this plus their own flags and output copy.
    """
    from avatar.service.keys import LOCAL_OWNER

    read = {field: _input_file(Path(path), field.replace("_", " ")) for field, path in files.items()}
    service = _service()
    job = service.submit(LOCAL_OWNER, kind, params, {f: data for f, (data, _) in read.items()},
                         {f: name for f, (_, name) in read.items()})
    job = _to_end(service, job, label or kind)
    results = {name: service.result_file(job.owner, job.id, name) for name in job.results}
    found = {name: path for name, path in results.items() if path is not None}
    manifest = json.loads(found["manifest.json"].read_text()) if "manifest.json" in found else {}
    return FinishedJob(job=job, files=found, manifest=manifest)


def copy_result(finished: FinishedJob, name: str, output: Path) -> Path:
    """Copy one result file to where the user asked for it (folders made as needed)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(finished.files[name], output))


def _submit(args: argparse.Namespace) -> int:
    service = _service()
    job = service.submit(_owner(args), args.kind, parse_params(args.param, args.params_json), *read_files(args.file))
    print(f"job {job.id} ({job.kind}, {job.queue} queue)")
    if args.no_wait:
        if not os.environ.get("AVATAR_BROKER"):
            print("It runs in this process without AVATAR_BROKER, so this command waits for it.")
        else:
            return 0
    return _wait(service, job, args.output)


LIST_PAGE = 500
"""Records read at a time when `avatar jobs list --limit 0` prints every job (memory stays flat at any count)."""


def _list(args: argparse.Namespace) -> int:
    """The jobs, newest first: `--limit` of them (0: every one), from `--before` on; when older ones remain, a last
    line gives the command that lists them."""
    from avatar.service.store import STATES, Cursor

    if args.status and args.status not in STATES:
        raise InputError(f"Unknown status {args.status!r}; use one of: {', '.join(STATES)}.")
    if args.limit < 0:
        raise InputError(f"--limit must be 0 (every job) or more, not {args.limit}.")
    service = _service()
    owner = None if args.all else _owner(args)
    before = Cursor.parse(args.before) if args.before else None
    shown, wanted = 0, args.limit or None
    while wanted is None or shown < wanted:
        size = LIST_PAGE if wanted is None else min(LIST_PAGE, wanted - shown)
        page = service.store.list(owner, size, args.status, before=before)
        if not page:
            break
        if not shown:
            print(f"{'id':32}  {'kind':14} {'status':9} {'progress':24} {'created':19}  what")
        for job in page:
            _print_job(service, job, args.all)
        shown, before = shown + len(page), page[-1].cursor
        if len(page) < size:
            before = None
            break
    if not shown:
        print("No older jobs." if args.before else "No jobs.")
    elif before is not None and service.store.list(owner, 1, args.status, before=before):
        again = " ".join(["avatar jobs list", *(["--status", args.status] if args.status else []),
                          *(["--all"] if args.all else []), f"--limit {args.limit}", f"--before {before}"])
        print(f"Older jobs: {again}")
    return 0


def _print_job(service, job, with_owner: bool) -> None:
    from avatar.service.kinds import KINDS

    state = (f"{100 * job.progress:3.0f}% {job.stage}" if job.status == "running" else
             f"number {service.place_in_line(job)} in line" if job.status == "queued" else "")
    what = KINDS[job.kind].describe(job.params) if job.kind in KINDS else ""
    created = datetime.fromtimestamp(job.created).strftime("%Y-%m-%d %H:%M:%S")
    print(f"{job.id:32}  {job.kind:14} {job.status:9} {state[:24]:24} {created}  "
          + (f"[{job.owner}] " if with_owner else "") + what)


def _show(args: argparse.Namespace) -> int:
    service, job = _find(args, args.id)
    record = asdict(job)  # all of it: the owner, the worker and the attempts too (this is the studio's own machine)
    record["place_in_line"] = service.place_in_line(job)
    record["results"] = {name: str(service.result_file(job.owner, job.id, name)) for name in job.results}
    print(json.dumps(record, indent=2))
    return 0


def _wait_command(args: argparse.Namespace) -> int:
    service, job = _find(args, args.id)
    return _wait(service, job, args.output)


def _cancel(args: argparse.Namespace) -> int:
    service, job = _find(args, args.id)
    if job.finished_state:
        raise InputError(f"Job {job.id} has already ended ({job.status}); `avatar jobs delete` removes it.")
    service.cancel(job.owner, job.id)
    print(f"job {job.id} cancelled")
    return 0


def _delete(args: argparse.Namespace) -> int:
    service, job = _find(args, args.id)
    service.delete(job.owner, job.id)
    print(f"job {job.id} deleted, with its files")
    return 0


def _download(args: argparse.Namespace) -> int:
    service, job = _find(args, args.id)
    if job.status != "done":
        raise InputError(f"Job {job.id} has no results: it is {job.status}"
                         + (f" ({job.message})" if job.message else "") + ".")
    _print_results(service, job, args.output or ".")
    return 0


def register(subparsers) -> None:
    from avatar.service.kinds import KINDS

    parser = subparsers.add_parser(
        "jobs", help="submit and follow jobs (the same jobs as the pages and the HTTP API)",
        description="The studio's jobs: submit one, list them, follow, cancel, delete or download their results.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, func, help_text: str, with_id: bool = True, any_owner: bool = True) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        if with_id:
            sub.add_argument("id", help="the job id (`avatar jobs list` shows them)")
        sub.add_argument("--key", help="act as this API key's owner (one of AVATAR_API_KEYS) instead of 'local'")
        if any_owner:
            sub.add_argument("--all", action="store_true", help="any owner's jobs (for whoever runs the studio)")
        sub.set_defaults(func=func)
        return sub

    submit = action("submit", _submit, "submit a job and wait for its results", with_id=False, any_owner=False)
    submit.add_argument("kind", choices=list(KINDS), help="what to make")
    submit.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter (repeat); JSON values are read as such: size=256, still=true")
    submit.add_argument("--params-json", metavar="JSON", help="all parameters as one JSON object")
    submit.add_argument("--file", action="append", default=[], metavar="FIELD=PATH",
                        help="an input file under the kind's field name (repeat), e.g. portrait=me.jpg")
    submit.add_argument("--no-wait", action="store_true", help="return once queued (workers only: AVATAR_BROKER)")
    submit.add_argument("-o", "--output", help="copy the results into this folder")
    listing = action("list", _list, "list jobs, newest first", with_id=False)
    listing.add_argument("--status", help="only jobs in this state (queued, running, done, failed, cancelled)")
    listing.add_argument("--limit", type=int, default=50, help="at most this many, newest first (default 50; 0 lists "
                         "every job); a last line gives the command for the older ones")
    listing.add_argument("--before", metavar="CURSOR", help="only jobs older than this place (the last line of a "
                         "listing gives it)")
    action("show", _show, "one job's record and result paths, as JSON")
    action("wait", _wait_command, "follow a job to its end").add_argument(
        "-o", "--output", help="copy the results into this folder")
    action("cancel", _cancel, "cancel a queued or running job")
    action("delete", _delete, "forget a job and remove its files")
    action("download", _download, "copy a finished job's results into a folder").add_argument(
        "-o", "--output", help="the folder (default: the current one)")
    from avatar.commands.jobs_repair import register_repair

    register_repair(actions)
