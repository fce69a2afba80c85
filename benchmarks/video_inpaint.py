"""Video inpainting by propagation: speed at 480p and the peak memory of a 60 s job.

`python -m benchmarks.video_inpaint` prints frames per second of the propagation
alone (a textured pan behind a 200x120 box, no decoding or encoding), then writes
a 60 s 480p clip at 30 fps and runs the whole tool (decode, fill, encode, sound)
on it in a fresh process, whose peak resident memory it reports.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from avatar.video.propagate import Propagator

BOX = (327, 180, 527, 300)  # 200x120 in the middle of an 854x480 frame


def _texture(height: int, width: int) -> np.ndarray:
    noise = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


def panning_frames(width: int, height: int, frames: int, step: int = 2) -> Iterator[np.ndarray]:
    """A textured background moving `step` px left per frame (made lazily: one frame at a time)."""
    wide = _texture(height, width + step * frames)
    for index in range(frames):
        yield np.ascontiguousarray(wide[:, step * index : step * index + width])


def _hole(width: int, height: int) -> np.ndarray:
    scale = width / 854
    x0, y0, x1, y1 = (round(v * scale) for v in BOX)
    hole = np.zeros((height, width), bool)
    hole[y0:y1, x0:x1] = True
    return hole


def propagation_fps(width: int = 854, height: int = 480, frames: int = 50) -> float:
    """Frames per second of `Propagator` alone on a panning clip with a box hole."""
    hole = _hole(width, height)
    clip = list(panning_frames(width, height, frames))
    start = time.perf_counter()
    count = sum(1 for _ in Propagator().run((frame, hole) for frame in clip))
    return count / (time.perf_counter() - start)


def write_clip(path: Path, width: int = 854, height: int = 480, seconds: float = 60.0, fps: int = 30) -> Path:
    from avatar.speech.timeline import Speech
    from avatar.video_writer import Mp4Writer

    t = np.arange(int(seconds * 16000)) / 16000
    speech = Speech(samples=(0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sample_rate=16000)
    with Mp4Writer(path, width, height, fps=fps, speech=speech) as writer:
        for frame in panning_frames(width, height, int(seconds * fps), step=1):
            writer.write(frame)
    return path


def run_job(path: Path) -> dict:
    """Run the whole tool on `path` in this process; return time and peak memory."""
    from avatar.video.inpaint import inpaint_video

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = inpaint_video(path, box=BOX, method="propagation", job_dir=Path(out) / "job")
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"frames": result.frames, "seconds": round(seconds, 1), "fps": round(result.frames / seconds, 1),
            "peak_mb": round(peak_kb / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--job", type=Path, help=argparse.SUPPRESS)  # the fresh process's half
    args = parser.parse_args()
    if args.job:
        print(json.dumps(run_job(args.job)))
        return
    print(f"propagation alone, 854x480, 200x120 box: {propagation_fps():.1f} frames/s")
    with tempfile.TemporaryDirectory() as folder:
        clip = write_clip(Path(folder) / "clip.mp4")
        child = subprocess.run([sys.executable, "-m", "benchmarks.video_inpaint", "--job", str(clip)],
                               capture_output=True, text=True, check=True)
        job = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"whole job, 60 s 854x480 at 30 fps ({job['frames']} frames): {job['seconds']} s, {job['fps']} frames/s, "
          f"peak memory {job['peak_mb']} MB")


if __name__ == "__main__":
    main()
