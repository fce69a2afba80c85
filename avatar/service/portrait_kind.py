"""The portrait job: a square portrait with an animatable face, generated from a prompt (Stable Diffusion).

Its parameters are `PortraitOptions` (declared once in `avatar.portrait.options`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from avatar.options import from_params, json_schema, params_of
from avatar.portrait.options import MODEL_ID, PortraitOptions, check_portrait
from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind, shorten


def portrait_options(params: dict[str, Any]) -> PortraitOptions:
    """A portrait job's options from its parameters, checked (the declared defaults where left out)."""
    return check_portrait(from_params(PortraitOptions, params))


def _check_portrait(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.models.registry import get_registry

    portrait_options(params)
    get_registry().require(MODEL_ID)
    return "gpu"


def _run_portrait(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.edit.job_files import write_pictures
    from avatar.portrait.generate import generate_portrait

    options = params_of(portrait_options(params))
    portrait = generate_portrait(**options, progress=progress)
    return write_pictures(out, {"portrait.png": portrait.image}, {
        "task": "portrait", "model": portrait.model_id, "options": options, "seed": portrait.seed,
        "attempts": portrait.attempts, "face_box": [int(v) for v in portrait.face.box]})


PORTRAIT = JobKind("portrait", "Portrait", (), _check_portrait, _run_portrait,
                   lambda params: f"“{shorten(str(params.get('prompt', '')))}”",
                   schema=lambda: json_schema(PortraitOptions))
