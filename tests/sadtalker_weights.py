"""Whole seeded SadTalker checkpoint files, laid out as the published ones.

The key manifests come from the three parity references
(tests/reference/sadtalker/{coefficients,face3d,renderer}/keys.json); every
tensor is seeded by crc32 of its key as the published file spells it (the
safetensors keys with their section prefix, the mapping networks' keys with
`mapping.` before them), so these files hold exactly the weights the references
were computed with. Used by the engine tests and `benchmarks.sadtalker`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from avatar.talk.sadtalker.files import MAPPING_FILES, parse_part, renderer_file
from avatar.talk.sadtalker.networks import SadTalkerNetworks, build_part
from tests.seeded_weights import seeded_state_dict

REFERENCE = Path(__file__).resolve().parent / "reference" / "sadtalker"


def _manifest(part: str) -> dict:
    return json.loads((REFERENCE / part / "keys.json").read_text())


def safetensors_shapes() -> dict[str, list[int]]:
    """Every key of `SadTalker_V0.0.2_<size>.safetensors` with its shape (both sizes share the layout)."""
    shapes: dict[str, list[int]] = {}
    shapes.update(_manifest("coefficients")["keys"])
    shapes.update(_manifest("face3d")["keys"])
    shapes.update(_manifest("renderer")["safetensors"])
    return shapes


def mapping_checkpoint(mode: str) -> dict:
    """A mapping file's contents as the original's training saved them (optimizer state and all)."""
    sd = seeded_state_dict(_manifest("renderer")[f"mapping_{mode}"], seed_prefix="mapping.")
    return {
        "mapping": sd,
        "discriminator": {},
        "optimizer_mapping": {"state": {}, "param_groups": [{"lr": 2e-5, "params": list(range(len(sd)))}]},
        "optimizer_discriminator": {"state": {}, "param_groups": []},
        "epoch": 229 if mode == "crop" else 109,
    }


def write_checkpoints(folder: Path, sizes: tuple[int, ...] = (256,), modes: tuple[str, ...] = ("crop", "full")) -> Path:
    """Write the published files for `sizes` and `modes` into `folder` (a second size is a hard link: same weights)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    first = None
    for size in sizes:
        path = folder / renderer_file(size)
        if first is None:
            save_file(seeded_state_dict(safetensors_shapes()), str(path))
            first = path
        else:
            path.hardlink_to(first)
    for mode in modes:
        torch.save(mapping_checkpoint(mode), str(folder / MAPPING_FILES[mode]))
    return folder


def seeded_part(part: str) -> SadTalkerNetworks:
    """The networks of one part, built from seeded files through the real loading code."""
    size, mode = parse_part(part)
    with tempfile.TemporaryDirectory() as folder:
        write_checkpoints(Path(folder), sizes=(size,), modes=(mode,))
        return build_part(Path(folder), part)
