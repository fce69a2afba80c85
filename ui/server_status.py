"""What this Streamlit server process really holds, for the sidebar: its memory, the models in it, where jobs run.

The registry counts only the large models it loads itself (diffusion pipelines,
Wav2Lip, SadTalker, cloning voices). The talking video's own models are bundled
with their packages and kept by the modules that use them, once per process: the
Piper voice, dlib's face landmarks, pocketsphinx's recogniser. They are read here
without importing anything, so asking never loads a model or a library.
"""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import dataclass
from typing import Optional

from avatar.models.catalog import CATALOG

# (module, its module-level attribute that holds the loaded model, catalog id or a label)
_HELD_BY_MODULES = (
    ("avatar.speech.piper_voice", "_engine", "piper-joe"),
    ("avatar.face.detect", "_models", "dlib-landmarks"),
    ("avatar.speech.recognize", "_recognizer", "pocketsphinx speech recogniser (bundled)"),
)


@dataclass(frozen=True)
class ProcessMemory:
    bytes: int
    peak: bool  # True where only the peak is known (no /proc): "at most", not "now"


def process_memory() -> Optional[ProcessMemory]:
    """This process's resident memory now (Linux /proc), else its peak (getrusage), else None."""
    try:
        with open("/proc/self/statm") as statm:
            return ProcessMemory(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"), peak=False)
    except (OSError, ValueError, IndexError):
        pass
    try:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (OSError, ValueError):
        return None
    return ProcessMemory(peak if sys.platform == "darwin" else peak * 1024, peak=True)


def bundled_models_in_memory() -> list[str]:
    """The names of the bundled models this process has loaded (outside the registry), in a fixed order."""
    names = []
    for module_name, attribute, model in _HELD_BY_MODULES:
        module = sys.modules.get(module_name)
        if module is None or getattr(module, attribute, None) is None:
            continue
        spec = CATALOG.get(model)
        names.append(f"`{model}`: {spec.name}" if spec else model)
    return names


def jobs_run_here() -> bool:
    """True when this process runs the jobs (threads here); False when Celery workers do (AVATAR_BROKER is set)."""
    from avatar.service.jobs import EmbeddedExecutor, get_service

    return isinstance(get_service().executor, EmbeddedExecutor)
