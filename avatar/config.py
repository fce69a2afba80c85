"""Where things live on disk, with environment overrides, and how numeric settings are read from the environment.

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


def env_number(name: str, default: float, minimum: float = 0.0) -> float:
    """A numeric setting from the environment (`default` when unset or blank).

    A value that is not a finite number of at least `minimum` stops whatever reads
    it with one sentence naming the variable (an `AvatarError`), rather than a
    traceback, and is said when the server starts, not at its first request.
    """
    from avatar.errors import AvatarError

    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (minimum <= value < float("inf")):
        raise AvatarError(f"{name}={text[:40]!r} is not a number of {minimum:g} or more; set it to one, "
                          f"or unset it for the default ({default:g}).")
    return value
