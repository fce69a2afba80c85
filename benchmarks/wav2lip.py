"""Speed of the Wav2Lip network alone on this CPU: `python -m benchmarks.wav2lip`.

Frames per second of one forward pass at batch 16 and 64 (2 threads,
`torch.inference_mode`, seeded weights, median of --runs after a warm-up), for
the network as `build_model` ships it and for the steps that led there, beside
the original code's figures in ../shared/reference/wav2lip/timing.json.
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


if __name__ == "__main__":
    main()
