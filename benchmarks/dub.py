"""Self-dub fidelity: `python -m benchmarks.dub`.

Each clip of real talk (default: `../shared/fixtures/real_talk/*.mp4`) is dubbed
with its own sound track, as a user's recording would be (`avatar.video.dub`,
built-in engine, the speech recognised from the sound). A faithful dub then
moves the mouth as the real speaker did. Frame by frame, in the input and the
dub, the mouth opening is measured as `benchmarks.reality` measures it (the
inner-lip gap over the eye distance, dlib's 68 landmarks, each frame on its own)
and correlated, best of -3..+3 frames of lag. Target: mean r >= 0.6.

Per clip it also prints the range of opening of both (95th - 5th percentile),
the mouth method, and the dub's seconds per second of video. In pauses that the
new speech and the video's own sound share, the dub keeps the speaker's own
mouth (`avatar.video.own_pauses`; in a self-dub every pause is shared), so the
table also gives the share of frames where their own mouth shows and r over the
other frames alone, the re-animated ones; `--pauses closed` draws every pause closed.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.reality import (CLIPS_DIR, correlate, mouth_opening, opening_range, read_audio, read_video,
                                write_wav)

R_TARGET = 0.6


@dataclass
class DubMeasure:
    name: str
    frames: int
    method: str
    r: float
    lag: int
    own_share: float  # frames showing the speaker's own mouth (shared pauses)
    r_animated: float  # r over the other frames: the re-animated mouth alone
    real_range: float
    our_range: float
    seconds: float  # the dub alone, wall clock
    duration: float  # of the clip


def measure_clip(path: Path, seed: int = 0, pauses: str = "video", teeth: str = "video") -> DubMeasure:
    """Dub `path` with its own sound and compare the two mouths."""
    from avatar.video.dub import dub_video
    from avatar.video.dub_options import DubOptions

    real_frames, fps = read_video(path)
    samples = read_audio(path, 16000)
    with tempfile.TemporaryDirectory() as tmp:
        audio = write_wav(samples, 16000, Path(tmp) / f"{path.stem}.wav")
        started = time.perf_counter()
        result = dub_video(path, audio=audio, options=DubOptions(seed=seed, pauses=pauses, teeth=teeth), job_dir=Path(tmp) / "job")
        seconds = time.perf_counter() - started
        ours, our_fps = read_video(result.video_path)
    real = mouth_opening(real_frames, fps)
    dubbed = mouth_opening(ours, our_fps)
    r, lag = correlate(dubbed, real, ours_fps=our_fps, real_fps=fps)
    own = np.zeros(len(dubbed), bool)
    for first, last in result.manifest["video"]["own_mouth_frames"]:
        own[first:last + 1] = True
    r_animated, _ = correlate(np.where(own, np.nan, dubbed), real, ours_fps=our_fps, real_fps=fps)
    return DubMeasure(name=path.stem, frames=len(real_frames), method=result.manifest["speech"]["mouth"]["method"],
                      r=r, lag=lag, own_share=float(own.mean()), r_animated=r_animated,
                      real_range=opening_range(real), our_range=opening_range(dubbed),
                      seconds=seconds, duration=len(real_frames) / fps)


def table(measures: Sequence[DubMeasure]) -> str:
    lines = ["| clip | frames | mouth from | r (lag) | own mouth shown | r, re-animated frames only "
             "| opening range, real / dub | dub s per video s |",
             "|---|---|---|---|---|---|---|---|"]
    for m in measures:
        lines.append(f"| {m.name} | {m.frames} | {m.method} | {m.r:.3f} ({m.lag:+d}) | {m.own_share:.0%} | "
                     f"{m.r_animated:.3f} | {m.real_range:.3f} / {m.our_range:.3f} | {m.seconds / m.duration:.2f} |")

    def mean(values: list[float]) -> float:
        finite = [v for v in values if not math.isnan(v)]
        return float(np.mean(finite)) if finite else float("nan")

    frames = sum(m.frames for m in measures)
    lines.append(f"| **mean** | {frames} | | **{mean([m.r for m in measures]):.3f}** (target {R_TARGET}) | "
                 f"{sum(m.own_share * m.frames for m in measures) / frames:.0%} | "
                 f"{mean([m.r_animated for m in measures]):.3f} | | "
                 f"{sum(m.seconds for m in measures) / sum(m.duration for m in measures):.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", help="clip names (stems); default: all of real_talk/")
    parser.add_argument("--dir", type=Path, default=CLIPS_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pauses", choices=("video", "closed"), default="video",
                        help="the speaker's own mouth in shared pauses (video, the default) or drawn closed")
    parser.add_argument("--teeth", choices=("video", "drawn"), default="video",
                        help="the speaker's own teeth (video, the default) or drawn ones")
    args = parser.parse_args()
    paths = sorted(args.dir.glob("*.mp4"))
    if args.clips:
        paths = [p for p in paths if p.stem in args.clips]
    print(table([measure_clip(path, args.seed, args.pauses, args.teeth) for path in paths]))


if __name__ == "__main__":
    main()
