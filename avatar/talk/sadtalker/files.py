"""SadTalker's published files: their names, which part of a job needs which, and whether they are installed.

Kept free of torch, so the engine picker and the early checks of a job
(`SadTalkerEngine.check_ready`) cost no torch import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from avatar.errors import InputError, ModelNotInstalled

MODEL_ID = "sadtalker"
SIZES = (256, 512)
PREPROCESS = ("crop", "full")
MAPPING_FILES = {"crop": "mapping_00229-model.pth.tar", "full": "mapping_00109-model.pth.tar"}
COEFFICIENTS = {"crop": 70, "full": 73}
INSTALL = f"avatar models pull {MODEL_ID}"


def renderer_file(size: int) -> str:
    return f"SadTalker_V0.0.2_{size}.safetensors"


def part_name(size: int, preprocess: str) -> str:
    """The registry part holding the networks for this renderer size and preprocess mode."""
    return f"{size}-{preprocess}"


def parse_part(part: str) -> tuple[int, str]:
    size, _, preprocess = part.partition("-")
    if not size.isdigit() or int(size) not in SIZES or preprocess not in PREPROCESS:
        raise InputError(f"{part!r} is not a SadTalker part; use one of {', '.join(part_name(s, p) for s in SIZES for p in PREPROCESS)}.")
    return int(size), preprocess


def part_files(part: str) -> tuple[str, str]:
    """The two published files a part is built from."""
    size, preprocess = parse_part(part)
    return renderer_file(size), MAPPING_FILES[preprocess]


def find_file(folder: Path, name: str) -> Optional[Path]:
    """`name` in the install folder or below it (a downloaded snapshot may keep a `checkpoints/` folder)."""
    direct = folder / name
    if direct.is_file():
        return direct
    return next((p for p in sorted(folder.rglob(name)) if p.is_file()), None)


def missing_files(folder: Path, part: str) -> list[str]:
    return [name for name in part_files(part) if find_file(folder, name) is None]


def require_files(folder: Path, part: str) -> tuple[Path, Path]:
    """The part's renderer and mapping files, or `ModelNotInstalled` naming the missing ones and the command."""
    missing = missing_files(folder, part)
    if missing:
        raise ModelNotInstalled(
            f"SadTalker's {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing from {folder}; "
            f"install the files with `{INSTALL}` (or `avatar models import {MODEL_ID} FILE` for each file you have)."
        )
    renderer, mapping = (find_file(folder, name) for name in part_files(part))
    return renderer, mapping
