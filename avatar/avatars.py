"""The shipped default portraits (default_avatars/).

Each portrait is an image file; its name is the file stem. A `<name>.landmarks.json`
sidecar next to it, when present, gives its 68 landmarks so it needs no detection.
Sources and licenses are listed in default_avatars/CREDITS.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from avatar import config
from avatar.errors import InputError, quoted
from avatar.face.sidecar import sidecar_path_for

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class DefaultAvatar:
    """One shipped portrait: `name` (file stem, used by the CLI), `title` (for the gallery)."""

    name: str
    title: str
    image_path: Path
    landmarks_path: Path | None


def list_default_avatars() -> list[DefaultAvatar]:
    """All shipped portraits, sorted by name ([] when the folder is missing)."""
    folder = config.default_avatars_dir()
    if not folder.is_dir():
        return []
    avatars = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        sidecar = sidecar_path_for(path)
        avatars.append(
            DefaultAvatar(
                name=path.stem,
                title=path.stem.replace("_", " ").replace("-", " ").title(),
                image_path=path,
                landmarks_path=sidecar if sidecar.is_file() else None,
            )
        )
    return avatars


def get_default_avatar(name: str) -> DefaultAvatar:
    """The shipped portrait called `name`; InputError listing the choices when unknown."""
    avatars = list_default_avatars()
    for avatar in avatars:
        if avatar.name == name:
            return avatar
    available = ", ".join(a.name for a in avatars) or "none installed"
    raise InputError(f"There is no default avatar called {quoted(name)}; choose one of: {available}.")


def thumbnail(avatar: DefaultAvatar, size: int = 160) -> np.ndarray:
    """A small RGB uint8 copy (long side `size`) for the gallery, cached per file version."""
    path = avatar.image_path
    return _thumbnail(str(path), path.stat().st_mtime_ns, int(size))


@functools.lru_cache(maxsize=64)
def _thumbnail(path: str, mtime_ns: int, size: int) -> np.ndarray:
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        array = np.asarray(image).copy()
    array.setflags(write=False)  # shared by every caller of the cache
    return array
