"""The talking-video job: a portrait (or a default avatar) and text or a recording."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from avatar.errors import InputError
from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind, shorten, typed

_TALK = {"text": (str, None), "avatar": (str, None), "voice": (str, "joe"), "language": (str, "en"),
         "rate": (float, 1.0), "engine": (str, "builtin"), "seed": (int, 0), "still": (bool, False),
         "size": (int, 768), "transcript": (str, None), "expression_scale": (float, 1.0), "face_index": (int, None),
         "pads": (list, None), "pose_style": (int, 0), "preprocess": (str, "full"), "face_size": (int, 256)}


def _talk_options(values: dict[str, Any], inputs: Inputs):
    """The engine options of the job's (typed) parameters, validated."""
    from avatar.talk.engine import TalkOptions
    from avatar.talk.wav2lip.engine import DEFAULT_PADS

    pads = values["pads"] if values["pads"] is not None else list(DEFAULT_PADS)
    if len(pads) != 4 or not all(isinstance(p, int) and not isinstance(p, bool) for p in pads):
        raise InputError("pads must be four whole numbers of pixels: top, bottom, left, right.")
    return TalkOptions(
        max_size=values["size"], still=values["still"], seed=values["seed"],
        expression_scale=values["expression_scale"], pads=tuple(pads), pose_style=values["pose_style"],
        preprocess=values["preprocess"], face_size=values["face_size"],
        blink_video=str(inputs["blink_video"]) if "blink_video" in inputs else None,
    ).validate()


def _check_talk(params: dict[str, Any], inputs: Inputs) -> str:
    from avatar.avatars import get_default_avatar
    from avatar.speech.text import check_text
    from avatar.talk.engine import get_engine
    from avatar.talk.pipeline import check_voice

    values = typed(params, _TALK)
    if ("portrait" in inputs) == (values["avatar"] is not None):
        raise InputError("Give either a portrait file or the name of a default avatar, not both and not neither.")
    if values["avatar"] is not None:
        get_default_avatar(values["avatar"])
    if (values["text"] is not None) == ("audio" in inputs):
        raise InputError("Give either text to speak or an audio recording, not both and not neither.")
    if values["text"] is not None:
        check_text(values["text"])
    options = _talk_options(values, inputs)
    get_engine(values["engine"]).check_ready(options)
    sample = check_voice(values["voice"], inputs.get("voice_sample"), values["language"],
                         typed=values["text"] is not None)
    return "cpu" if values["engine"] == "builtin" and sample is None else "gpu"


def _run_talk(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.avatars import get_default_avatar
    from avatar.talk.pipeline import make_talking_video

    values = typed(params, _TALK)
    landmarks = None
    if values["avatar"] is not None:
        avatar = get_default_avatar(values["avatar"])
        portrait, landmarks = avatar.image_path, avatar.landmarks_path
    else:
        portrait = inputs["portrait"]
    result = make_talking_video(
        portrait, text=values["text"], audio=inputs.get("audio"), transcript=values["transcript"],
        rate=values["rate"], voice=values["voice"], voice_sample=inputs.get("voice_sample"),
        language=values["language"], engine=values["engine"], options=_talk_options(values, inputs),
        face_index=values["face_index"], landmarks_path=landmarks, job_dir=out, progress=progress)
    return [p.name for p in (result.video_path, result.audio_path, result.captions_path, result.manifest_path) if p]


def _describe_talk(params: dict[str, Any]) -> str:
    who = str(params["avatar"]).replace("_", " ").title() if "avatar" in params else "Your portrait"
    said = f"“{shorten(str(params['text']))}”" if "text" in params else "a recording"
    return f"{who} says {said}"


TALK = JobKind("talk", "Talking video", ("portrait", "audio", "voice_sample", "blink_video"), _check_talk, _run_talk,
               _describe_talk)
