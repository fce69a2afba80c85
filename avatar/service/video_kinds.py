"""Video tool jobs: upscaling."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from avatar.errors import InputError
from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind, allowed


def _check_upscale(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.registry import get_registry
    from avatar.video.upscale import resolve_method

    allowed(params, ("target_height", "method", "seed"))
    if "video" not in inputs:
        raise InputError("The upscaling job needs a video file.")
    return "cpu" if resolve_method(str(params.get("method", "auto")), get_registry()) != "sd-x4-upscaler" else "gpu"


def _run_upscale(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.video.upscale import upscale_video

    result = upscale_video(inputs["video"], target_height=int(params.get("target_height", 720)),
                           method=str(params.get("method", "auto")), seed=int(params.get("seed", 0)),
                           job_dir=out, progress=progress)
    return sorted(p.name for p in Path(result.job_dir).iterdir() if p.is_file())


UPSCALE = JobKind("upscale", "Upscaling", ("video",), _check_upscale, _run_upscale,
                  lambda params: f"to {params.get('target_height', 720)} px high")
VIDEO_KINDS = (UPSCALE,)
