"""Seeded Wav2Lip weights, rebuilt by the recipe that produced ../shared/reference/wav2lip/forward.npz.

Shared by the network's parity tests and the engine tests, which import a
seeded checkpoint the way a user imports the published one.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tests import seeded_weights
from tests.conftest import PROJECT_DIR

REFERENCE = PROJECT_DIR.parent / "shared" / "reference" / "wav2lip"


def seeded_state_dict() -> dict[str, torch.Tensor]:
    """Every key of keys.json filled from a numpy generator seeded by crc32 of the key."""
    return seeded_weights.seeded_state_dict(json.loads((REFERENCE / "keys.json").read_text())["keys"])


def write_checkpoint(path: str | Path, prefix: str = "", sd: dict[str, torch.Tensor] | None = None) -> Path:
    """Save weights laid out as the published wav2lip.pth is (prefix "module." for the DataParallel kind)."""
    sd = seeded_state_dict() if sd is None else sd
    checkpoint = {
        "state_dict": {prefix + key: value for key, value in sd.items()},
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4}]},
        "global_step": 1,
        "global_epoch": 1,
    }
    torch.save(checkpoint, str(path))
    return Path(path)
