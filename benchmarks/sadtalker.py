"""Speed of the SadTalker port on this CPU, stage by stage: `python -m benchmarks.sadtalker`.

Seconds of work per second of video (25 frames) for each stage, with seeded
weights (a network's cost does not depend on its weights' values), 2 threads,
median of --runs after a warm-up, beside the original code's figures measured
the same way on this machine kind (`tests/reference/sadtalker/*/timing.json`):

- face: crop + alignment + 3DMM reconstruction, once per portrait (seconds);
- coefficients: Audio2Exp + Audio2Pose + smoothing, per second of audio;
- renderer at 256 and 512: keypoints, mapping, dense motion and generator;
- paste-back ("full"): the seamless blend into a 1024 px portrait;
- a whole job through `make_talking_video(engine="sadtalker")` (voice made
  beforehand, networks loaded before the clock starts, as in a running app).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from tests.sadtalker_weights import REFERENCE, seeded_part

THREADS = 2
FPS = 25
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def median_seconds(work: Callable[[], object], runs: int) -> float:
    work()  # warm-up: oneDNN picks and caches its kernels
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def portrait() -> tuple[np.ndarray, np.ndarray]:
    from avatar.face.detect import find_face
    from avatar.media import load_image

    image = load_image(FIXTURES / "obama.jpg")
    return image, find_face(image).landmarks


def face_seconds(networks, runs: int) -> float:
    from avatar.talk.sadtalker.crop import crop_face
    from avatar.talk.sadtalker.face3d import source_coefficients

    image, landmarks = portrait()
    return median_seconds(lambda: source_coefficients(networks.face_recon, crop_face(image, landmarks, networks.size)), runs)


def coefficient_seconds_per_second(networks, runs: int, seconds: float = 8.0) -> float:
    from avatar.media import load_audio
    from avatar.talk.sadtalker.coefficients import motion_coefficients
    from avatar.talk.wav2lip.audio import to_model_rate

    samples = to_model_rate(load_audio(FIXTURES / "RD_Radio31_000.wav"))[: int(seconds * 16000)]
    source = np.zeros(73, np.float32)
    work = lambda: motion_coefficients(networks.audio2exp, networks.audio2pose, samples, source, 0, 0)  # noqa: E731
    return median_seconds(work, runs) / seconds


def render_seconds_per_second(networks, runs: int, batch: int) -> float:
    from avatar.talk.sadtalker.crop import crop_face
    from avatar.talk.sadtalker.renderer import driving_coefficients, target_windows

    image, landmarks = portrait()
    crop = crop_face(image, landmarks, networks.size)
    source = np.random.default_rng(0).normal(0, 0.1, 73).astype(np.float32)
    motion = np.random.default_rng(1).normal(0, 0.1, (batch, 70)).astype(np.float32)
    driving = driving_coefficients(motion, source, 1.0, False, networks.preprocess)
    prepared = networks.renderer.prepare(crop.image, source)
    windows = target_windows(driving, range(batch))
    with torch.inference_mode():
        return median_seconds(lambda: networks.renderer.render(prepared, windows), runs) / batch * FPS


def paste_seconds_per_second(runs: int, size: int = 256) -> float:
    from avatar.media import resize_long_side
    from avatar.talk.sadtalker.crop import crop_face
    from avatar.talk.sadtalker.engine import paste_back

    image, landmarks = portrait()
    scale = 1024 / max(image.shape[:2])
    image = resize_long_side(image, 1024)
    crop = crop_face(image, landmarks * scale, size)
    return median_seconds(lambda: paste_back(image, crop.image, crop.box), runs) * FPS


def job_rtf(seconds: float, runs: int) -> float:
    """Median wall-clock seconds per audio second of whole "full" jobs at 256."""
    from avatar.avatars import get_default_avatar
    from avatar.models.registry import Registry
    from avatar.speech.piper_voice import synthesize
    from avatar.talk.engine import TalkOptions
    from avatar.talk.pipeline import make_talking_video
    from avatar.talk.sadtalker.engine import SadTalkerEngine
    from benchmarks.talk import script_for
    from tests.sadtalker_weights import write_checkpoints

    speech = synthesize(script_for(seconds))
    with tempfile.TemporaryDirectory() as folder:
        registry = Registry(checkpoints=Path(folder) / "checkpoints")
        write_checkpoints(Path(folder) / "checkpoints" / "sadtalker", sizes=(256,), modes=("full",))
        engine = SadTalkerEngine(registry)
        options = TalkOptions(size=512)
        with registry.use("sadtalker", part="256-full"):  # loaded before the clock starts
            pass
        avatar = get_default_avatar("maya")
        walls = []
        for run in range(runs):
            start = time.perf_counter()
            make_talking_video(avatar.image_path, audio=speech, engine=engine, options=options,
                               landmarks_path=avatar.landmarks_path, job_dir=Path(folder) / f"job{run}")
            walls.append(time.perf_counter() - start)
    return statistics.median(walls) / speech.duration


def original_figures() -> dict[str, float]:
    """The original code's figures from the reference folders (None where it was not measured)."""
    def read(part: str) -> dict:
        path = REFERENCE / part / "timing.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    face, coefficients, renderer = read("face3d"), read("coefficients"), read("renderer")
    return {
        "face": face.get("seconds_per_portrait_256"),
        "coefficients": coefficients.get("total_s_per_audio_s"),
        "render256": _per_second(renderer, "size_256"),
        "render512": _per_second(renderer, "size_512"),
    }


def _per_second(renderer: dict, size: str) -> float | None:
    """The original's seconds per second of video: its frame-by-frame time (one lane) times 25."""
    figure = renderer.get(size, {}).get("s_per_frame_median", {}).get("original_1_lanes")
    return None if figure is None else figure * FPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4, help="frames per renderer pass")
    parser.add_argument("--job-seconds", type=float, default=4.0, help="audio length of the whole-job run (0: skip)")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    original = original_figures()
    rows = []
    small = seeded_part("256-full")
    rows.append(("face crop + 3DMM coefficients, s per portrait", original["face"], face_seconds(small, args.runs)))
    rows.append(("audio -> coefficients, s per s of audio", original["coefficients"],
                 coefficient_seconds_per_second(small, args.runs)))
    rows.append(("renderer 256, s per s of video", original["render256"],
                 render_seconds_per_second(small, args.runs, args.batch)))
    del small
    large = seeded_part("512-full")
    rows.append(("renderer 512, s per s of video", original["render512"],
                 render_seconds_per_second(large, max(1, args.runs // 2), max(1, args.batch // 2))))
    del large
    rows.append(("paste-back into 1024 px, s per s of video", None, paste_seconds_per_second(args.runs)))
    if args.job_seconds > 0:
        rows.append((f"whole job, {args.job_seconds:g} s of audio, 256 full, s per s", None,
                     job_rtf(args.job_seconds, args.runs)))
    print("| stage | original | port |\n|---|---|---|")
    for name, before, now in rows:
        print(f"| {name} | {'—' if before is None else f'{before:.3f}'} | {now:.3f} |")


if __name__ == "__main__":
    main()
