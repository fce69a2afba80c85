"""Job folders and their manifests.

Each result lives in `outputs/<job-id>/` (or `outputs/<session>/<job-id>/` for a
browser session, so one user never sees another's files), beside a
`manifest.json` that records inputs (by hash), options, engine, versions and stage
timings: enough to reproduce the result or explain it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from avatar import __version__, config

_SAFE = re.compile(r"[^A-Za-z0-9_-]")
VERSIONED_PACKAGES = ("numpy", "opencv-contrib-python-headless", "av", "piper-tts", "dlib-bin", "torch", "diffusers")


def new_job_dir(kind: str = "job", session: Optional[str] = None) -> Path:
    """Create and return a fresh, unique job folder under the outputs folder."""
    root = config.outputs_dir()
    if session:
        root = root / _SAFE.sub("", session)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = root / f"{stamp}-{_SAFE.sub('', kind)}-{secrets.token_hex(3)}"
    path.mkdir(parents=True, exist_ok=False)
    return path


@contextmanager
def removed_on_failure(job_dir: Path, created: bool, files: Iterable[Path]) -> Iterator[None]:
    """Leave nothing half-made: on any failure inside, a folder made for this job goes, or else the job's own files.

    A folder the caller was given (a job run by the job service) may hold its inputs, so only `files` go from it.
    """
    try:
        yield
    except BaseException:
        if created:
            shutil.rmtree(job_dir, ignore_errors=True)
        else:
            for path in files:
                path.unlink(missing_ok=True)
        raise


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def package_versions(names: tuple[str, ...] = VERSIONED_PACKAGES) -> dict[str, str]:
    versions = {"avatar-studio": __version__, "python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


@dataclass
class StageTimer:
    """Wall-clock seconds per named stage, in the order they ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = round(self.seconds.get(name, 0.0) + seconds, 4)


def write_manifest(job_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write `manifest.json` atomically, adding versions and creation time."""
    manifest = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
        **manifest,
    }
    path = job_dir / "manifest.json"
    tmp = job_dir / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, default=str))
    os.replace(tmp, path)
    return path
