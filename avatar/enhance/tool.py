"""The Enhance tool: an image or a video in, the same with its face restored (and the rest sharpened, if asked).

Images: the largest face dlib finds is enhanced (`image.png`). Videos: every frame
through `StableFaceEnhancer` (faces found per frame, alignment smoothed, change held
within the input's change) at the video's frame rate, its sound kept (`video.mp4`).
A frame without a face passes through and the manifest lists it. Missing models are
named, with their install command, before any work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Optional

from avatar import jobs
from avatar.enhance.enhancer import FaceEnhancer, check_installed
from avatar.enhance.options import EnhanceOptions, is_image
from avatar.enhance.temporal import StableFaceEnhancer
from avatar.errors import InputError
from avatar.options import check
from avatar.progress import Progress, report


@dataclass
class EnhanceResult:
    """Where the enhanced file is, and what the manifest says."""

    output_path: Path
    manifest_path: Path
    job_dir: Path
    manifest: dict[str, Any]


def check_request(options: EnhanceOptions, registry=None) -> None:
    """The options and the models they need, checked before any work (one sentence each)."""
    check(options)
    check_installed(options.background_scale, registry)


def enhance_file(source: Any, options: EnhanceOptions = EnhanceOptions(), *, name: Optional[str] = None,
                 job_dir: Optional[Path] = None, session: Optional[str] = None, registry=None,
                 progress: Optional[Progress] = None) -> EnhanceResult:
    """Enhance an image (PNG, JPEG, WebP) or a video (`source`: a path, or bytes/upload named `name`)."""
    check_request(options, registry)
    name = name or (str(source) if isinstance(source, (str, Path)) else getattr(source, "name", None))
    if not name:
        raise InputError("Name the file to enhance (its extension says whether it is an image or a video).")
    started = time.perf_counter()
    timer = jobs.StageTimer()
    created = job_dir is None
    job_dir = jobs.new_job_dir("enhance", session) if created else Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    output = job_dir / ("image.png" if is_image(name) else "video.mp4")
    manifest_path = job_dir / "manifest.json"
    with jobs.removed_on_failure(job_dir, created, [output, manifest_path]):
        with FaceEnhancer.from_registry(options.background_scale, registry=registry, scale=options.scale) as enhancer:
            if is_image(name):
                entry = _image(source, name, enhancer, output, timer)
            else:
                entry = _video(source, name, enhancer, options, output, timer, progress)
        wall = round(time.perf_counter() - started, 3)
        duration = entry.get("duration_s")
        manifest = {"task": "enhance", "options": {"mode": options.mode, "scale": options.scale,
                                                   "stable": options.stable},
                    **entry, "timings_s": timer.seconds, "wall_s": wall,
                    "rtf": round(wall / duration, 3) if duration else None}
        jobs.write_manifest(job_dir, manifest)
    report(progress, "done", 1.0)
    return EnhanceResult(output_path=output, manifest_path=manifest_path, job_dir=job_dir, manifest=manifest)


def _image(source: Any, name: str, enhancer: FaceEnhancer, output: Path, timer: jobs.StageTimer) -> dict[str, Any]:
    from PIL import Image

    from avatar.media import load_image

    image = load_image(source, name=name)
    with timer.stage("enhancement"):
        done = enhancer.enhance_frames([image])
    Image.fromarray(done.frames[0]).save(output)
    height, width = done.frames[0].shape[:2]
    return {"input": {"name": Path(name).name, "width": image.shape[1], "height": image.shape[0]},
            "output": {"file": output.name, "width": width, "height": height},
            "face_found": bool(done.face_found[0])}


def _video(source: Any, name: str, enhancer: FaceEnhancer, options: EnhanceOptions, output: Path, timer: jobs.StageTimer,
           progress: Optional[Progress]) -> dict[str, Any]:
    from avatar.video.io import open_video
    from avatar.video_writer import BackgroundWriter, Mp4Writer

    stable = StableFaceEnhancer(enhancer, stable=options.stable)
    with open_video(source, name=Path(name).name) as video:
        info = video.info
        width, height = int(info.width * options.scale), int(info.height * options.scale)
        rate = Fraction(info.fps).limit_denominator(1001)
        with BackgroundWriter(Mp4Writer(output, width, height, fps=rate, speech=video.audio())) as writer:
            for index, frame in enumerate(video.frames(), 1):
                with timer.stage("enhancement"):
                    enhanced = stable.process(frame)
                writer.write(enhanced)
                report(progress, f"frame {index}/{info.frames}", 0.99 * index / max(info.frames, 1))
        timer.add("encoding", writer.encode_seconds)
    frames = stable.log.frames
    return {"input": {"name": info.name, "sha256": info.sha256, "width": info.width, "height": info.height},
            "output": {"file": output.name, "width": width, "height": height, "fps": float(rate), "frames": frames},
            "duration_s": round(frames / float(rate), 4), "enhancement": stable.log.entry(),
            "seconds_per_frame": round(timer.seconds.get("enhancement", 0.0) / frames, 3) if frames else None}
