"""Make PyPI's torchaudio importable beside the CPU build of torch, for the voice-cloning tests.

PyPI's torchaudio wheels are CUDA builds: their compiled extension needs
libc10_cuda.so, which the CPU build of torch does not have, so `import torchaudio`
(and with it `import TTS`) fails. The CPU wheel lives on PyTorch's own index, which
CI cannot reach. torchaudio imports without its extension when the library files
are absent (its `_load_lib` returns False for a missing file), and everything Coqui's
XTTS/YourTTS inference uses from it (resample, MelSpectrogram) is plain torch code.
So, only when the extension cannot load, this moves the library files aside.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path


def main() -> int:
    spec = importlib.util.find_spec("torchaudio")
    if spec is None or not spec.submodule_search_locations:
        return 0
    probe = subprocess.run([sys.executable, "-c", "import torchaudio"], capture_output=True, text=True)
    if probe.returncode == 0 or "libc10_cuda" not in probe.stderr:
        return 0
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
    aside = lib.with_name("lib-cuda-only")
    aside.mkdir(exist_ok=True)
    for library in lib.glob("*.so"):
        shutil.move(str(library), aside / library.name)
    print(f"torchaudio: CUDA-only extension moved to {aside}; its Python ops run on this CPU torch")
    return subprocess.run([sys.executable, "-c", "import torchaudio"]).returncode


if __name__ == "__main__":
    raise SystemExit(main())
