"""Speed and memory of the classical video tools: `python -m benchmarks.video`.

Frames per second of video inpainting by propagation (a fixed box over a panning
textured 480p clip) and of the classical upscaler (480p -> 1080p), each as a
whole job (decoding, work, encoding), median of --runs; and the peak resident
memory of each tool on a 60 s 480p clip, each in a fresh process (frames are
streamed, so it should not grow with length).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, FPS = 854, 480, 25
BOX = (380, 200, 480, 260)


def make_clip(path: Path, seconds: float) -> Path:
    """A textured background panning right, with a little noise: something real to fill and sharpen."""
    from avatar.video_writer import Mp4Writer

    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (HEIGHT // 8, (WIDTH + 4 * int(seconds * FPS)) // 8 + 2, 3), dtype=np.uint8)
    import cv2

    texture = cv2.resize(cv2.GaussianBlur(texture, (0, 0), 1.0), None, fx=8, fy=8, interpolation=cv2.INTER_CUBIC)
    with Mp4Writer(path, WIDTH, HEIGHT, FPS) as writer:
        for i in range(int(seconds * FPS)):
            writer.write(np.ascontiguousarray(texture[:HEIGHT, 4 * i : 4 * i + WIDTH]))
    return path


def run_tool(tool: str, clip: Path, out: Path) -> float:
    """Wall-clock seconds of one whole job."""
    start = time.perf_counter()
    if tool == "inpaint":
        from avatar.video.inpaint import inpaint_video

        inpaint_video(clip, box=BOX, method="propagation", job_dir=out)
    else:
        from avatar.video.upscale import upscale_video

        upscale_video(clip, target_height=1080, method="lanczos", job_dir=out)
    return time.perf_counter() - start


def peak_mb(tool: str, seconds: float) -> float:
    """Peak resident memory of a fresh process running `tool` on a clip of `seconds`."""
    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "clip.mp4", seconds)
        process = subprocess.Popen([sys.executable, "-m", "benchmarks.video", "--one", tool, str(clip)],
                                   stdout=subprocess.DEVNULL, env={**os.environ, "AVATAR_OUTPUTS": folder})
        _, status, usage = os.wait4(process.pid, 0)
        if status:
            raise RuntimeError(f"{tool} failed on the {seconds:g} s clip")
        return usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the clip for peak memory")
    parser.add_argument("--one", nargs=2, metavar=("TOOL", "CLIP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        tool, clip = args.one
        with tempfile.TemporaryDirectory() as out:
            print(json.dumps({"seconds": run_tool(tool, Path(clip), Path(out) / "job")}))
        return

    frames = 50
    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "clip.mp4", frames / FPS)
        rows = []
        for tool, name in (("inpaint", "inpainting by propagation, 480p"), ("upscale", "Lanczos + unsharp, 480p -> 1080p")):
            seconds = [run_tool(tool, clip, Path(folder) / f"{tool}{run}") for run in range(args.runs)]
            rows.append((name, frames / statistics.median(seconds), peak_mb(tool, args.seconds)))
    print(f"classical video tools on this CPU: {frames}-frame clip, median of {args.runs}; "
          f"peak memory on a {args.seconds:g} s 480p clip, fresh process\n")
    print("| tool | frames/s | peak MB |")
    print("|---|---|---|")
    for name, fps, peak in rows:
        print(f"| {name} | {fps:.1f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
