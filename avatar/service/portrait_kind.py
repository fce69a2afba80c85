"""The portrait job: a square portrait with an animatable face, generated from a prompt (Stable Diffusion)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind, shorten, typed

_PORTRAIT = {"prompt": (str, ""), "negative_prompt": (str, ""), "seed": (int, 0), "steps": (int, 25),
             "guidance": (float, 7.5), "size": (int, 512), "max_attempts": (int, 4)}


def _check_portrait(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.generate import MODEL_ID, check_options
    from avatar.models.registry import get_registry

    options = typed(params, _PORTRAIT)
    check_options(options["prompt"], options["seed"], options["steps"], options["guidance"], options["size"],
                  options["max_attempts"])
    get_registry().require(MODEL_ID)
    return "gpu"


def _run_portrait(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.generate import generate_portrait
    from avatar.jobs import write_manifest
    from avatar.media import save_image

    options = typed(params, _PORTRAIT)
    portrait = generate_portrait(**options, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    save_image(out / "portrait.png", portrait.image)
    write_manifest(out, {"task": "portrait", "model": portrait.model_id, "options": options,
                         "seed": portrait.seed, "attempts": portrait.attempts,
                         "face_box": [int(v) for v in portrait.face.box]})
    return ["portrait.png", "manifest.json"]


PORTRAIT = JobKind("portrait", "Portrait", (), _check_portrait, _run_portrait,
                   lambda params: f"“{shorten(str(params.get('prompt', '')))}”")
