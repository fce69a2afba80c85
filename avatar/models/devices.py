"""Which device and number format the models run on, and how much memory they may use.

The policy is a pure function of the machine's capabilities and the environment,
so it can be tested with made-up capabilities (a GPU that is not there):

- device: cuda, then mps, then cpu; `AVATAR_DEVICE` overrides.
- dtype: float16 on cuda (half the memory, same pictures), float32 elsewhere
  (CPUs are slow or wrong in half precision, mps is unreliable with it).
- budgets: `AVATAR_GPU_MEMORY` / `AVATAR_CPU_MEMORY` ("6GB", "512MB", bytes), by
  default 90% of the GPU's memory and half the machine's RAM.
- low memory: under 10 GB for the models, pipelines turn on attention slicing and
  VAE tiling, trading a little speed for a much smaller peak.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Optional

from avatar.errors import InputError

if TYPE_CHECKING:
    import torch

GB = 1024**3
LOW_MEMORY_BYTES = 10 * GB
_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": GB, "GB": GB, "T": 1024**4, "TB": 1024**4}


@dataclass(frozen=True)
class DeviceCaps:
    """What the machine offers; `detect_caps()` fills it, tests make their own."""

    cuda: bool
    mps: bool
    cuda_memory: int = 0
    cpu_memory: int = 8 * GB


@dataclass(frozen=True)
class DevicePolicy:
    """Where models go and how much room they have there."""

    device: str
    dtype: torch.dtype
    gpu_budget: int
    cpu_budget: int

    @property
    def accelerated(self) -> bool:
        return self.device != "cpu"

    @property
    def budget(self) -> int:
        """The budget of the device the models run on."""
        return self.gpu_budget if self.accelerated else self.cpu_budget

    @property
    def low_memory(self) -> bool:
        """Turn on attention slicing and VAE tiling when the models' room is small."""
        return self.budget < LOW_MEMORY_BYTES


def _total_ram() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * GB


def detect_caps() -> DeviceCaps:
    """Ask torch what this machine has."""
    import torch
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    cuda_memory = torch.cuda.get_device_properties(0).total_memory if cuda else 0
    return DeviceCaps(cuda=cuda, mps=mps, cuda_memory=cuda_memory, cpu_memory=_total_ram())


def parse_bytes(text: str, name: str = "memory size") -> int:
    """'6GB', '512 MB', '1.5G' or a plain number of bytes -> bytes."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).upper() if match else None
    if not match or unit not in _UNITS:
        raise InputError(f"{name} {text!r} is not a size; write it like 6GB, 512MB or a number of bytes.")
    return int(float(match.group(1)) * _UNITS[unit])


def choose_policy(caps: Optional[DeviceCaps] = None, env: Optional[Mapping[str, str]] = None) -> DevicePolicy:
    """The device, dtype and budgets for these capabilities and environment."""
    import torch
    caps = caps or detect_caps()
    env = os.environ if env is None else env
    wanted = env.get("AVATAR_DEVICE", "").strip().lower()
    if wanted:
        available = {"cpu": True, "cuda": caps.cuda, "mps": caps.mps}
        if wanted not in available:
            raise InputError(f"AVATAR_DEVICE={wanted!r} is not a device; use cuda, mps or cpu.")
        if not available[wanted]:
            raise InputError(f"AVATAR_DEVICE={wanted} but this machine has no {wanted} device; unset it or use cpu.")
        device = wanted
    else:
        device = "cuda" if caps.cuda else "mps" if caps.mps else "cpu"
    dtype = torch.float16 if device == "cuda" else torch.float32
    default_gpu = int(caps.cuda_memory * 0.9) if device == "cuda" else caps.cpu_memory // 2 if device == "mps" else 0
    gpu_budget = parse_bytes(env["AVATAR_GPU_MEMORY"], "AVATAR_GPU_MEMORY") if env.get("AVATAR_GPU_MEMORY") else default_gpu
    cpu_budget = parse_bytes(env["AVATAR_CPU_MEMORY"], "AVATAR_CPU_MEMORY") if env.get("AVATAR_CPU_MEMORY") else caps.cpu_memory // 2
    return DevicePolicy(device=device, dtype=dtype, gpu_budget=gpu_budget, cpu_budget=cpu_budget)


def format_bytes(count: Optional[int]) -> str:
    """A short human size: 5.2 GB, 480 MB, 12 KB."""
    if count is None:
        return "?"
    for unit, size in (("TB", 1024**4), ("GB", GB), ("MB", 1024**2), ("KB", 1024)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"
