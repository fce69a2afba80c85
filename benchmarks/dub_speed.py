"""Speed and memory of dubbing a 720p video: `python -m benchmarks.dub_speed`.

A real talking clip (default: woman_glasses from `../shared/fixtures/real_talk/`)
is scaled to 720 px high, widened to 1280x720 (its edges repeated), and played
forward and back (no cut at the seams) to each length asked for. Each is dubbed
with typed text a little longer than the video by a fresh `avatar dub` process
timed from outside: start-up, voice, tracking, rendering and encoding included.
It prints, as medians over --runs, the seconds per second of output video (and
the CPU seconds: what a loaded machine cannot hide), the peak resident memory,
the machine's load average at the end of each run and the stages' own seconds
from the manifest (voice and tracking overlap).
Target: at most 0.5 s per video second on 2 cores, peak at most 1.5 GB.
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

import cv2

from benchmarks.reality import CLIPS_DIR
from benchmarks.talk import script_for

WIDTH, HEIGHT, FPS = 1280, 720, 25
TARGET = 0.5


def make_clip(source: Path, seconds: float, path: Path) -> Path:
    """`source` at 1280x720, 25 fps, played forward and back to `seconds`, without sound."""
    from avatar.video.io import open_video
    from avatar.video_writer import Mp4Writer

    with open_video(source, fps=FPS) as clip:
        frames = []
        for frame in clip.frames():
            side = HEIGHT * frame.shape[1] // frame.shape[0] // 2 * 2
            scaled = cv2.resize(frame, (side, HEIGHT), interpolation=cv2.INTER_CUBIC)
            left = (WIDTH - side) // 2
            frames.append(cv2.copyMakeBorder(scaled, 0, 0, left, WIDTH - side - left, cv2.BORDER_REPLICATE))
    order = list(range(len(frames))) + list(range(len(frames) - 2, 0, -1))
    with Mp4Writer(path, WIDTH, HEIGHT, FPS, crf=18, preset="medium") as writer:
        for step in range(int(round(seconds * FPS))):
            writer.write(frames[order[step % len(order)]])
    return path


def dub_once(video: Path, seconds: float, folder: Path) -> dict:
    """A fresh `avatar dub` process on `video` with `seconds` of text; wall clock, peak memory, stage timings."""
    script = folder / "script.txt"
    script.write_text(script_for(seconds), encoding="utf-8")
    out = folder / "out"
    out.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "avatar", "dub", "--video", str(video), "--text-file", str(script),
               "--fit", "trim", "-o", str(out / "dubbed.mp4")]
    env = {**os.environ, "AVATAR_OUTPUTS": str(out)}
    start = time.perf_counter()
    log = folder / "dub.log"  # a file, not a pipe: a long dub's progress would fill a pipe nobody reads and stall it
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
    wall_s = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"avatar dub failed: {log.read_text(errors='replace')[-2000:]}")
    manifest_path = max(out.glob("**/manifest.json"), key=lambda p: p.stat().st_mtime)
    manifest = json.loads(manifest_path.read_text())
    output = manifest["output"]
    duration = output["frames"] / output["fps"]
    return {"duration_s": duration, "wall_s": wall_s, "s_per_s": wall_s / duration,
            "cpu_per_s": (usage.ru_utime + usage.ru_stime) / duration, "load": os.getloadavg()[0],
            "peak_mb": usage.ru_maxrss / 1024, "timings": manifest["timings_s"],
            "bytes_per_s": (out / "dubbed.mp4").stat().st_size / duration}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="woman_glasses", help="a clip of real_talk/ (its stem)")
    parser.add_argument("--lengths", type=float, nargs="+", default=[60.0], help="video lengths in seconds")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"dubbing {args.clip} at {WIDTH}x{HEIGHT}, {FPS} fps, median of {args.runs} runs (fresh process each)\n")
    print("| video s | s per video s | CPU s per video s | peak MB | kB per video s | load average | stages (s) |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for seconds in args.lengths:
            video = make_clip(CLIPS_DIR / f"{args.clip}.mp4", seconds, folder / f"clip{seconds:g}.mp4")
            runs = [dub_once(video, seconds + 3.0, folder) for _ in range(args.runs)]
            median = {key: statistics.median(r[key] for r in runs)
                      for key in ("s_per_s", "cpu_per_s", "peak_mb", "bytes_per_s", "load")}
            middle = sorted(runs, key=lambda r: r["s_per_s"])[len(runs) // 2]
            stages = ", ".join(f"{k} {v:.1f}" for k, v in middle["timings"].items())
            each = ", ".join(f"{r['s_per_s']:.3f}" for r in runs)
            print(f"| {seconds:g} | {median['s_per_s']:.3f} (runs: {each}) | {median['cpu_per_s']:.3f} | "
                  f"{median['peak_mb']:.0f} | {median['bytes_per_s'] / 1024:.0f} | {median['load']:.1f} | {stages} |",
                  flush=True)


if __name__ == "__main__":
    main()
