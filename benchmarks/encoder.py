"""H.264 settings by frame size: `python -m benchmarks.encoder`.

Encodes talking-head-like frames (a shipped portrait whose face sways a little
and whose mouth opens and closes, background still, as the built-in engine makes
them) through `Mp4Writer` with each preset/tune at 512, 768 and 1024 px, and
prints encode frames per second (median of --runs), file size per second of
video, and the quality of the decoded frames against the source: PSNR and SSIM
of the luma plane (where x264 spends its bits; chroma loss is the same for all).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from avatar.video_writer import EncoderSettings, Mp4Writer

ROOT = Path(__file__).resolve().parents[1]
FPS = 25


class TalkingFrames:
    """Deterministic frames: frame `i` is always the same image, so it can be compared after decoding."""

    def __init__(self, size: int, portrait: Path) -> None:
        image = cv2.cvtColor(cv2.imread(str(portrait)), cv2.COLOR_BGR2RGB)
        side = min(image.shape[:2])  # centre square, so every size is square
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        image = image[top : top + side, left : left + side]
        scale = size / side
        self.image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        sidecar = portrait.with_suffix(".landmarks.json")
        if sidecar.is_file():
            marks = (np.array(json.loads(sidecar.read_text())["landmarks"]) - [left, top]) * scale
            face_centre, mouth = marks.mean(axis=0), marks[48:68].mean(axis=0)
            face_radius, mouth_radius = np.ptp(marks[:, 0]) * 0.8, np.ptp(marks[48:68, 0]) * 0.6
        else:  # a photo without a sidecar: assume a centred head
            face_centre, mouth = np.array([0.5, 0.45]) * size, np.array([0.5, 0.62]) * size
            face_radius, mouth_radius = 0.3 * size, 0.06 * size
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        self.xs, self.ys = xs, ys
        self.face = np.exp(-((xs - face_centre[0]) ** 2 + (ys - face_centre[1]) ** 2) / (2 * face_radius**2))
        self.mouth = np.exp(-((xs - mouth[0]) ** 2 + (ys - mouth[1]) ** 2) / (2 * mouth_radius**2))
        self.centre, self.mouth_at = face_centre, mouth
        self.size = size

    def __call__(self, i: int) -> np.ndarray:
        t = i / FPS
        angle = np.deg2rad(0.8 * np.sin(2 * np.pi * 0.4 * t))
        shift_x, shift_y = 2.0 * np.sin(2 * np.pi * 0.27 * t), 1.2 * np.sin(2 * np.pi * 0.33 * t)
        dx, dy = self.xs - self.centre[0], self.ys - self.centre[1]
        head_x = (np.cos(angle) - 1) * dx - np.sin(angle) * dy + shift_x
        head_y = np.sin(angle) * dx + (np.cos(angle) - 1) * dy + shift_y
        opening = 0.02 * self.size * abs(np.sin(2 * np.pi * 2.7 * t)) * np.sign(self.ys - self.mouth_at[1])
        map_x = self.xs - head_x * self.face
        map_y = self.ys - head_y * self.face - opening * self.mouth
        return cv2.remap(self.image, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)[: rgb.shape[0]].astype(np.float64)


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM with the usual 11-tap Gaussian window (Wang et al. 2004)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim.mean())


def encode(frames: list[np.ndarray], path: Path, settings: EncoderSettings) -> tuple[float, float]:
    """Encode the frames; return wall and CPU seconds (all threads) spent in the writer.

    CPU time is the figure that matters in a job: the engine renders on the
    same two cores, so every core-second x264 takes is one the engine lacks.
    """
    size = frames[0].shape[0]
    wall, cpu = time.perf_counter(), time.process_time()
    with Mp4Writer(path, size, size, FPS, encoder=settings) as writer:
        for frame in frames:
            writer.write(frame)
    return time.perf_counter() - wall, time.process_time() - cpu


def quality(path: Path, frames: list[np.ndarray]) -> tuple[float, float]:
    """Mean luma PSNR (dB) and SSIM of the decoded video against its source frames."""
    psnrs, ssims = [], []
    with av.open(str(path)) as container:
        for i, decoded in enumerate(container.decode(video=0)):
            a, b = _luma(frames[i]), _luma(decoded.to_ndarray(format="rgb24"))
            mse = max(float(((a - b) ** 2).mean()), 1e-10)
            psnrs.append(10 * np.log10(255**2 / mse))
            if i % 5 == 0:
                ssims.append(_ssim(a, b))
    return float(np.mean(psnrs)), float(np.mean(ssims))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portrait", type=Path, default=ROOT / "default_avatars" / "maya.png")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 768, 1024])
    parser.add_argument("--presets", nargs="+", default=["veryfast", "superfast", "ultrafast"])
    parser.add_argument("--tunes", nargs="+", default=["none", "zerolatency", "fastdecode"])
    parser.add_argument("--crf", type=int, nargs="+", default=[20])
    parser.add_argument("--threads", type=int, nargs="+", default=[0], help="x264 threads (0: x264 decides)")
    parser.add_argument("--frames", type=int, default=75)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    print(f"{args.portrait.name}: {args.frames} frames at {FPS} fps, encode fps median of {args.runs} runs, {os.cpu_count()} cores\n")
    header = ["size", "preset", "tune", "crf", "threads", "encode fps", "CPU ms/frame", "kB/s of video", "PSNR-Y dB", "SSIM-Y"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.mp4"
        for size in args.sizes:
            source = TalkingFrames(size, args.portrait)
            frames = [source(i) for i in range(args.frames)]
            for preset in args.presets:
                for tune in args.tunes:
                    for crf, threads in itertools.product(args.crf, args.threads):
                        settings = EncoderSettings(preset, crf, None if tune == "none" else tune, threads)
                        runs = [encode(frames, path, settings) for _ in range(args.runs)]
                        wall, cpu = (statistics.median(r[i] for r in runs) for i in (0, 1))
                        kbps = path.stat().st_size / 1000 / (args.frames / FPS)
                        psnr, ssim = quality(path, frames)
                        print(f"| {size} | {preset} | {tune} | {crf} | {threads or 'auto'} | "
                              f"{args.frames / wall:.0f} | {1000 * cpu / args.frames:.1f} | "
                              f"{kbps:.0f} | {psnr:.2f} | {ssim:.4f} |", flush=True)


if __name__ == "__main__":
    main()
