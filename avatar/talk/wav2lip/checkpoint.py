"""Load published Wav2Lip checkpoints as plain tensors and turn them into a ready network.

`wav2lip.pth` / `wav2lip_gan.pth` are pickles holding `{"state_dict": ...,
"optimizer": ..., "global_step": ..., "global_epoch": ...}`, sometimes with
`module.` before every key (saved from `nn.DataParallel`). They are read with
`weights_only=True`, so a file that would run code when unpickled is refused
instead of executed, and checked key by key, so a wrong file fails with one
sentence naming what is wrong rather than a wall of torch's load errors.
"""

from __future__ import annotations

from pathlib import Path

import torch

from avatar.errors import InputError
from avatar.models.loaders import load_weights_file
from avatar.talk.wav2lip.model import Wav2Lip

PUBLISHED = "use the published wav2lip_gan.pth or wav2lip.pth"
# Old BatchNorm checkpoints lack these counters; torch fills them in and inference ignores them.
OPTIONAL_SUFFIX = "num_batches_tracked"


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors by key, unwrapped from `state_dict` and without a `module.` prefix."""
    path = Path(path)
    checkpoint = load_weights_file(path, PUBLISHED)
    return state_dict_of(checkpoint, path.name)


def state_dict_of(checkpoint: object, name: str = "The Wav2Lip checkpoint") -> dict[str, torch.Tensor]:
    """A loaded checkpoint's tensors by key: unwrapped from `state_dict`, without `module.` prefixes.

    Shared by `read_state_dict` and the engine, which gets the checkpoint already
    read (with `weights_only=True`) from the model registry.
    """
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict):
        raise InputError(f"{name} holds no state dict; {PUBLISHED}.")
    return {str(key).removeprefix("module."): value for key, value in checkpoint.items()}


def check_state_dict(sd: dict[str, torch.Tensor]) -> None:
    """Raise InputError naming the first key that is missing, mis-shaped or unexpected.

    Keys are walked in the network's own order, so the message names the layer
    nearest the input that does not fit; unexpected keys are reported after.
    """
    expected = Wav2Lip().state_dict()
    for key, reference in expected.items():
        value = sd.get(key)
        if value is None:
            if key.endswith(OPTIONAL_SUFFIX):
                continue
            raise InputError(f"The Wav2Lip checkpoint is missing {key}; it is not a Wav2Lip checkpoint, {PUBLISHED}.")
        if not isinstance(value, torch.Tensor):
            raise InputError(f"The Wav2Lip checkpoint's {key} is not a tensor; {PUBLISHED}.")
        if value.shape != reference.shape:
            raise InputError(
                f"The Wav2Lip checkpoint's {key} has shape {tuple(value.shape)} where Wav2Lip has "
                f"{tuple(reference.shape)}; it is not a Wav2Lip checkpoint, {PUBLISHED}."
            )
    for key in sd:
        if key not in expected:
            raise InputError(f"The Wav2Lip checkpoint has an unexpected key {key}; it is not a Wav2Lip checkpoint, {PUBLISHED}.")


def build_model(
    sd: dict[str, torch.Tensor], device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> Wav2Lip:
    """A checked network in eval mode on `device`/`dtype`, prepared for inference only.

    Batch norms are folded into their convolutions (exact in eval mode, one
    fewer pass over every feature map) and weights are stored channels-last,
    which lets oneDNN run the convolutions without reordering on each call.
    Measured with `python -m benchmarks.wav2lip`. The returned model's own
    state dict is therefore the folded one, not the checkpoint's layout.
    """
    check_state_dict(sd)
    model = Wav2Lip()
    model.load_state_dict(sd, strict=True)
    model.eval().fold_batch_norms()
    model.to(device=device, dtype=dtype, memory_format=torch.channels_last)
    model.requires_grad_(False)
    return model


def load_wav2lip(
    path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> Wav2Lip:
    """Read, check and build a Wav2Lip checkpoint (the path every real checkpoint takes)."""
    return build_model(read_state_dict(path), device=device, dtype=dtype)
