"""`python -m benchmarks.registry`: what the model registry costs.

Prints three tables, all on tiny pipelines built here (no download):
1. the overhead of `registry.use(id)` on a model already loaded (target: < 1 ms),
2. the load time of a tiny diffusers pipeline (from_pretrained + device move),
3. eviction under a memory budget that holds two of three models.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from avatar.models.devices import DevicePolicy, format_bytes
from avatar.models.registry import Registry
from tests.tiny_models import save_tiny_sd, save_tiny_sd_inpaint

GB = 1024**3


def _registry(checkpoints: Path, budget: int = 16 * GB) -> Registry:
    policy = DevicePolicy("cpu", torch.float32, gpu_budget=0, cpu_budget=budget)
    return Registry(policy=policy, checkpoints=checkpoints, hf_cache=checkpoints / "no-hub")


def main() -> None:
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoints = Path(tmp)
        save_tiny_sd(checkpoints / "sd21-base")
        save_tiny_sd_inpaint(checkpoints / "sd2-inpaint")
        save_tiny_sd_inpaint(checkpoints / "dreamshaper8-inpaint")

        loads = []
        for _ in range(5):
            registry = _registry(checkpoints)
            start = time.perf_counter()
            with registry.use("sd21-base"):
                pass
            loads.append(time.perf_counter() - start)

        n = 10_000
        start = time.perf_counter()
        for _ in range(n):
            with registry.use("sd21-base"):
                pass
        per_use = (time.perf_counter() - start) / n

        print("| measure | value |")
        print("| --- | --- |")
        print(f"| `use()` on a loaded model (mean of {n}) | {per_use * 1e6:.1f} µs |")
        print(f"| load of the tiny pipeline (median of 5, first {loads[0]:.2f} s) | {statistics.median(loads) * 1000:.0f} ms |")

        probe = _registry(checkpoints)
        with probe.use("sd2-inpaint"):
            one = probe.stats().loaded[0].memory_bytes
        registry = _registry(checkpoints, budget=int(2.5 * one))
        print()
        print(f"Eviction, CPU budget {format_bytes(int(2.5 * one))} (one tiny pipeline = {format_bytes(one)}):")
        print()
        print("| step | loaded after it (most recent first) | evictions |")
        print("| --- | --- | --- |")
        for model_id in ("sd2-inpaint", "dreamshaper8-inpaint", "sd2-inpaint", "sd21-base", "dreamshaper8-inpaint"):
            with registry.use(model_id):
                pass
            stats = registry.stats()
            print(f"| use {model_id} | {', '.join(m.id for m in stats.loaded)} | {stats.evictions} |")
        stats = registry.stats()
        print()
        print(f"hits {stats.hits}, misses {stats.misses}, evictions {stats.evictions}, "
              f"memory {format_bytes(stats.cpu_used)} of {format_bytes(stats.cpu_budget)}")


if __name__ == "__main__":
    main()
