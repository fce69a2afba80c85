"""Dub a video page: a video of a person + new speech -> the same video re-synced to it (thin layer over the `dub` job).

The video is checked and its faces found on upload (`ui.dub_video`, with the function
the job's own check calls), so a video the job would refuse is explained at once and
the numbered boxes are the numbers the job accepts. Generate submits a `dub` job, as
Talking Avatar submits its `talk` job: it runs in the job service, is listed on
History, and is found again after a reload.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

import streamlit as st

from avatar.errors import AvatarError
from avatar.service.job_kind import shorten
from avatar.service.jobs import JobService, get_service, input_paths, job_folder
from avatar.service.store import JobRecord
from avatar.speech.text import MAX_TEXT_CHARS
from avatar.speech.voices import VOICE_SPECS
from avatar.talk.engines import engine_choices
from avatar.video.dub_options import DubOptions
from avatar.video.io import VIDEO_EXTENSIONS
from ui.options import option_widgets, spec_of
from ui.results import display_width
from ui.session import job_owner
from ui.speech_inputs import listen_button, recording_inputs
from ui.spoken_video import SpokenVideoPage, show_spoken_video
from ui.sidebar import registry_resource
from ui.dub_video import video_faces, video_voice
from ui.voice_picker import VoicePick, speaking_rate, voice_picker

JOB_KEY, PICK_KEY = "dub_job", "dub_job_voice"  # the job this page follows, and the voice it was given
RETIMED_KEY = "dub_job_retimed"  # set when the job was just submitted to re-time a video with corrected words
INPUTS_KEY = "dub_job_inputs"  # what the form held when the shown video was asked for (or found again)
LAST_KEY = "dub_job_is_last"  # set while the shown video is the session's last one, found again, not this form's
FORM_KEY = "dub_voice_source"  # a widget every run draws: missing at the start of a run when the page was just opened
TYPED, RECORDED = "Type text", "Upload a recording"
VIDEO_TYPES = [e.lstrip(".") for e in VIDEO_EXTENSIONS]
FRAME_SHOWN_PX = 480  # the first frame with its face boxes, at most this wide

# A fresh visit (a reload, or coming back from another page): the form is back at its defaults, so a video shown
# now is the session's last one, not the answer to what the form holds.
fresh_visit = FORM_KEY not in st.session_state


def _upload_key(upload) -> Optional[list]:
    return None if upload is None else [getattr(upload, "file_id", None), upload.name, upload.size]


def _inputs_key(video, face_index: int, voice_source: str, text: Optional[str], audio,
                transcript: Optional[str]) -> str:
    """A digest of what the video is made from: when it changes, a video made from other inputs is no longer shown
    under them."""
    values = [_upload_key(video), face_index, voice_source, text, _upload_key(audio), transcript]
    return hashlib.sha256(json.dumps(values, default=str).encode()).hexdigest()


def dub_request(video, face_index: int, text: Optional[str], audio, transcript: Optional[str],
                rate: Optional[float], pick: VoicePick, options: dict[str, Any]
                ) -> tuple[dict[str, Any], dict[str, bytes], dict[str, str]]:
    """The dub job's parameters, input files and their names, from what the form holds (text, or a recording)."""
    params: dict[str, Any] = {"voice": pick.voice, "language": pick.language, **options, "face_index": int(face_index)}
    files: dict[str, bytes] = {"video": video.getvalue()}
    names: dict[str, str] = {"video": video.name}
    if audio is None:
        params.update(text=text or "", rate=float(VOICE_SPECS["rate"].default if rate is None else rate))
    else:
        files["audio"], names["audio"] = audio.getvalue(), audio.name
        if transcript:
            params["transcript"] = transcript
    if pick.from_video:
        params["clone_from_video"] = True
    if pick.sample_path is not None:
        files["voice_sample"], names["voice_sample"] = pick.sample_path.read_bytes(), pick.sample_path.name
    return params, files, names


def _video_voice(pick: VoicePick, upload, video_problem: Optional[str]) -> None:
    """For "the voice in this video": take the voice sample from the uploaded video's sound now, as an uploaded
    sample is checked on upload, so Listen can use it and a video without usable speech is explained before
    Generate (the job takes the same sample again)."""
    if upload is None:
        pick.problem = pick.problem or "Upload the video first: its voice is taken from its sound."
        return
    if video_problem:
        return
    problem, sample = video_voice(upload.getvalue(), upload.name)
    if problem:
        st.error(problem)
        pick.problem = pick.problem or problem
    else:
        pick.sample = sample
        st.caption(f"Voice: the clearest {sample.duration:.1f} s of speech in {upload.name}.")


def _made_from(service: JobService, job: JobRecord) -> str:
    """What a dub job was made from, in words: "the video talk.mp4 saying “Hello”"."""
    stored = input_paths(job_folder(job.id, service.root), list(job.inputs))
    names = {field: path.name for field, path in stored.items()}
    video = f"the video {names['video']}" if "video" in names else "your video"
    if job.params.get("text"):
        return f"{video} saying “{shorten(str(job.params['text']))}”"
    return f"{video} and the recording {names['audio']}" if "audio" in names else f"{video} and a recording"


def _describe(manifest: dict[str, Any]) -> tuple[int, int, str]:
    """The video's size, and its length, size and rate in words (and how much of it shows the face)."""
    output = manifest["output"]
    width, height = output["width"], output["height"]
    line = (f"{output['frames'] / output['fps']:.1f} s ({manifest['speech']['duration_s']:.1f} s of speech), "
            f"{width}x{height} at {output['fps']} fps")
    seen = manifest["video"].get("face_seen", 1.0)
    if seen < 1.0:
        line += f"; the face is seen in {seen:.0%} of the frames, the others are the video's own"
    return width, height, line


PAGE = SpokenVideoPage(kind="dub", job_key=JOB_KEY, pick_key=PICK_KEY, retimed_key=RETIMED_KEY,
                       inputs_key=INPUTS_KEY, last_key=LAST_KEY, working="Dubbing your video...",
                       last="Your last dubbed video", stem="dubbed_video", made_from=_made_from, describe=_describe)


st.title("Dub a video")
st.caption("Upload a video of someone speaking, give them new words, and download the video re-synced to them.")

# 1. Video --------------------------------------------------------------------
st.subheader("1. Video")
upload = st.file_uploader("Video of a person speaking (MP4, MOV, WebM, MKV or AVI; up to 5 minutes)",
                          type=VIDEO_TYPES, key="dub_video")
video_problem: Optional[str] = None  # why the uploaded video cannot be dubbed, said again at Generate
face_index = 0
if upload is not None:
    checked = video_faces(upload.getvalue(), upload.name)
    if checked.problem:
        st.error(checked.problem)
        video_problem = checked.problem
    else:
        st.caption(checked.summary)
        height, width = checked.annotated.shape[:2]
        st.image(checked.annotated, width=min(display_width(width, height), FRAME_SHOWN_PX),
                 caption=f"{checked.faces} faces found" if checked.faces > 1 else "The face to re-animate")
        if checked.faces > 1:
            face_index = st.selectbox("Face to re-animate", range(checked.faces), key="dub_face",
                                      format_func=lambda i: f"Face {i}" + (" (largest)" if i == 0 else ""))

# 2. New speech ---------------------------------------------------------------
st.subheader("2. New speech")
voice_source = st.radio("Speech source", [TYPED, RECORDED], horizontal=True, label_visibility="collapsed",
                        key=FORM_KEY)
text, audio, transcript, rate, pick = None, None, None, None, VoicePick()  # a rate only for typed text
recording_problem: Optional[str] = None
if voice_source == TYPED:
    text = st.text_area("What should the person say?", max_chars=MAX_TEXT_CHARS, height=120,
                        placeholder="Hello! This is what I say now.", key="dub_text")
    pick = voice_picker(registry_resource(), video_voice=True)
    if pick.from_video:
        _video_voice(pick, upload, video_problem)
    rate = speaking_rate()
    listen_button(pick, text, rate, help="Hear the voice before dubbing the video", key="dub_listen")
else:
    recording = recording_inputs("dub_audio", "dub_transcript")
    audio, recording_problem, transcript = recording.upload, recording.problem, recording.transcript

# The engines dubbing offers (DubOptions' choices), named and with their install command as on Talking Avatar.
engines = {choice.name: choice for choice in engine_choices(registry_resource())
           if choice.name in (spec_of(DubOptions, "engine").choices or ())}
engine = st.radio(
    "Animation engine", list(engines), horizontal=True, key="dub_engine", help=spec_of(DubOptions, "engine").help,
    format_func=lambda name: engines[name].title + (
        f" (not installed: `{engines[name].install_command}`)" if engines[name].install_command else ""),
)
if engines[engine].install_command:
    st.warning(f"{engines[engine].title} is not installed; install it with `{engines[engine].install_command}`, "
               "or pick the built-in engine.")
with st.expander("Options"):
    # Defaults, limits and help come from DubOptions; the face is picked on the frame above, the engine just above.
    options = {"engine": engine,
               **option_widgets(DubOptions, skip=("face_index", "engine"), key_prefix="dub_option_")}

# 3. Generate -----------------------------------------------------------------
st.subheader("3. Dubbed video")
service, owner = get_service(), job_owner()
inputs = _inputs_key(upload, face_index, voice_source, text, audio, transcript)
submitted = False
if st.button("Generate", type="primary", key="dub_generate"):
    for key in (JOB_KEY, LAST_KEY):
        st.session_state.pop(key, None)
    if upload is None:
        st.error("Upload a video of a person speaking first.")
    elif video_problem:
        st.error(video_problem)
    elif voice_source == RECORDED and audio is None:
        st.error("Upload a recording first, or switch to typed text.")
    elif recording_problem:
        st.error(recording_problem)
    elif pick.problem:
        st.error(pick.problem)
    else:
        try:
            params, files, names = dub_request(upload, face_index, text, audio, transcript, rate, pick, options)
            job = service.submit(owner, "dub", params, files, names)
        except AvatarError as exc:  # the job's own check: empty text, a face index out of range, ...
            st.error(str(exc))
        else:
            st.session_state[JOB_KEY], st.session_state[PICK_KEY], submitted = job.id, pick, True
            st.session_state[INPUTS_KEY] = inputs
show_spoken_video(PAGE, service, owner, submitted, inputs, fresh_visit)
