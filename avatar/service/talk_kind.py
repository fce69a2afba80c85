"""The talking-video job: a portrait (or a default avatar) and text or a recording."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from avatar.errors import InputError
from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind, allowed, shorten

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

    allowed(params, _TALK_PARAMS)
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


def _describe_talk(params: dict[str, Any]) -> str:
    who = str(params["avatar"]).replace("_", " ").title() if "avatar" in params else "Your portrait"
    said = f"“{shorten(str(params['text']))}”" if "text" in params else "a recording"
    return f"{who} says {said}"


TALK = JobKind("talk", "Talking video", ("portrait", "audio", "voice_sample", "blink_video"), _check_talk, _run_talk,
               _describe_talk)
