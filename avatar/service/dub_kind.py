"""The dubbing job: a video of a person and new speech (text or a recording) -> the video re-synced to it.

Its parameters are declared once: what is said and in which voice (`DubRequest`,
here) and how the video is dubbed (`avatar.video.dub.DubOptions`); the checks,
the API's schema, the CLI's flags and the page's widgets come from them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from avatar.options import from_params, json_schema, option, specs
from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind, shorten
from avatar.speech.voices import DEFAULT_CLONING_VOICE, VOICE_SPECS
from avatar.video.dub_options import DubOptions

@dataclass(frozen=True)
class DubRequest:
    """What the dubbed video says and in which voice (the video and recordings are files)."""

    text: Optional[str] = option(None, "what the person in the video says now (or give an audio file instead)")
    transcript: Optional[str] = option(None, "what the audio recording says, word for word, for exact lip timing")
    voice: str = option(VOICE_SPECS["voice"].default, VOICE_SPECS["voice"].help)
    clone_from_video: bool = option(False, "speak the text in the voice of the person in the video, taken from its "
                                    "sound (you must have their consent)")
    language: str = option(VOICE_SPECS["language"].default, VOICE_SPECS["language"].help)
    rate: float = option(VOICE_SPECS["rate"].default, VOICE_SPECS["rate"].help, min=VOICE_SPECS["rate"].min,
                         max=VOICE_SPECS["rate"].max, label=VOICE_SPECS["rate"].label)


def dub_job(params: dict[str, Any]) -> tuple[DubRequest, DubOptions]:
    """The job's parameters as a checked request and options; one sentence for the first problem."""
    own = {spec.name for spec in specs(DubOptions)}
    request = from_params(DubRequest, {k: v for k, v in params.items() if k not in own}, allow=own)
    options = from_params(DubOptions, {k: v for k, v in params.items() if k in own})
    if request.clone_from_video and "voice" not in params:
        request = dataclasses.replace(request, voice=DEFAULT_CLONING_VOICE)  # the bundled voice copies no one
    return request, options


def _check_dub(params: dict[str, Any], inputs: Inputs) -> str:
    """Everything a run would refuse, refused now: the values, the video (decoded, a face found near its start,
    the chosen face among them), the recording and the voice."""
    from avatar.errors import InputError
    from avatar.talk.pipeline import check_recording, check_sources, check_voice
    from avatar.speech.voices import get_voice
    from avatar.talk.engines import get_engine
    from avatar.video.dub import check_clone, check_engine, faces_at_start, open_dub_video
    from avatar.video.video_voice import voice_sample_from_video

    request, options = dub_job(params)
    if "video" not in inputs:
        raise InputError("Give the video to dub (the file field 'video').")
    check_engine(options)
    check_sources(request.text, inputs.get("audio"), request.transcript)
    check_clone(request.clone_from_video, request.text, inputs.get("voice_sample"))
    if request.clone_from_video:
        with open_dub_video(inputs["video"], None) as clip:
            sample = voice_sample_from_video(clip.audio(), clip.info.name)
        check_voice(request.voice, sample, request.language, rate=request.rate)
    else:
        check_voice(request.voice, inputs.get("voice_sample"), request.language, typed=request.text is not None,
                    rate=request.rate)
    if "audio" in inputs:
        check_recording(inputs["audio"])
    faces = faces_at_start(inputs["video"]).faces
    if options.face_index >= len(faces):
        raise InputError(f"The video shows {len(faces)} face{'s' if len(faces) != 1 else ''} at its start; "
                         f"choose a face index from 0 to {len(faces) - 1}.")
    return "gpu" if "gpu" in (get_voice(request.voice).queue, get_engine(options.engine).queue) else "cpu"


def _run_dub(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.video.dub import dub_video

    request, options = dub_job(params)
    values = dataclasses.asdict(request)
    result = dub_video(inputs["video"], text=values["text"], audio=inputs.get("audio"),
                       transcript=values["transcript"], rate=values["rate"], voice=values["voice"],
                       voice_sample=inputs.get("voice_sample"), clone_from_video=values["clone_from_video"],
                       language=values["language"], options=options,
                       job_dir=out, progress=progress)
    return [p.name for p in (result.video_path, result.audio_path, result.captions_path, result.manifest_path) if p]


def _describe_dub(params: dict[str, Any]) -> str:
    said = f"“{shorten(str(params['text']))}”" if params.get("text") else "a recording"
    return f"A video dubbed to {said}"


DUB = JobKind("dub", "Dubbed video", ("video", "audio", "voice_sample"), _check_dub, _run_dub, _describe_dub,
              schema=lambda: json_schema(DubRequest, DubOptions))
