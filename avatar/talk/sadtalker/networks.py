"""SadTalker's networks for one job: one renderer size and one mapping network, built from the published files.

The registry calls `build_networks(folder, policy, part)` (catalog entry
`sadtalker`, parts "256-crop", "256-full", "512-crop", "512-full"), so a job
holds one size's networks only (each safetensors file is about 0.55 GB) and two
pages asking for the same part share one copy.

What comes from which file:
- `SadTalker_V0.0.2_<size>.safetensors`: audio2exp, audio2pose, face_3drecon,
  kp_extractor and generator sections;
- `mapping_00229-model.pth.tar` ("crop": 70 coefficients) or
  `mapping_00109-model.pth.tar` ("full": 73, the crop's place included).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from avatar.errors import InputError
from avatar.talk.sadtalker.files import (
    COEFFICIENTS,
    INSTALL,
    MAPPING_FILES,
    PREPROCESS,
    SIZES,
    missing_files,
    parse_part,
    part_name,
    renderer_file,
    require_files,
)


class SadTalkerNetworks(torch.nn.Module):
    """Every network one job runs, as one module so the registry can count, move and evict it."""

    def __init__(self, audio2exp: torch.nn.Module, audio2pose: torch.nn.Module, face_recon: torch.nn.Module,
                 renderer: torch.nn.Module, size: int, preprocess: str) -> None:
        super().__init__()
        self.audio2exp = audio2exp
        self.audio2pose = audio2pose
        self.face_recon = face_recon
        self.renderer = renderer
        self.size = size
        self.preprocess = preprocess


def build_part(folder: Path, part: str, device: str = "cpu", dtype: torch.dtype = torch.float32) -> SadTalkerNetworks:
    """Read, check and build the networks of one part (each file is checked key by key as it is read)."""
    from avatar.talk.sadtalker.audio2exp import load_audio2exp
    from avatar.talk.sadtalker.audio2pose import load_audio2pose
    from avatar.talk.sadtalker.checkpoint import entry, read_checkpoint, section
    from avatar.talk.sadtalker.face3d import load_face_recon
    from avatar.talk.sadtalker.renderer import load_renderer

    size, preprocess = parse_part(part)
    renderer_path, mapping_path = require_files(Path(folder), part)
    tensors = read_checkpoint(renderer_path)
    name = renderer_path.name
    mapping = entry(read_checkpoint(mapping_path), "mapping", mapping_path.name)
    networks = SadTalkerNetworks(
        audio2exp=load_audio2exp(section(tensors, "audio2exp", name)),
        audio2pose=load_audio2pose(section(tensors, "audio2pose", name)),
        face_recon=load_face_recon(section(tensors, "face_3drecon", name)),
        renderer=load_renderer(section(tensors, "generator", name), section(tensors, "kp_extractor", name),
                               mapping, COEFFICIENTS[preprocess]),
        size=size,
        preprocess=preprocess,
    )
    del tensors, mapping
    networks.to(device)
    if dtype != torch.float32:  # half precision for the renderer only, the heavy part (float16 on CUDA)
        networks.renderer.to(dtype)
    return networks.eval().requires_grad_(False)


def build_networks(folder: Path, policy, part: Optional[str]) -> SadTalkerNetworks | list[str]:
    """The registry's builder: one part's networks, or (no part: an import check) every complete part checked.

    Without a part, each part whose two files are present is built once and let
    go, so `avatar models import sadtalker FOLDER` refuses a wrong file before it
    is registered; the names of the parts that were checked are returned.
    """
    folder = Path(folder)
    if part is not None:
        return build_part(folder, part, policy.device, policy.dtype)
    complete = [p for p in (part_name(s, m) for s in SIZES for m in PREPROCESS) if not missing_files(folder, p)]
    if not complete:
        raise InputError(f"{folder} holds no complete SadTalker set: it needs {renderer_file(256)} or "
                         f"{renderer_file(512)} and {MAPPING_FILES['crop']} or {MAPPING_FILES['full']}; "
                         f"install them with `{INSTALL}`.")
    for name in complete:
        build_part(folder, name)
    return complete
