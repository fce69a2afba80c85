"""What a job can be: each kind checks its parameters and files cheaply, says which queue it needs, and runs.

`check(params, inputs)` runs when the job is submitted (an `InputError` there is the
API's 422 and the page's `st.error`, before anything is queued) and returns the
queue: "cpu" for work that needs no accelerator (the built-in engine, classical
inpainting, Lanczos upscaling), so it never waits behind GPU jobs, "gpu" otherwise.
`run(params, inputs, out, progress)` writes the results into `out` and returns
their file names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from avatar.errors import InputError
from avatar.progress import Progress

Inputs = dict[str, Path]


@dataclass(frozen=True)
class JobKind:
    name: str
    files: tuple[str, ...]  # the input file fields it accepts
    check: Callable[[dict[str, Any], Inputs], str]
    run: Callable[[dict[str, Any], Inputs, Path, Optional[Progress]], list[str]]


def _allowed(params: dict[str, Any], names: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise InputError(f"Unknown parameter {unknown[0]!r}; this job takes: {', '.join(names)}.")


# -- talking video ---------------------------------------------------------------------------

_TALK_PARAMS = ("text", "avatar", "voice", "language", "rate", "engine", "seed", "still", "size", "transcript",
                "expression_scale", "face_index", "pads", "pose_style", "preprocess", "face_size")


def _talk_options(params: dict[str, Any], inputs: Inputs):
    from avatar.talk.engine import TalkOptions
    from avatar.talk.wav2lip.engine import DEFAULT_PADS

    try:
        return TalkOptions(
            max_size=int(params.get("size", 768)), still=bool(params.get("still", False)),
            seed=int(params.get("seed", 0)), expression_scale=float(params.get("expression_scale", 1.0)),
            pads=tuple(int(p) for p in params.get("pads", DEFAULT_PADS)), pose_style=int(params.get("pose_style", 0)),
            preprocess=str(params.get("preprocess", "full")), face_size=int(params.get("face_size", 256)),
            blink_video=str(inputs["blink_video"]) if "blink_video" in inputs else None,
        ).validate()
    except (TypeError, ValueError):
        raise InputError("size, seed, pads, pose_style and face_size must be whole numbers and "
                         "expression_scale a number.") from None


def _face_index(params: dict[str, Any]) -> Optional[int]:
    value = params.get("face_index")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError("face_index must be a whole number (0 = the largest face).")
    return value


def _check_talk(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.avatars import get_default_avatar
    from avatar.speech.text import check_text
    from avatar.talk.engine import get_engine
    from avatar.talk.pipeline import check_voice

    _allowed(params, _TALK_PARAMS)
    if ("portrait" in inputs) == ("avatar" in params):
        raise InputError("Give either a portrait file or the name of a default avatar, not both and not neither.")
    if "avatar" in params:
        get_default_avatar(str(params["avatar"]))
    if ("text" in params) == ("audio" in inputs):
        raise InputError("Give either text to speak or an audio recording, not both and not neither.")
    if "text" in params:
        check_text(params["text"])
    _face_index(params)
    options = _talk_options(params, inputs)
    engine = str(params.get("engine", "builtin"))
    get_engine(engine).check_ready(options)
    voice = str(params.get("voice", "joe"))
    sample = check_voice(voice, inputs.get("voice_sample"), str(params.get("language", "en")),
                         typed="text" in params)
    return "cpu" if engine == "builtin" and sample is None else "gpu"


def _run_talk(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.avatars import get_default_avatar
    from avatar.talk.pipeline import make_talking_video

    landmarks = None
    if "avatar" in params:
        avatar = get_default_avatar(str(params["avatar"]))
        portrait, landmarks = avatar.image_path, avatar.landmarks_path
    else:
        portrait = inputs["portrait"]
    result = make_talking_video(
        portrait, text=params.get("text"), audio=inputs.get("audio"), transcript=params.get("transcript"),
        rate=float(params.get("rate", 1.0)), voice=str(params.get("voice", "joe")),
        voice_sample=inputs.get("voice_sample"), language=str(params.get("language", "en")),
        engine=str(params.get("engine", "builtin")), options=_talk_options(params, inputs),
        face_index=_face_index(params), landmarks_path=landmarks, job_dir=out, progress=progress)
    return [p.name for p in (result.video_path, result.audio_path, result.captions_path, result.manifest_path) if p]


# -- image inpainting ------------------------------------------------------------------------

def _check_inpaint(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.edit.inpaint import resolve_method

    _allowed(params, ("method",))
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


# -- video upscaling -------------------------------------------------------------------------

def _check_upscale(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.registry import get_registry
    from avatar.video.upscale import resolve_method

    _allowed(params, ("target_height", "method", "seed"))
    if "video" not in inputs:
        raise InputError("The upscaling job needs a video file.")
    return "cpu" if resolve_method(str(params.get("method", "auto")), get_registry()) != "sd-x4-upscaler" else "gpu"


def _run_upscale(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.video.upscale import upscale_video

    result = upscale_video(inputs["video"], target_height=int(params.get("target_height", 720)),
                           method=str(params.get("method", "auto")), seed=int(params.get("seed", 0)),
                           job_dir=out, progress=progress)
    return sorted(p.name for p in Path(result.job_dir).iterdir() if p.is_file())


KINDS: dict[str, JobKind] = {
    kind.name: kind for kind in (
        JobKind("talk", ("portrait", "audio", "voice_sample", "blink_video"), _check_talk, _run_talk),
        JobKind("inpaint", ("image", "mask"), _check_inpaint, _run_inpaint),
        JobKind("upscale", ("video",), _check_upscale, _run_upscale),
    )
}


def get_kind(name: str) -> JobKind:
    try:
        return KINDS[name]
    except KeyError:
        raise InputError(f"Unknown job kind {name!r}; use one of: {', '.join(KINDS)}.") from None
