"""Reading the published GFPGAN and Real-ESRGAN checkpoint files into the ports.

Both projects save training checkpoints as pickles `{"params_ema": state_dict}` (the
exponential moving average of the weights, the copy meant for inference) or, for some
files, `{"params": state_dict}`; the original loaders take `params_ema` when present.
Files are read with `weights_only=True` (through `load_weights_file`), so a pickle that
would run code is refused; a safetensors copy of the bare state dict is read as well.
Every key is checked against the port, so a wrong file fails with one sentence naming
the first key that does not fit, before any frame is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch

from avatar.errors import InputError
from avatar.models.loaders import load_weights_file

CONTAINERS = ("params_ema", "params")


def read_state_dict(path: str | Path, advice: str) -> dict[str, torch.Tensor]:
    """The inference weights in a published file: `params_ema`, else `params`, else the file itself if flat."""
    path = Path(path)
    data = load_weights_file(path, advice)
    if isinstance(data, dict):
        for name in CONTAINERS:
            if isinstance(data.get(name), dict):
                return data[name]
        if data and all(isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in data.items()):
            return data
    raise InputError(f"{path.name} holds no params_ema or params state dict; {advice}.")


def load_checked(
    model: torch.nn.Module,
    state_dict: dict[str, torch.Tensor],
    what: str,
    advice: str,
    unused_prefixes: Iterable[str] = (),
) -> torch.nn.Module:
    """Load `state_dict` into `model` after checking every key and shape; returns it in eval mode without gradients.

    Keys under `unused_prefixes` (parts the published file keeps for training, such as
    GFPGAN's intermediate RGB heads) are accepted and ignored.
    """
    unused = tuple(unused_prefixes)
    expected = model.state_dict()
    for key, reference in expected.items():
        value = state_dict.get(key)
        if value is None:
            raise InputError(f"The {what} weights are missing {key}; {advice}.")
        if not isinstance(value, torch.Tensor) or value.shape != reference.shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise InputError(f"The {what} weights' {key} is {shape} where the network has {tuple(reference.shape)}; {advice}.")
    for key in state_dict:
        if key not in expected and not key.startswith(unused):
            raise InputError(f"The {what} weights have an unexpected key {key}; {advice}.")
    model.load_state_dict({key: state_dict[key] for key in expected})
    return model.eval().requires_grad_(False)
