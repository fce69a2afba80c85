"""Image tool jobs: inpainting."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from avatar.errors import InputError
from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind, allowed


def _check_inpaint(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.edit.inpaint import resolve_method

    allowed(params, ("method",))
    for name in ("image", "mask"):
        if name not in inputs:
            raise InputError(f"The inpainting job needs an {name} file.")
    return "cpu" if resolve_method(str(params.get("method", "auto"))) == "classical" else "gpu"


def _run_inpaint(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.edit.inpaint import inpaint
    from avatar.edit.masks import load_mask
    from avatar.media import load_image, save_image

    out.mkdir(parents=True, exist_ok=True)
    result = inpaint(load_image(inputs["image"]), load_mask(inputs["mask"]), str(params.get("method", "auto")),
                     progress=progress)
    save_image(out / "result.png", result.image)
    return ["result.png"]


INPAINT = JobKind("inpaint", "Inpainting", ("image", "mask"), _check_inpaint, _run_inpaint,
                  lambda params: f"method {params.get('method', 'auto')}")
IMAGE_KINDS = (INPAINT,)
