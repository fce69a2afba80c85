"""Keep an image-tool result in its own job folder, with a manifest to reproduce it."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from avatar.jobs import new_job_dir, sha256_of, write_manifest
from avatar.media import save_image


def save_edit_job(
    kind: str,
    source: np.ndarray,
    result: np.ndarray,
    mask: np.ndarray,
    options: Any = None,
    details: Optional[dict[str, Any]] = None,
    session: Optional[str] = None,
) -> Path:
    """Write result.png, mask.png and manifest.json into a new job folder; return result.png.

    The manifest records the input by hash (not a copy), the options and the engine,
    so a result can be explained or made again.
    """
    job = new_job_dir(kind, session=session)
    result_path = save_image(job / "result.png", result)
    save_image(job / "mask.png", mask.astype(np.uint8) * 255)
    manifest = {
        "task": kind,
        "input": {"sha256": sha256_of(np.ascontiguousarray(source).tobytes()), "shape": list(source.shape)},
        "options": asdict(options) if is_dataclass(options) else options,
        **(details or {}),
    }
    write_manifest(job, manifest)
    return result_path
