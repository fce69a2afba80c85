"""Video tool jobs: text to video, image to video, video inpainting, upscaling.

Each kind's parameters are its tool's options as declared in avatar/video/options.py
(checked and defaulted by `avatar.options.from_params`, documented in the API from
the same declaration). Each check runs the tool's own option checks and asks the registry for the model it
needs, so a bad option or a missing model is refused at submit; the input video is
opened (probed, not decoded) there too, so an unreadable or over-long one never
waits in line. Jobs without a model (propagation, Lanczos) go to the cpu queue.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Optional

from avatar.errors import InputError, quoted
from avatar.options import from_params, json_schema
from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind, shorten
from avatar.video.options import (PROPAGATION, ImageToVideoOptions, InpaintVideoOptions, TextToVideoOptions,
                                  UpscaleOptions)


def _results(result) -> list[str]:
    """A video tool's job folder holds video.mp4 and manifest.json."""
    return sorted(p.name for p in Path(result.job_dir).iterdir() if p.is_file())


def _probe(inputs: Inputs, what: str):
    """The input video's facts, opened as the run will open it (format, length, size limits), or one sentence."""
    from avatar.video.io import open_video

    if "video" not in inputs:
        raise InputError(f"The {what} job needs a video file.")
    with open_video(inputs["video"]) as video:
        return video.info


# -- text to video ---------------------------------------------------------------------------


def _check_t2v(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.models.registry import get_registry
    from avatar.video.generate import TEXT_TO_VIDEO_MODEL, check_text_to_video

    check_text_to_video(from_params(TextToVideoOptions, params))
    get_registry().require(TEXT_TO_VIDEO_MODEL)
    return "gpu"


def _run_t2v(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.video.generate import text_to_video

    options = asdict(from_params(TextToVideoOptions, params))
    return _results(text_to_video(options.pop("prompt"), **options, job_dir=out, progress=progress))


# -- image to video --------------------------------------------------------------------------

_I2V_FILE_OR_AVATAR = ("avatar",)  # the still: an image file, or the name of a default avatar


def _still(params: dict[str, Any], inputs: Inputs) -> Path:
    """The picture to animate: the uploaded image, or the default avatar named."""
    from avatar.avatars import get_default_avatar

    avatar = params.get("avatar")
    if avatar is not None and not isinstance(avatar, str):
        raise InputError(f"avatar must be text, not {quoted(avatar)}.")
    if ("image" in inputs) == (avatar is not None):
        raise InputError("Give either an image file or the name of a default avatar, not both and not neither.")
    return inputs["image"] if avatar is None else get_default_avatar(avatar).image_path


def _i2v_options(params: dict[str, Any]) -> ImageToVideoOptions:
    return from_params(ImageToVideoOptions, params, allow=_I2V_FILE_OR_AVATAR)


def _check_i2v(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.media import load_image
    from avatar.models.registry import get_registry
    from avatar.video.generate import IMAGE_TO_VIDEO_MODEL, check_image_to_video

    options = _i2v_options(params)
    load_image(_still(params, inputs))  # readable, an image, not too large
    check_image_to_video(options)
    get_registry().require(IMAGE_TO_VIDEO_MODEL)
    return "gpu"


def _run_i2v(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.video.generate import image_to_video

    options = _i2v_options(params)
    return _results(image_to_video(_still(params, inputs), **asdict(options), job_dir=out, progress=progress))


def _describe_i2v(params: dict[str, Any]) -> str:
    what = str(params["avatar"]).replace("_", " ").title() if params.get("avatar") else "Your picture"
    return f"{what} in motion, {params.get('frames', ImageToVideoOptions.frames)} frames"


# -- video inpainting ------------------------------------------------------------------------


def _check_video_inpaint(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.models.registry import get_registry
    from avatar.video.inpaint import CLIPSEG_ID, check_inpaint_video, resolve_video_method, still_mask

    options = from_params(InpaintVideoOptions, params)
    given = [name for name in ("mask", "box", "mask_prompt")
             if (name in inputs if name == "mask" else getattr(options, name) is not None)]
    if len(given) != 1:
        raise InputError("Give exactly one of a mask file, a box or a description (mask_prompt) of the area to fill.")
    check_inpaint_video(options)
    if options.mask_prompt is not None:
        get_registry().require(CLIPSEG_ID)
    method = resolve_video_method(options.method, get_registry())
    info = _probe(inputs, "video inpainting")
    if "mask" in inputs:  # a mask that does not fit the video is refused now, not after the job waited its turn
        still_mask(inputs["mask"], info.width, info.height)
    return "cpu" if method == PROPAGATION and options.mask_prompt is None else "gpu"


def _run_video_inpaint(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.video.inpaint import inpaint_video

    options = asdict(from_params(InpaintVideoOptions, params))
    return _results(inpaint_video(inputs["video"], mask=inputs.get("mask"), **options, job_dir=out,
                                  progress=progress))


def _describe_video_inpaint(params: dict[str, Any]) -> str:
    area = (f"“{shorten(str(params['mask_prompt']), 40)}”" if params.get("mask_prompt")
            else "a box" if params.get("box") else "a mask")
    return f"fill {area} with {params.get('method', InpaintVideoOptions.method)}"


# -- upscaling -------------------------------------------------------------------------------


def _check_upscale(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.models.registry import get_registry
    from avatar.video.io import open_video
    from avatar.video.upscale import MODEL_ID, check_options, resolve_method

    options = from_params(UpscaleOptions, params)
    method = resolve_method(options.method, get_registry())
    if method == MODEL_ID:
        get_registry().require(method)
    if "video" not in inputs:
        raise InputError("The upscaling job needs a video file.")
    with open_video(inputs["video"]) as video:
        check_options(replace(options, method=method), video.info.width, video.info.height)
    return "cpu" if method != MODEL_ID else "gpu"


def _run_upscale(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.video.upscale import upscale_video

    options = asdict(from_params(UpscaleOptions, params))
    return _results(upscale_video(inputs["video"], **options, job_dir=out, progress=progress))


TEXT_TO_VIDEO = JobKind("text_to_video", "Text to video", (), _check_t2v, _run_t2v,
                        lambda params: f"“{shorten(str(params.get('prompt', '')))}”",
                        lambda: json_schema(TextToVideoOptions))
IMAGE_TO_VIDEO = JobKind("image_to_video", "Image to video", ("image",), _check_i2v, _run_i2v, _describe_i2v,
                         lambda: json_schema(ImageToVideoOptions, extra={"avatar": {
                             "anyOf": [{"type": "string"}, {"type": "null"}],
                             "description": "the name of a default avatar to animate, instead of an image file"}}))
VIDEO_INPAINT = JobKind("video_inpaint", "Video inpainting", ("video", "mask"), _check_video_inpaint,
                        _run_video_inpaint, _describe_video_inpaint, lambda: json_schema(InpaintVideoOptions))
UPSCALE = JobKind("upscale", "Upscaling", ("video",), _check_upscale, _run_upscale,
                  lambda params: f"to {params.get('target_height', UpscaleOptions.target_height)} px high",
                  lambda: json_schema(UpscaleOptions))
VIDEO_KINDS = (TEXT_TO_VIDEO, IMAGE_TO_VIDEO, VIDEO_INPAINT, UPSCALE)
