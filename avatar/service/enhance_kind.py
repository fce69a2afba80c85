"""The face enhancement job: an image or a video in, its face restored with GFPGAN (and the rest sharpened with
Real-ESRGAN when asked) out.

Its parameters are `avatar.enhance.options.EnhanceOptions`, declared once for the
checks, the API's schema, the CLI's flags and the page. The check opens the input
as the run will and names a missing model (with its install command) at submit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from avatar.enhance.options import EnhanceOptions
from avatar.errors import InputError
from avatar.options import from_params, json_schema
from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind


def _source(inputs: Inputs) -> tuple[str, Path]:
    """The one input file: ("image" | "video", its path), or one sentence."""
    given = [field for field in ("image", "video") if field in inputs]
    if len(given) != 1:
        raise InputError("Give one file to enhance: an image (the file field 'image') or a video (the file field "
                         "'video'), not both and not neither.")
    return given[0], inputs[given[0]]


def _check(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.enhance.tool import check_request

    options = from_params(EnhanceOptions, params)
    check_request(options)  # a missing model is named before the job is queued
    field, path = _source(inputs)
    if field == "image":
        from avatar.media import load_image

        load_image(path)
    else:
        from avatar.video.io import open_video

        with open_video(path):
            pass
    return "gpu"


def _run(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.enhance.tool import enhance_file

    field, path = _source(inputs)
    suffix = path.suffix if path.suffix else (".png" if field == "image" else ".mp4")
    result = enhance_file(path, from_params(EnhanceOptions, params), name=f"{field}{suffix}", job_dir=out,
                          progress=progress)
    return sorted(p.name for p in Path(result.job_dir).iterdir() if p.is_file())


def _describe(params: dict[str, Any]) -> str:
    return f"{params.get('mode', EnhanceOptions.mode)}, x{params.get('scale', EnhanceOptions.scale)}"


ENHANCE = JobKind("enhance", "Face enhancement", ("image", "video"), _check, _run, _describe,
                  lambda: json_schema(EnhanceOptions))
