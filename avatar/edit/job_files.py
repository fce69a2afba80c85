"""An image job's results in the folder the job service gives it, with a manifest to explain and reproduce them.

This is the one writer of the image jobs' result folders (inpainting, object shift
and removal, object masks, generated portraits): the job service makes the job's
folder, runs the kind into a work folder and renames it into place at the end; the
CLI commands copy a finished job's result to where their flags say.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from avatar.jobs import sha256_of, write_manifest
from avatar.media import save_image


def write_pictures(folder: Path, pictures: dict[str, np.ndarray], manifest: dict[str, Any]) -> list[str]:
    """Write each picture under its name and manifest.json into `folder`; the names written, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, picture in pictures.items():
        save_image(folder / name, picture)
    write_manifest(folder, manifest)
    return [*pictures, "manifest.json"]


def write_edit_result(
    folder: Path,
    kind: str,
    source: np.ndarray,
    result: Optional[np.ndarray],
    mask: np.ndarray,
    options: Any = None,
    details: Optional[dict[str, Any]] = None,
) -> list[str]:
    """Write result.png (when there is a result picture), mask.png and manifest.json into `folder`; their names.

    The manifest records the input by hash (not a copy), the options and the engine,
    so a result can be explained or made again.
    """
    pictures = {} if result is None else {"result.png": result}
    pictures["mask.png"] = mask.astype(np.uint8) * 255
    return write_pictures(folder, pictures, {
        "task": kind,
        "input": {"sha256": sha256_of(np.ascontiguousarray(source).tobytes()), "shape": list(source.shape)},
        "options": asdict(options) if is_dataclass(options) else options,
        **(details or {}),
    })
