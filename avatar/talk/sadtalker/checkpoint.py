"""Read SadTalker's published checkpoint files as plain tensors, section by section.

The published files and what the port takes from each:

- `SadTalker_V0.0.2_256.safetensors` / `_512.safetensors`: one flat dict whose keys
  start with the sub-network they belong to: `audio2exp.`, `audio2pose.`,
  `face_3drecon.`, `kp_extractor.`, `generator.` (the original saved a wrapper
  module holding the five).
- `mapping_00229-model.pth.tar` (crop) / `mapping_00109-model.pth.tar` (full):
  pickles `{"mapping": state_dict, "discriminator": ..., "optimizer_*": ..., "epoch": ...}`.
- `epoch_20.pth`: pickle `{"net_recon": state_dict, ...}`, the older home of the
  face reconstruction network (the safetensors files hold the same network).

Pickles are read with `weights_only=True`, so a file that would run code when
unpickled is refused instead of executed; every section is checked key by key,
so a wrong file fails with one sentence naming the first key that does not fit.
"""

from __future__ import annotations

from pathlib import Path

import torch

from avatar.errors import InputError
from avatar.models.loaders import load_weights_file

PUBLISHED = "use the published SadTalker checkpoints (`avatar models pull sadtalker`)"
# BatchNorm counters: absent from some old checkpoints, unused at inference.
OPTIONAL_SUFFIX = "num_batches_tracked"


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint file's contents as tensors (safetensors) or plain containers (pickle without code)."""
    return load_weights_file(Path(path), PUBLISHED)


def section(tensors: dict, prefix: str, name: str) -> dict[str, torch.Tensor]:
    """The keys under `prefix.` with the prefix removed; `name` (the file) is named if there are none."""
    lead = prefix + "."
    found = {key[len(lead):]: value for key, value in tensors.items() if isinstance(key, str) and key.startswith(lead)}
    if not found:
        raise InputError(f"{name} holds no {prefix} weights; {PUBLISHED}.")
    return found


def entry(checkpoint: object, key: str, name: str) -> dict[str, torch.Tensor]:
    """`checkpoint[key]` of a pickled training checkpoint (`mapping`, `net_recon`), checked to be a dict."""
    value = checkpoint.get(key) if isinstance(checkpoint, dict) else None
    if not isinstance(value, dict):
        raise InputError(f"{name} holds no {key} state dict; {PUBLISHED}.")
    return value


def check_state_dict(sd: dict[str, torch.Tensor], model: torch.nn.Module, what: str) -> None:
    """Raise InputError naming the first key of `model` that is missing, mis-shaped, or unexpected in `sd`."""
    expected = model.state_dict()
    for key, reference in expected.items():
        value = sd.get(key)
        if value is None:
            if key.endswith(OPTIONAL_SUFFIX):
                continue
            raise InputError(f"The {what} weights are missing {key}; {PUBLISHED}.")
        if not isinstance(value, torch.Tensor) or value.shape != reference.shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise InputError(f"The {what} weights' {key} is {shape} where the network has {tuple(reference.shape)}; {PUBLISHED}.")
    for key in sd:
        if key not in expected:
            raise InputError(f"The {what} weights have an unexpected key {key}; {PUBLISHED}.")


def load_into(model: torch.nn.Module, sd: dict[str, torch.Tensor], what: str) -> torch.nn.Module:
    """Check `sd` against `model`, load it, and return the model in eval mode without gradients."""
    check_state_dict(sd, model, what)
    model.load_state_dict(sd, strict=False)  # strict apart from the optional BatchNorm counters
    return model.eval().requires_grad_(False)

