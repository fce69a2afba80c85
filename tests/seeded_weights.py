"""Seeded network weights from a key/shape manifest: the recipe every parity reference uses.

Per key: rng = numpy.random.default_rng(zlib.crc32(key.encode())), n = standard
normal of the key's shape (float32), then
  *.num_batches_tracked -> zeros (int64)
  *.running_var         -> 1 + 0.1*|n|
  *.running_mean, *.bias -> 0.1*n
  other 1-D (norm scale) -> 1 + 0.1*n
  anything else         -> n * sqrt(1/fan_in), fan_in = prod(shape[1:])
The key is spelled as the published file spells it (see each reference README),
so one recipe fills whole checkpoint files and the references made from them.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import torch


def seeded_tensor(key: str, shape: list[int] | tuple[int, ...]) -> torch.Tensor:
    """The seeded value of one key."""
    n = np.random.default_rng(zlib.crc32(key.encode())).standard_normal(shape).astype(np.float32)
    if key.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.int64)
    if key.endswith("running_var"):
        value = 1 + 0.1 * np.abs(n)
    elif key.endswith(("running_mean", ".bias")):
        value = 0.1 * n
    elif len(shape) <= 1:  # norm scale (or a scalar)
        value = 1 + 0.1 * n
    else:  # convolution or linear weight
        value = n * math.sqrt(1.0 / math.prod(shape[1:]))
    return torch.from_numpy(np.asarray(value, dtype=np.float32))


def seeded_state_dict(shapes: dict[str, list[int]], seed_prefix: str = "") -> dict[str, torch.Tensor]:
    """Every key of `shapes`, seeded by crc32 of `seed_prefix + key`."""
    return {key: seeded_tensor(seed_prefix + key, shape) for key, shape in shapes.items()}


def reference_arrays(folder: Path, name: str) -> dict[str, np.ndarray]:
    """The arrays of one reference file (`folder/name`, an .npz of the original code's outputs), loaded whole."""
    with np.load(folder / name) as data:
        return dict(data)
