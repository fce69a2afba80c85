"""An image tool's result in its job's results folder, with a manifest to explain and reproduce it."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from avatar.jobs import sha256_of, write_manifest
from avatar.media import save_image


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
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    if result is not None:
        save_image(folder / "result.png", result)
        names.append("result.png")
    save_image(folder / "mask.png", mask.astype(np.uint8) * 255)
    manifest = {
        "task": kind,
        "input": {"sha256": sha256_of(np.ascontiguousarray(source).tobytes()), "shape": list(source.shape)},
        "options": asdict(options) if is_dataclass(options) else options,
        **(details or {}),
    }
    write_manifest(folder, manifest)
    return [*names, "mask.png", "manifest.json"]
