"""A video tool's result in its job folder, or nothing at all.

Every tool writes `video.mp4` and `manifest.json` (inputs' hashes, model id and
revision, options, timings) into the folder it is given: a job's, which the job
service makes and removes (the pages, the API and `avatar video ...` all run the
tools as jobs). `video_job` removes the two files when the tool fails or is
cancelled, so a partial video is never mistaken for a result. A tool called from
Python without a folder gets one from `avatar.jobs.new_job_dir`, removed again on
failure.
"""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from avatar import jobs


@dataclass
class VideoResult:
    """A finished video tool run."""

    video_path: Path
    job_dir: Path
    frames: int
    fps: float
    width: int
    height: int
    method: str  # what made it, e.g. "propagation" or "sd2-inpaint"
    timings: dict[str, float]
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass
class VideoJob:
    """An open job folder: where to write, and the stage timer."""

    kind: str
    folder: Path
    timer: jobs.StageTimer = field(default_factory=jobs.StageTimer)
    started: float = field(default_factory=time.perf_counter)

    @property
    def video_path(self) -> Path:
        return self.folder / "video.mp4"

    def finish(self, *, frames: int, fps: float, width: int, height: int, method: str, options: Any,
               inputs: dict[str, Any], model: Optional[dict[str, Any]] = None) -> VideoResult:
        """Write the manifest and describe the result."""
        manifest = {
            "task": self.kind,
            "inputs": inputs,
            "method": method,
            "model": model,
            "options": asdict(options) if is_dataclass(options) else options,
            "video": {"width": width, "height": height, "fps": fps, "frames": frames},
            "timings_s": self.timer.seconds,
            "wall_s": round(time.perf_counter() - self.started, 3),
        }
        jobs.write_manifest(self.folder, manifest)
        return VideoResult(video_path=self.video_path, job_dir=self.folder, frames=frames, fps=fps, width=width,
                           height=height, method=method, timings=dict(self.timer.seconds), manifest=manifest)


@contextmanager
def video_job(kind: str, session: Optional[str] = None, job_dir: Optional[Path] = None) -> Iterator[VideoJob]:
    """The folder to write into: `job_dir` (a job's, from the job service), else a new one from
    `avatar.jobs.new_job_dir`. If the block fails, the files it wrote go (and a folder made here with them)."""
    created = job_dir is None
    folder = jobs.new_job_dir(kind, session) if created else Path(job_dir)
    # A job's work folder exists already (service/runs.py makes it); a Python caller's may not yet.
    folder.mkdir(exist_ok=True)
    try:
        yield VideoJob(kind=kind, folder=folder)
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for name in ("video.mp4", "manifest.json"):
                (folder / name).unlink(missing_ok=True)
        raise
