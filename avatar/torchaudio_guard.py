"""Keep a torchaudio whose compiled extension cannot load from breaking the studio.

PyPI's torchaudio wheels are CUDA builds. Beside a CPU-only torch their extension
(`torchaudio/lib/_torchaudio.abi3.so`) fails to load (libc10_cuda.so is missing)
and torchaudio raises `OSError` at import. transformers imports torchaudio whenever
it is installed, so one optional package (the `voices` extra pulls it in) would
break every diffusers pipeline: portraits, inpainting, every video model.

torchaudio itself treats a *missing* extension as normal (its `_load_lib` returns
False and the pure-torch parts work: resampling, mel spectrograms, everything the
voice-cloning models use). Only a present-but-unloadable one is fatal. `install()`
puts an import hook in front of `torchaudio._extension.utils` that turns that one
failure into "no extension" (logged with its cause, and kept in `extension_error`), so torchaudio
imports, transformers and diffusers work, and Coqui's cloning models run on the
CPU torch. A torchaudio whose extension loads is left exactly as it is.

`avatar/__init__.py` installs the hook, so every entry point (CLI, pages, API,
workers, tests) has it before anything imports transformers.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
from types import ModuleType
from typing import Callable, Optional, Sequence

_LOG = logging.getLogger(__name__)
_TARGET = "torchaudio._extension.utils"

# Why the extension did not load, once it failed ("" while it loaded or was never tried).
extension_error = ""


def _tolerant(load_lib: Callable[[str], bool]) -> Callable[[str], bool]:
    def load(lib: str) -> bool:
        global extension_error
        try:
            return load_lib(lib)
        except OSError as exc:
            extension_error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            _LOG.info("torchaudio's compiled extension does not load beside this torch (%s); using its pure-torch parts only.", extension_error)
            return False

    return load


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Optional[ModuleType]:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        module._load_lib = _tolerant(module._load_lib)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]], target: Optional[ModuleType] = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader)
        return spec


def install() -> None:
    """Put the hook first on `sys.meta_path` (once); harmless when torchaudio is absent or healthy."""
    if _TARGET in sys.modules or any(isinstance(finder, _Finder) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())
