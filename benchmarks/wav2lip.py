"""Speed of Wav2Lip on this CPU: `python -m benchmarks.wav2lip`.

Frames per second of one forward pass at batch 16 and 64 (2 threads,
`torch.inference_mode`, seeded weights, median of --runs after a warm-up), for
the network as `build_model` ships it and for the steps that led there, beside
the original code's figures in ../shared/reference/wav2lip/timing.json; then the
whole-job real-time factor of a 10 s talking video with `engine="wav2lip"` (the
seeded weights imported as a checkpoint; voice, face and network loaded before the
clock starts, as in a running app).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from avatar.talk.wav2lip.checkpoint import build_model
from avatar.talk.wav2lip.model import Wav2Lip
from tests.wav2lip_weights import REFERENCE, seeded_state_dict

THREADS = 2
BATCHES = (16, 64)


def network_fps(batch: int, model: Wav2Lip | None = None, runs: int = 3) -> float:
    """Frames per second of `model` (default: seeded weights through `build_model`) at one batch size."""
    torch.set_num_threads(THREADS)
    model = build_model(seeded_state_dict()) if model is None else model
    generator = torch.Generator().manual_seed(0)
    audio = torch.rand(batch, 1, 80, 16, generator=generator) * 8 - 4  # mel range [-4, 4]
    faces = torch.rand(batch, 6, 96, 96, generator=generator)
    seconds = []
    with torch.inference_mode():
        model(audio, faces)  # warm-up: oneDNN picks and caches its kernels
        for _ in range(runs):
            start = time.perf_counter()
            model(audio, faces)
            seconds.append(time.perf_counter() - start)
    return batch / statistics.median(seconds)


def _unoptimised() -> Wav2Lip:
    """The port as trained: batch norms kept, default (NCHW) memory format."""
    model = Wav2Lip()
    model.load_state_dict(seeded_state_dict())
    return model.eval()


def variants() -> dict[str, Wav2Lip]:
    """Each optimisation added on top of the previous one; the last is what `build_model` returns."""
    return {
        "port, as trained (batch norm, NCHW)": _unoptimised(),
        "+ batch norms folded into convolutions": _unoptimised().fold_batch_norms(),
        "+ channels-last weights (`build_model`)": build_model(seeded_state_dict()),
    }


def job_rtf(seconds: float = 10.0, size: int = 512, runs: int = 3) -> tuple[float, float]:
    """(audio seconds, median wall-clock seconds per audio second) of whole Wav2Lip jobs."""
    import tempfile
    from pathlib import Path

    from avatar.avatars import get_default_avatar
    from avatar.models.registry import Registry
    from avatar.speech.piper_voice import synthesize
    from avatar.talk.engine import TalkOptions
    from avatar.talk.pipeline import make_talking_video
    from avatar.talk.wav2lip.engine import Wav2LipEngine
    from benchmarks.talk import script_for
    from tests.wav2lip_weights import write_checkpoint

    avatar = get_default_avatar("maya")
    speech = synthesize(script_for(seconds))
    with tempfile.TemporaryDirectory() as folder:
        registry = Registry(checkpoints=Path(folder) / "checkpoints")
        registry.import_model("wav2lip-gan", write_checkpoint(Path(folder) / "wav2lip_gan.pth"), copy=True)
        engine = Wav2LipEngine(registry=registry)
        options = TalkOptions(size=size)
        factors = []
        for run in range(runs + 1):  # the first run loads the network and is not counted
            start = time.perf_counter()
            make_talking_video(avatar.image_path, audio=speech, landmarks_path=avatar.landmarks_path, engine=engine,
                               options=options, job_dir=Path(folder) / f"job{run}")
            if run:
                factors.append((time.perf_counter() - start) / speech.duration)
    return speech.duration, statistics.median(factors)


def print_table(rows: list[tuple[str, list[float]]]) -> None:
    """One markdown row per measured thing, one column per batch size."""
    print("| " + " | ".join(["what", *(f"fps at batch {b}" for b in BATCHES)]) + " |")
    print("|" + "---|" * (len(BATCHES) + 1))
    for name, figures in rows:
        print(f"| {name} | " + " | ".join(f"{fps:.1f}" for fps in figures) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    original = json.loads((REFERENCE / "timing.json").read_text())
    print(f"Wav2Lip network on {THREADS} CPU threads, median of {args.runs} runs after a warm-up\n")
    rows = [("original code (timing.json)", [original[f"fps_batch{b}"] for b in BATCHES])]
    for name, model in variants().items():
        rows.append((name, [network_fps(b, model, args.runs) for b in BATCHES]))
    print_table(rows)
    duration, rtf = job_rtf(runs=args.runs)
    print(f"\nwhole job, {duration:.1f} s of speech at 512 px, batch 16: {rtf:.3f} s per audio second "
          f"(median of {args.runs})")


if __name__ == "__main__":
    main()
