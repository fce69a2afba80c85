"""Where things live on disk, with environment overrides.

`AVATAR_HOME` moves everything (default: the project root, or the current directory
when installed elsewhere); `AVATAR_CHECKPOINTS` and `AVATAR_OUTPUTS` move one folder.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


def _home() -> Path:
    return Path(os.environ.get("AVATAR_HOME", PROJECT_DIR))


def default_avatars_dir() -> Path:
    """Shipped portraits (and their landmark sidecars)."""
    return Path(os.environ.get("AVATAR_DEFAULT_AVATARS", PROJECT_DIR / "default_avatars"))


def checkpoints_dir() -> Path:
    """User-supplied model weights, one folder per model id."""
    return Path(os.environ.get("AVATAR_CHECKPOINTS", _home() / "checkpoints"))


def outputs_dir() -> Path:
    """Job results, one folder per job."""
    return Path(os.environ.get("AVATAR_OUTPUTS", _home() / "outputs"))
