"""Speed of face enhancement: `python -m benchmarks.enhance [--runs 3] [--device cuda]`.

Prints, as medians over --runs (after one warm-up pass), with weights seeded from the
published files' key lists (timing does not depend on the values):

- GFPGAN v1.4: seconds per 512 px face, one face per pass and `--batch` faces per pass;
- the whole `FaceEnhancer.enhance` of a 512x512 frame (alignment, network, paste-back);
- Real-ESRGAN x2 and x4: seconds per megapixel of input, from a `--side` square image
  in one pass (no tiles) and in tiles of `--tile` px (the default for big frames).

Each figure is given as wall-clock seconds (`_wall`) and as CPU seconds of this process,
all threads added (`_cpu`): on a shared machine the second is the steadier one.

On CUDA the networks run in float16, as the registry loads them there. Torch uses
`--threads` CPU threads (default 2, this machine's cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "reference"


def seeded(name: str, key: str | None = None) -> dict:
    from tests.seeded_weights import seeded_state_dict

    keys = json.loads((REFERENCE / name / "keys.json").read_text())
    return seeded_state_dict(keys["keys"] if key is None else keys[key])


def median_seconds(work, runs: int, sync) -> tuple[float, float]:
    """Median wall-clock seconds and median CPU seconds (all threads of this process) of `work`, after a warm-up."""
    work()
    sync()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        work()
        sync()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def record(results: dict, name: str, seconds: tuple[float, float], per: float = 1.0, digits: int = 2) -> None:
    results[f"{name}_wall"] = round(seconds[0] / per, digits)
    results[f"{name}_cpu"] = round(seconds[1] / per, digits)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--side", type=int, default=128, help="side of the square image Real-ESRGAN is timed on")
    parser.add_argument("--tile", type=int, default=64)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    half = args.device.startswith("cuda")
    dtype = torch.float16 if half else torch.float32
    sync = torch.cuda.synchronize if half else (lambda: None)

    from avatar.enhance import BackgroundUpscaler, FaceEnhancer, Tiling
    from avatar.enhance.checkpoint import load_checked
    from avatar.enhance.face_align import FFHQ_POINTS, faces_to_tensor
    from avatar.enhance.gfpgan import UNUSED_PREFIXES, FaceRestorer
    from avatar.enhance.rrdbnet import SuperResolutionNet

    results: dict = {"device": args.device, "dtype": str(dtype).replace("torch.", ""), "threads": args.threads}
    restorer = load_checked(FaceRestorer(), seeded("gfpgan"), "GFPGAN", "", UNUSED_PREFIXES).to(args.device, dtype)
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (args.batch, 512, 512, 3), dtype=np.uint8)
    with torch.no_grad():
        one = faces_to_tensor(faces[:1]).to(args.device, dtype)
        many = faces_to_tensor(faces).to(args.device, dtype)
        record(results, "gfpgan_s_per_face_batch1", median_seconds(lambda: restorer(one), args.runs, sync))
        record(results, f"gfpgan_s_per_face_batch{args.batch}", median_seconds(lambda: restorer(many), args.runs, sync),
               per=args.batch)

    with np.load(REFERENCE / "gfpgan" / "align.npz") as data:
        crop = data["crop"]
    # A 512x512 frame holding the reference face at about the size the crop shows it.
    import cv2

    frame = cv2.warpAffine(crop, np.float64([[0.8, 0, 51], [0, 0.8, 51]]), (512, 512))
    points = FFHQ_POINTS * 0.8 + 51
    landmarks = np.zeros((68, 2))
    landmarks[36:42], landmarks[42:48], landmarks[30], landmarks[48], landmarks[54] = points[0], points[1], points[2], points[3], points[4]
    enhancer = FaceEnhancer(restorer)
    record(results, "enhance_frame_512_s", median_seconds(lambda: enhancer.enhance(frame, landmarks), args.runs, sync))

    image = rng.integers(0, 256, (args.side, args.side, 3), dtype=np.uint8)
    megapixels = args.side * args.side / 1e6
    for scale in (2, 4):
        net = load_checked(SuperResolutionNet(scale), seeded("realesrgan", f"x{scale}"), "x", "")
        for label, tiling in (("whole", Tiling(tile=0, pre_pad=10)), ("tiled", Tiling(tile=args.tile, tile_pad=10, pre_pad=10))):
            upscaler = BackgroundUpscaler(net, tiling, device=args.device, half=half)
            seconds = median_seconds(lambda: upscaler.upscale(image), args.runs, sync)
            record(results, f"realesrgan_x{scale}_{label}_s_per_input_mp", seconds, per=megapixels, digits=0)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
