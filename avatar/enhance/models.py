"""The registry's builders for the enhancement models: published file -> ready network.

Catalog entries (`avatar/models/catalog.py`): `gfpgan-1.4` (GFPGANv1.4.pth),
`realesrgan-x2` (RealESRGAN_x2plus.pth), `realesrgan-x4` (RealESRGAN_x4plus.pth). The
registry calls `build_*(path, policy, part)` with the installed folder (or a file);
the network comes back on the policy's device and in its dtype (float16 on CUDA),
in eval mode without gradients. `avatar models import <id> FILE` calls the same
builder on a CPU policy, so a wrong file is refused before it is registered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from avatar.enhance.checkpoint import load_checked, read_state_dict
from avatar.enhance.gfpgan import UNUSED_PREFIXES, FaceRestorer
from avatar.enhance.rrdbnet import SuperResolutionNet
from avatar.errors import InputError

FACE_MODEL = "gfpgan-1.4"
UPSCALER_MODELS = {2: "realesrgan-x2", 4: "realesrgan-x4"}
FILES = {FACE_MODEL: "GFPGANv1.4.pth", "realesrgan-x2": "RealESRGAN_x2plus.pth", "realesrgan-x4": "RealESRGAN_x4plus.pth"}


def advice(model_id: str) -> str:
    return f"use the published {FILES[model_id]} (`avatar models import {model_id} PATH`)"


def weight_file(path: Path, model_id: str) -> Path:
    """The checkpoint in an installed folder: the published file name, else the folder's only .pth/.safetensors file."""
    path = Path(path)
    if path.is_file():
        return path
    named = path / FILES[model_id]
    if named.is_file():
        return named
    found = sorted(p for p in path.glob("*") if p.suffix in (".pth", ".safetensors") and p.is_file())
    if len(found) != 1:
        raise InputError(f"{path} holds no single {FILES[model_id]}; {advice(model_id)}.")
    return found[0]


def _placed(net: torch.nn.Module, policy) -> torch.nn.Module:
    if policy is None:
        return net
    return net.to(device=policy.device, dtype=policy.dtype)


def load_face_restorer(path: Path, policy=None) -> FaceRestorer:
    """GFPGAN v1.4 from its published file (checked key by key)."""
    weights = read_state_dict(weight_file(path, FACE_MODEL), advice(FACE_MODEL))
    return _placed(load_checked(FaceRestorer(), weights, "GFPGAN v1.4", advice(FACE_MODEL), UNUSED_PREFIXES), policy)


def load_upscaler_net(path: Path, scale: int, policy=None) -> SuperResolutionNet:
    """Real-ESRGAN x2 or x4 from its published file (checked key by key: an x4 file is refused as x2)."""
    model_id = UPSCALER_MODELS[scale]
    weights = read_state_dict(weight_file(path, model_id), advice(model_id))
    return _placed(load_checked(SuperResolutionNet(scale), weights, f"Real-ESRGAN x{scale}", advice(model_id)), policy)


def build_face_restorer(path: Path, policy, part: Optional[str] = None) -> FaceRestorer:
    """The registry's builder for `gfpgan-1.4`."""
    return load_face_restorer(path, policy)


def build_upscaler_x2(path: Path, policy, part: Optional[str] = None) -> SuperResolutionNet:
    """The registry's builder for `realesrgan-x2`."""
    return load_upscaler_net(path, 2, policy)


def build_upscaler_x4(path: Path, policy, part: Optional[str] = None) -> SuperResolutionNet:
    """The registry's builder for `realesrgan-x4`."""
    return load_upscaler_net(path, 4, policy)
