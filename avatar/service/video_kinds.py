"""Video tool jobs: text to video, image to video, video inpainting, upscaling.

Each check runs the tool's own option checks and asks the registry for the model it
needs, so a bad option or a missing model is refused at submit; the input video is
opened (probed, not decoded) there too, so an unreadable or over-long one never
waits in line. Jobs without a model (propagation, Lanczos) go to the cpu queue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from avatar.errors import InputError
from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind, shorten, typed


def _results(result) -> list[str]:
    """A video tool's job folder holds video.mp4 and manifest.json."""
    return sorted(p.name for p in Path(result.job_dir).iterdir() if p.is_file())


def _probe(inputs: Inputs, what: str) -> None:
    """The input video, opened as the run will open it (format, length, size limits), or one sentence."""
    from avatar.video.io import open_video

    if "video" not in inputs:
        raise InputError(f"The {what} job needs a video file.")
    with open_video(inputs["video"]):
        pass


# -- text to video ---------------------------------------------------------------------------

_T2V = {"prompt": (str, ""), "negative_prompt": (str, ""), "frames": (int, 16), "steps": (int, 25),
        "guidance": (float, 9.0), "seed": (int, 0), "width": (int, 256), "height": (int, 256), "fps": (int, 8)}


def _check_t2v(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.models.registry import get_registry
    from avatar.video.generate import TEXT_TO_VIDEO_MODEL, TextToVideoOptions, check_text_to_video

    options = typed(params, _T2V)
    prompt = options.pop("prompt")
    options.pop("negative_prompt")
    check_text_to_video(prompt, TextToVideoOptions(**options))
    get_registry().require(TEXT_TO_VIDEO_MODEL)
    return "gpu"


def _run_t2v(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.video.generate import text_to_video

    options = typed(params, _T2V)
    return _results(text_to_video(options.pop("prompt"), **options, job_dir=out, progress=progress))


# -- image to video --------------------------------------------------------------------------

_I2V = {"avatar": (str, None), "frames": (int, 14), "motion_bucket": (int, 127), "noise_aug": (float, 0.02),
        "fps": (int, 7), "seed": (int, 0), "steps": (int, 25), "decode_chunk_size": (int, 8),
        "orientation": (str, "landscape"), "fit": (str, "crop")}


def _still(options: dict[str, Any], inputs: Inputs) -> Path:
    """The picture to animate: the uploaded image, or the default avatar named."""
    from avatar.avatars import get_default_avatar

    avatar = options.pop("avatar")
    if ("image" in inputs) == (avatar is not None):
        raise InputError("Give either an image file or the name of a default avatar, not both and not neither.")
    return inputs["image"] if avatar is None else get_default_avatar(avatar).image_path


def _check_i2v(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.media import load_image
    from avatar.models.registry import get_registry
    from avatar.video.generate import IMAGE_TO_VIDEO_MODEL, ImageToVideoOptions, check_image_to_video

    options = typed(params, _I2V)
    load_image(_still(options, inputs))  # readable, an image, not too large
    check_image_to_video(ImageToVideoOptions(**options))
    get_registry().require(IMAGE_TO_VIDEO_MODEL)
    return "gpu"


def _run_i2v(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.video.generate import image_to_video

    options = typed(params, _I2V)
    still = _still(options, inputs)
    return _results(image_to_video(still, **options, job_dir=out, progress=progress))


def _describe_i2v(params: dict[str, Any]) -> str:
    what = str(params["avatar"]).replace("_", " ").title() if params.get("avatar") else "Your picture"
    return f"{what} in motion, {params.get('frames', 14)} frames"


# -- video inpainting ------------------------------------------------------------------------

_INPAINT = {"box": (list, None), "mask_prompt": (str, None), "prompt": (str, ""), "negative_prompt": (str, ""),
            "method": (str, "auto"), "seed": (int, 0), "steps": (int, 25), "guidance": (float, 7.5),
            "strength": (float, 1.0), "only_masked": (bool, True)}


def _check_video_inpaint(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.edit.inpaint import InpaintOptions
    from avatar.models.registry import get_registry
    from avatar.video.inpaint import CLIPSEG_ID, PROPAGATION, resolve_video_method

    options = typed(params, _INPAINT)
    given = [name for name in ("mask", "box", "mask_prompt")
             if (name in inputs if name == "mask" else options[name] is not None)]
    if len(given) != 1:
        raise InputError("Give exactly one of a mask file, a box or a description (mask_prompt) of the area to fill.")
    if options["box"] is not None and (len(options["box"]) != 4 or
                                       not all(isinstance(v, (int, float)) for v in options["box"])):
        raise InputError("box must be four numbers x0, y0, x1, y1 (pixels).")
    if options["mask_prompt"] is not None:
        if not options["mask_prompt"].strip():
            raise InputError("Describe what to fill, for example 'the logo'.")
        get_registry().require(CLIPSEG_ID)
    InpaintOptions(prompt=options["prompt"], seed=options["seed"], steps=options["steps"],
                   guidance=options["guidance"], strength=options["strength"]).validate()
    method = resolve_video_method(options["method"], get_registry())
    _probe(inputs, "video inpainting")
    return "cpu" if method == PROPAGATION and options["mask_prompt"] is None else "gpu"


def _run_video_inpaint(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.video.inpaint import inpaint_video

    options = typed(params, _INPAINT)
    box = options.pop("box")
    result = inpaint_video(inputs["video"], mask=inputs.get("mask"), box=tuple(box) if box else None, **options,
                           job_dir=out, progress=progress)
    return _results(result)


def _describe_video_inpaint(params: dict[str, Any]) -> str:
    area = (f"“{shorten(str(params['mask_prompt']), 40)}”" if params.get("mask_prompt")
            else "a box" if params.get("box") else "a mask")
    return f"fill {area} with {params.get('method', 'auto')}"


# -- upscaling -------------------------------------------------------------------------------

_UPSCALE = {"target_height": (int, 720), "method": (str, "auto"), "noise_level": (int, 20), "seed": (int, 0),
            "steps": (int, 20), "guidance": (float, 0.0), "tile": (int, 128), "prompt": (str, "")}


def _check_upscale(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.models.registry import get_registry
    from avatar.video.io import open_video
    from avatar.video.upscale import UpscaleOptions, check_options, resolve_method

    options = typed(params, _UPSCALE)
    method = resolve_method(options["method"], get_registry())
    if method == "sd-x4-upscaler":
        get_registry().require(method)
    if "video" not in inputs:
        raise InputError("The upscaling job needs a video file.")
    with open_video(inputs["video"]) as video:
        check_options(UpscaleOptions(**{**options, "method": method}), video.info.width, video.info.height)
    return "cpu" if method != "sd-x4-upscaler" else "gpu"


def _run_upscale(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.video.upscale import upscale_video

    return _results(upscale_video(inputs["video"], **typed(params, _UPSCALE), job_dir=out, progress=progress))


TEXT_TO_VIDEO = JobKind("text_to_video", "Text to video", (), _check_t2v, _run_t2v,
                        lambda params: f"“{shorten(str(params.get('prompt', '')))}”")
IMAGE_TO_VIDEO = JobKind("image_to_video", "Image to video", ("image",), _check_i2v, _run_i2v, _describe_i2v)
VIDEO_INPAINT = JobKind("video_inpaint", "Video inpainting", ("video", "mask"), _check_video_inpaint,
                        _run_video_inpaint, _describe_video_inpaint)
UPSCALE = JobKind("upscale", "Upscaling", ("video",), _check_upscale, _run_upscale,
                  lambda params: f"to {params.get('target_height', 720)} px high")
VIDEO_KINDS = (TEXT_TO_VIDEO, IMAGE_TO_VIDEO, VIDEO_INPAINT, UPSCALE)
