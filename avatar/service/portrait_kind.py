"""The portrait job: a square portrait with an animatable face, generated from a prompt (Stable Diffusion)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from avatar.errors import InputError
from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind, allowed, shorten

_PARAMS = ("prompt", "negative_prompt", "seed", "steps", "guidance", "size", "max_attempts")
_DEFAULTS = {"negative_prompt": "", "seed": 0, "steps": 25, "guidance": 7.5, "size": 512, "max_attempts": 4}


def _options(params: dict[str, Any]) -> dict[str, Any]:
    """The options of `generate_portrait`, typed; defaults for the ones not given."""
    options = {**_DEFAULTS, **params}
    try:
        return {"prompt": str(options.get("prompt", "")), "negative_prompt": str(options["negative_prompt"]),
                "seed": int(options["seed"]), "steps": int(options["steps"]), "guidance": float(options["guidance"]),
                "size": int(options["size"]), "max_attempts": int(options["max_attempts"])}
    except (TypeError, ValueError):
        raise InputError("seed, steps, size and max_attempts must be whole numbers and guidance a number.") from None


def _check_portrait(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.generate import MODEL_ID, check_options
    from avatar.registry import get_registry

    allowed(params, _PARAMS)
    options = _options(params)
    check_options(options["prompt"], options["seed"], options["steps"], options["guidance"], options["size"],
                  options["max_attempts"])
    get_registry().require(MODEL_ID)
    return "gpu"


def _run_portrait(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.generate import generate_portrait
    from avatar.jobs import write_manifest
    from avatar.media import save_image

    options = _options(params)
    portrait = generate_portrait(**options, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    save_image(out / "portrait.png", portrait.image)
    write_manifest(out, {"task": "portrait", "model": portrait.model_id, "options": options,
                         "seed": portrait.seed, "attempts": portrait.attempts,
                         "face_box": [int(v) for v in portrait.face.box]})
    return ["portrait.png", "manifest.json"]


PORTRAIT = JobKind("portrait", "Portrait", (), _check_portrait, _run_portrait,
                   lambda params: f"“{shorten(str(params.get('prompt', '')))}”")
