"""Turning an installed model folder into a ready-to-use object, safely.

The registry calls `load_model(spec, path, policy)`; nothing else in the app calls
`from_pretrained`. What comes back depends on the catalog entry's kind:

- "diffusers": the pipeline, on the policy's device and dtype, progress bars off,
  attention slicing and VAE tiling on when memory is short.
- "clipseg": `SegmenterBundle(processor, model)`, the model in eval mode. It stays
  in float32 even on a GPU: it is small, and its processor makes float32 inputs.
- "weights": `WeightFiles(path, state_dicts)`, every checkpoint file read as data;
  or, when the entry names a `builder`, what the builder makes of the folder (ready
  networks, for engines whose files are too big to hold twice), one `part` at a time.
- "bundled": the path of the shipped file.

Pickle checkpoints are read only with `torch.load(..., weights_only=True)`, which
refuses any pickle that would run code; safetensors files are preferred.
"""

from __future__ import annotations

import importlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from avatar.models.catalog import ModelSpec
from avatar.models.devices import DevicePolicy
from avatar.errors import AvatarError, InputError


@dataclass
class SegmenterBundle:
    """CLIPSeg's processor (text + image -> tensors) and model (-> mask logits)."""

    processor: Any
    model: Any

    def to(self, device: str) -> "SegmenterBundle":
        self.model.to(device)
        return self


@dataclass
class WeightFiles:
    """The checkpoint files of a talking-head engine, read as plain tensors."""

    path: Path
    state_dicts: dict[str, dict] = field(default_factory=dict)

    def to(self, device: str) -> "WeightFiles":
        self.state_dicts = {name: _move(sd, device) for name, sd in self.state_dicts.items()}
        return self


def _move(value: Any, device: str) -> Any:
    import torch
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {key: _move(item, device) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_move(item, device) for item in value)
    return value


TRUSTED_COPY = "use a safetensors copy or one from a source you trust"


def load_weights_file(path: Path, advice: str = TRUSTED_COPY) -> dict:
    """Read a checkpoint file as tensors only: safetensors, or a pickle without code.

    Every engine's loader reads its files here, so a pickle that would run code
    is refused the same way everywhere; a bad file raises one sentence that ends
    with `advice` (what the user should use instead).
    """
    import torch
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as exc:
            raise InputError(f"{path.name} is not a readable safetensors file ({_first_line(exc)}); {advice}.") from None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise InputError(
            f"{path.name} is not a plain checkpoint: it asks to run code when loaded, so it was refused; {advice}."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise InputError(f"{path.name} is not a readable checkpoint ({_first_line(exc)}); {advice}.") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:120]


def is_complete(spec: ModelSpec, folder: Path) -> bool:
    """Does this folder (or file) hold an install of `spec`?"""
    if folder.is_file():
        return spec.kind == "weights"
    if not folder.is_dir():
        return False
    if spec.marker:
        return (folder / spec.marker).is_file()
    return bool(weight_files(folder, spec))


def weight_files(folder: Path, spec: ModelSpec) -> list[Path]:
    """The checkpoint files in a folder, safetensors first, then pickles."""
    files = [p for p in sorted(Path(folder).rglob("*")) if p.is_file() and any(p.name.endswith(s) for s in spec.weight_suffixes)]
    return sorted(files, key=lambda p: (p.suffix != ".safetensors", str(p)))


def _load_diffusers(spec: ModelSpec, path: Path, policy: DevicePolicy):
    import diffusers

    pipeline_class = getattr(diffusers, spec.pipeline_class)
    kwargs = dict(dtype=policy.dtype, local_files_only=True)
    if spec.variant and any(Path(path).rglob(f"*.{spec.variant}.safetensors")):
        kwargs["variant"] = spec.variant
    pipe = pipeline_class.from_pretrained(str(path), **kwargs)
    pipe.to(policy.device)
    pipe.set_progress_bar_config(disable=True)
    if policy.low_memory:
        if hasattr(pipe, "enable_attention_slicing"):
            pipe.enable_attention_slicing()
        if hasattr(pipe, "vae") and hasattr(pipe.vae, "enable_tiling"):
            pipe.vae.enable_tiling()
    return pipe


def _load_clipseg(path: Path, policy: DevicePolicy) -> SegmenterBundle:
    from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

    processor = CLIPSegProcessor.from_pretrained(str(path), local_files_only=True)
    model = CLIPSegForImageSegmentation.from_pretrained(str(path), local_files_only=True).eval()
    return SegmenterBundle(processor=processor, model=model.to(policy.device))


def load_model(spec: ModelSpec, path: Path, policy: DevicePolicy, part: Optional[str] = None) -> Any:
    """Load one installed model (or one of its `parts`) as described in the module docstring."""
    if spec.kind == "bundled":
        return Path(path)
    if spec.builder:
        module, function = spec.builder.split(":")
        return getattr(importlib.import_module(module), function)(Path(path), policy, part)
    try:
        if spec.kind == "diffusers":
            return _load_diffusers(spec, path, policy)
        if spec.kind == "clipseg":
            return _load_clipseg(path, policy)
    except (OSError, ValueError, KeyError, EnvironmentError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise AvatarError(
            f"The files of {spec.id} in {path} could not be loaded ({first}); "
            f"reinstall it with `{spec.install_command}` or import a complete copy."
        ) from None
    if spec.kind == "weights":
        folder = Path(path)
        files = [folder] if folder.is_file() else weight_files(folder, spec)
        if not files:
            raise AvatarError(f"{path} holds no checkpoint files for {spec.id}; reinstall it with `{spec.install_command}`.")
        state_dicts = {str(f.relative_to(folder)) if f != folder else f.name: load_weights_file(f) for f in files}
        return WeightFiles(path=folder, state_dicts=state_dicts).to(policy.device)
    raise ValueError(f"unknown model kind {spec.kind!r} for {spec.id}")


def memory_bytes(obj: Any) -> int:
    """Bytes of tensors an object holds (parameters and buffers of its torch modules)."""
    import torch
    modules: list[torch.nn.Module] = []
    if isinstance(obj, torch.nn.Module):
        modules = [obj]
    elif isinstance(obj, SegmenterBundle):
        modules = [obj.model]
    elif isinstance(obj, WeightFiles):
        return _tensor_bytes(obj.state_dicts)
    elif hasattr(obj, "components"):
        modules = [m for m in obj.components.values() if isinstance(m, torch.nn.Module)]
    total = 0
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            total += tensor.numel() * tensor.element_size()
    return total


def _tensor_bytes(value: Any) -> int:
    import torch
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def move(obj: Any, device: str) -> None:
    """Move a loaded model to `device` (used to offload to the CPU and back)."""
    if hasattr(obj, "to") and not isinstance(obj, Path):
        obj.to(device)
