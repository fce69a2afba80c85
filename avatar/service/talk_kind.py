"""The talking-video job: a portrait (or a default avatar) and text or a recording.

Its parameters are declared once, as options: what is said and by which portrait
(`TalkRequest`, here), how the video is made whatever the engine
(`avatar.talk.engine.TalkOptions`), and the chosen engine's own settings (its
`Options`, found through the engine table `avatar.talk.engines`). The checks below,
the API's schema, the CLI's flags and the page's widgets all come from them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from avatar.errors import InputError
from avatar.options import from_params, json_schema, option, specs
from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind, shorten
from avatar.speech.voices import VOICE_SPECS
from avatar.talk.engine import DEFAULT_ENGINE, TalkOptions

BASE_FILES = ("portrait", "audio", "voice_sample", "landmarks")
"""The job's own input files (landmarks: a portrait's 68-point sidecar, used instead of detection); engines add
theirs (e.g. SadTalker's blink video)."""


@dataclass(frozen=True)
class TalkRequest:
    """What the avatar says, in which voice, and which portrait says it (the portrait and recordings are files)."""

    text: Optional[str] = option(None, "what the avatar says (or give an audio file instead)")
    avatar: Optional[str] = option(None, "a default avatar's name (or give a portrait file instead)")
    transcript: Optional[str] = option(None, "what the audio recording says, word for word, for exact lip timing")
    face_index: Optional[int] = option(None, "which face of the portrait to animate, 0 = the largest", min=0)
    engine: str = option(DEFAULT_ENGINE, "the animation engine")
    voice: str = option(VOICE_SPECS["voice"].default, VOICE_SPECS["voice"].help)
    language: str = option(VOICE_SPECS["language"].default, VOICE_SPECS["language"].help)
    rate: float = option(VOICE_SPECS["rate"].default, VOICE_SPECS["rate"].help, min=VOICE_SPECS["rate"].min,
                         max=VOICE_SPECS["rate"].max, label=VOICE_SPECS["rate"].label)


@dataclass(frozen=True)
class TalkJob:
    """A talk job's parameters, checked: the request, the engine and every option (the engine's own included)."""

    request: TalkRequest
    engine: Any
    options: TalkOptions


def talk_job(params: dict[str, Any], inputs: Inputs) -> TalkJob:
    """The job's parameters and files as a checked request and options; one sentence for the first problem.

    A parameter no declaration knows is refused, and so is an engine's option (or
    file) given for another engine, naming the engine it belongs to.
    """
    from avatar.talk.engine import file_options
    from avatar.talk.engines import engine_options, get_engine, refuse_foreign

    shared = [spec.name for spec in specs(TalkOptions)]
    own_names = list(dict.fromkeys(spec.name for declared in engine_options().values() for spec in declared))
    request = from_params(TalkRequest, {k: v for k, v in params.items() if k not in shared and k not in own_names},
                          allow=[*shared, *own_names])
    engine = get_engine(request.engine)
    refuse_foreign([*params, *inputs], engine)
    options = from_params(TalkOptions, {k: v for k, v in params.items() if k in shared})
    declared = {spec.name for spec in specs(engine.Options)}
    own = from_params(engine.Options, {k: v for k, v in params.items() if k in declared})
    files = {f.name: str(inputs[f.name]) for f in file_options(engine.Options) if f.name in inputs}
    return TalkJob(request, engine, dataclasses.replace(options, engine=dataclasses.replace(own, **files)))


def _check_talk(params: dict[str, Any], inputs: Inputs) -> str:
    """Everything a run would refuse, refused now: the values, then the files decoded as the run decodes them.

    The portrait is decoded and its face found (or its landmark file fitted), the
    recording decoded, measured and listened to for silence, so a corrupt, oversized,
    faceless, silent or too long upload is a 422 at submit, never a job that waits
    its turn only to fail. The face is cached by image, so an in-process run does
    not look for it twice.
    """
    from avatar.avatars import get_default_avatar
    from avatar.enhance.video import check_mode
    from avatar.speech.voices import get_voice
    from avatar.talk.pipeline import check_recording, check_sources, check_voice, prepare_portrait

    job = talk_job(params, inputs)
    values = dataclasses.asdict(job.request)
    if ("portrait" in inputs) == (values["avatar"] is not None):
        raise InputError("Give either a portrait file or the name of a default avatar, not both and not neither.")
    if values["avatar"] is not None:
        get_default_avatar(values["avatar"])
    if "landmarks" in inputs and "portrait" not in inputs:
        raise InputError("A landmarks file belongs to a portrait file; leave it out for a default avatar.")
    check_sources(values["text"], inputs.get("audio"), values["transcript"])
    job.engine.check_ready(job.options.validate())
    check_mode(job.options.enhance)  # a missing enhancement model is named before the job is queued
    check_voice(values["voice"], inputs.get("voice_sample"), values["language"], typed=values["text"] is not None,
                rate=values["rate"])
    if "audio" in inputs:
        check_recording(inputs["audio"])
    if "portrait" in inputs:
        prepare_portrait(inputs["portrait"], job.options.size, values["face_index"], inputs.get("landmarks"))
    return "gpu" if "gpu" in (get_voice(values["voice"]).queue, job.engine.queue) else "cpu"


def _run_talk(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.avatars import get_default_avatar
    from avatar.talk.pipeline import make_talking_video

    job = talk_job(params, inputs)
    values = dataclasses.asdict(job.request)
    landmarks = inputs.get("landmarks")
    if values["avatar"] is not None:
        avatar = get_default_avatar(values["avatar"])
        portrait, landmarks = avatar.image_path, avatar.landmarks_path
    else:
        portrait = inputs["portrait"]
    result = make_talking_video(
        portrait, text=values["text"], audio=inputs.get("audio"), transcript=values["transcript"],
        rate=values["rate"], voice=values["voice"], voice_sample=inputs.get("voice_sample"),
        language=values["language"], engine=job.engine, options=job.options,
        face_index=values["face_index"], landmarks_path=landmarks, job_dir=out, progress=progress)
    return [p.name for p in (result.video_path, result.audio_path, result.captions_path, result.manifest_path) if p]


def _describe_talk(params: dict[str, Any]) -> str:
    who = str(params["avatar"]).replace("_", " ").title() if "avatar" in params else "Your portrait"
    said = f"“{shorten(str(params['text']))}”" if "text" in params else "a recording"
    return f"{who} says {said}"


def _talk_schema() -> dict[str, Any]:
    """The request, the shared options and every engine's own options, each of those saying its engine."""
    from avatar.talk.engines import ENGINES

    schema = json_schema(TalkRequest, TalkOptions)
    schema["properties"]["engine"]["enum"] = list(ENGINES)
    for name, engine in ENGINES.items():
        for option_name, entry in json_schema(engine.Options)["properties"].items():
            entry["description"] = f"{engine.title} only: {entry['description']}"
            schema["properties"].setdefault(option_name, entry)
    return schema


class _Files(Sequence):
    """The job's file fields, its own and every engine's, read from the engine table when asked (so importing the
    job kinds does not load the engines, and an engine added to the table brings its files)."""

    def _names(self) -> tuple[str, ...]:
        from avatar.talk.engines import engine_files

        return tuple(dict.fromkeys([*BASE_FILES, *(f.name for files in engine_files().values() for f in files)]))

    def __getitem__(self, index):
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return repr(self._names())


TALK = JobKind("talk", "Talking video", _Files(), _check_talk, _run_talk, _describe_talk, schema=_talk_schema)
