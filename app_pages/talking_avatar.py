"""Talking Avatar page: portrait + voice -> lip-synced MP4 (thin layer over make_talking_video)."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any, Optional

import numpy as np
import streamlit as st
from PIL import Image

from avatar.avatars import get_default_avatar, list_default_avatars, thumbnail
from avatar.errors import AvatarError
from avatar.face.picker import face_choices
from avatar.media import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, load_image
from avatar.service.job_kind import shorten
from avatar.service.jobs import JobService, get_service, input_paths, job_folder
from avatar.service.store import JobRecord
from avatar.speech.text import MAX_TEXT_CHARS
from avatar.talk.engine import TalkOptions, file_options
from avatar.talk.engines import ENGINES, engine_choices
from avatar.video.io import VIDEO_EXTENSIONS
from ui.options import checkbox, number_input, option_widgets, slider, spec_of
from ui.portrait_generation import generated_portrait_input
from ui.session import job_owner
from ui.speech_inputs import listen_button, recording_inputs
from ui.spoken_video import SpokenVideoPage, show_spoken_video
from ui.sidebar import registry_resource
from ui.voice_picker import VoicePick, speaking_rate, voice_picker

JOB_KEY, PICK_KEY = "talk_job", "talk_job_voice"  # the job this page follows, and the voice it was given
RETIMED_KEY = "talk_job_retimed"  # set when the job was just submitted to re-time a video with corrected words
INPUTS_KEY = "talk_job_inputs"  # what the form held when the shown video was asked for (or found again)
LAST_KEY = "talk_job_is_last"  # set while the shown video is the session's last one, found again, not this form's
THUMBNAIL_PX = 160  # a default avatar's picture in the gallery
FORM_KEY = "talk_engine"  # a widget every run draws: missing at the start of a run when the page was just opened

# A fresh visit (a reload, or coming back from another page): the form is back at its defaults, so a video shown
# now is the session's last one, not the answer to what the form holds.
fresh_visit = FORM_KEY not in st.session_state


def _inputs_key(source: str, avatar_name: Optional[str], portrait, face_index: Optional[int], voice_source: str,
                text: Optional[str], audio, transcript: Optional[str]) -> str:
    """A digest of what the video is made from (portrait, face, what is said): when it changes, a video made from
    other inputs is no longer shown under them."""
    if isinstance(portrait, np.ndarray):
        portrait_key = hashlib.sha256(portrait.tobytes()).hexdigest()
    elif portrait is not None and avatar_name is None:
        portrait_key = _upload_key(portrait)
    else:
        portrait_key = avatar_name
    values = [source, portrait_key, face_index, voice_source, text, _upload_key(audio), transcript]
    return hashlib.sha256(json.dumps(values, default=str).encode()).hexdigest()


def _upload_key(upload) -> Optional[list]:
    return None if upload is None else [getattr(upload, "file_id", None), upload.name, upload.size]


def _made_from(service: JobService, job: JobRecord) -> str:
    """What a talk job was made from, in words: "Noor saying “Hello”", "the portrait me.jpg and the recording a.wav"."""
    names = {field: path.name for field, path in input_paths(job_folder(job.id, service.root), list(job.inputs)).items()}
    if "avatar" in job.params:
        try:
            who = get_default_avatar(str(job.params["avatar"])).title
        except AvatarError:
            who = str(job.params["avatar"])
    elif names.get("portrait") == GENERATED_NAME:
        who = "a generated portrait"
    else:
        who = f"the portrait {names['portrait']}" if "portrait" in names else "your portrait"
    if "text" in job.params:
        return f"{who} saying “{shorten(str(job.params['text']))}”"
    return f"{who} and the recording {names['audio']}" if "audio" in names else f"{who} and a recording"


GENERATED_NAME = "generated_portrait.png"


def _talk_request(avatar_name: Optional[str], portrait, face_index: Optional[int], text: Optional[str], audio,
                  transcript: Optional[str], rate: float, pick: VoicePick, engine: str,
                  options: dict[str, Any], uploads: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes], dict[str, str]]:
    """The talk job's parameters, input files and their names, from what the form holds."""
    params: dict[str, Any] = {"voice": pick.voice, "language": pick.language, "engine": engine, **options}
    files: dict[str, bytes] = {}
    names: dict[str, str] = {}
    if avatar_name is not None:
        params["avatar"] = avatar_name
    elif isinstance(portrait, np.ndarray):  # a generated portrait
        buffer = io.BytesIO()
        Image.fromarray(portrait).save(buffer, format="PNG")
        files["portrait"], names["portrait"] = buffer.getvalue(), GENERATED_NAME
    else:
        files["portrait"], names["portrait"] = portrait.getvalue(), portrait.name
    if face_index is not None:
        params["face_index"] = int(face_index)
    if audio is None:
        params.update(text=text or "", rate=float(rate))
    else:
        files["audio"], names["audio"] = audio.getvalue(), audio.name
        if transcript:
            params["transcript"] = transcript
    if pick.sample_path is not None:
        files["voice_sample"], names["voice_sample"] = pick.sample_path.read_bytes(), pick.sample_path.name
    for field, upload in uploads.items():  # the engine's own files (e.g. a reference video)
        if upload is not None:
            files[field], names[field] = upload.getvalue(), upload.name
    return params, files, names


def _describe(manifest: dict[str, Any]) -> tuple[int, int, str]:
    """The video's size, and its length and size in words."""
    width, height = manifest["video"]["width"], manifest["video"]["height"]
    return width, height, f"{manifest['speech']['duration_s']:.1f} s, {width}x{height}"


PAGE = SpokenVideoPage(kind="talk", job_key=JOB_KEY, pick_key=PICK_KEY, retimed_key=RETIMED_KEY,
                       inputs_key=INPUTS_KEY, last_key=LAST_KEY, working="Making your video...",
                       last="Your last video", stem="talking_avatar", made_from=_made_from, describe=_describe)


st.title("Talking Avatar")
st.caption("Pick a portrait, give it a voice, and download a lip-synced MP4.")

# 1. Portrait -----------------------------------------------------------------
st.subheader("1. Portrait")
source = st.radio(
    "Portrait source",
    ["Default avatar", "Upload a portrait", "Generate from a prompt"],
    horizontal=True,
    label_visibility="collapsed",
)
portrait, avatar_name, face_index = None, None, None
portrait_problem: Optional[str] = None  # why the uploaded portrait cannot be used, said again at Generate
if source == "Default avatar":
    avatars = list_default_avatars()
    gallery = st.container(horizontal=True)  # a row that wraps: four across on a laptop, two on a phone
    for avatar in avatars:
        gallery.image(thumbnail(avatar, 2 * THUMBNAIL_PX), caption=avatar.title, width=THUMBNAIL_PX)  # sharp on HiDPI
    titles = {avatar.title: avatar for avatar in avatars}
    chosen = titles[st.radio("Avatar", list(titles), horizontal=True, key="avatar_choice")]
    portrait, avatar_name = chosen.image_path, chosen.name
elif source == "Upload a portrait":
    upload = st.file_uploader("Portrait (PNG, JPEG or WebP)", type=[e.lstrip(".") for e in IMAGE_EXTENSIONS])
    if upload is not None:
        try:
            choices = face_choices(load_image(upload))
        except AvatarError as exc:
            st.error(str(exc))
            portrait_problem = (f"The uploaded file {upload.name} could not be used as a portrait; upload another "
                                "picture, or pick a default avatar.")
        else:
            portrait = upload
            if choices.count == 0:
                st.image(choices.annotated, width=240)
                st.error("No face was found in the image; use a clear, front-facing portrait.")
                portrait_problem = (f"No face was found in {upload.name}; upload a clear, front-facing portrait, "
                                    "or pick a default avatar.")
            elif choices.count == 1:
                st.image(choices.annotated, width=240)
            else:
                st.image(choices.annotated, caption=f"{choices.count} faces found", width=480)
                face_index = st.selectbox(
                    "Face to animate", range(choices.count),
                    format_func=lambda i: f"Face {i}" + (" (largest)" if i == 0 else ""),
                )
else:
    portrait = generated_portrait_input()

# 2. Voice --------------------------------------------------------------------
st.subheader("2. Voice")
voice_source = st.radio("Voice source", ["Type text", "Upload a recording"], horizontal=True, label_visibility="collapsed")
text, audio, transcript, rate, pick = None, None, None, None, VoicePick()  # a rate only for typed text
recording_problem: Optional[str] = None  # why the uploaded recording cannot be used, said again at Generate
if voice_source == "Type text":
    text = st.text_area(
        "What should the avatar say?", max_chars=MAX_TEXT_CHARS, height=120,
        placeholder="Hello! I am your avatar.", key="talk_text",
    )
    pick = voice_picker(registry_resource())
    rate = speaking_rate()
    listen_button(pick, text, rate, help="Hear the voice before rendering the video")
else:
    recording = recording_inputs(None, "talk_transcript")
    audio, recording_problem, transcript = recording.upload, recording.problem, recording.transcript

choices = {choice.name: choice for choice in engine_choices(registry_resource())}
engine = st.radio(
    "Animation engine", list(choices), horizontal=True, key="talk_engine",
    format_func=lambda name: choices[name].title + (
        f" (not installed: `{choices[name].install_command}`)" if choices[name].install_command else ""),
)
if choices[engine].install_command:
    st.warning(f"{choices[engine].title} is not installed; install it with `{choices[engine].install_command}`, "
               "or pick the built-in engine.")
SIZES = (256, 384, 512, 768, 1024)
UPLOAD_TYPES = {"video": VIDEO_EXTENSIONS, "audio": AUDIO_EXTENSIONS, "image": IMAGE_EXTENSIONS}
with st.expander("Options"):
    # Defaults, limits and help come from the declarations (TalkOptions, the engine's Options).
    still = checkbox(TalkOptions, "still", "Still head (only mouth, jaw and eyelids move)", key="talk_option_still")
    expression = slider(TalkOptions, "expression_scale", "Expression scale", step=0.1,
                        key="talk_option_expression_scale")
    size_spec = spec_of(TalkOptions, "size")
    size = st.select_slider("Video size (long side)", sorted({*SIZES, size_spec.default}), value=size_spec.default,
                            help=size_spec.help, key="talk_option_size")
    seed = number_input(TalkOptions, "seed", "Seed", key="talk_option_seed")
    options = {"still": still, "expression_scale": float(expression), "size": int(size), "seed": int(seed)}
    options.update(option_widgets(TalkOptions, skip=tuple(options), key_prefix="talk_option_"))
    # The chosen engine's own settings and files, whatever the engine.
    engine_options = option_widgets(ENGINES[engine].Options, key_prefix="talk_option_")
    engine_uploads = {
        file.name: st.file_uploader(file.label or file.help, type=[e.lstrip(".") for e in UPLOAD_TYPES[file.kind]],
                                    help=file.help, key=f"talk_file_{file.name}")
        for file in file_options(ENGINES[engine].Options)}

# 3. Generate -----------------------------------------------------------------
st.subheader("3. Video")
service, owner = get_service(), job_owner()
inputs = _inputs_key(source, avatar_name, portrait, face_index, voice_source, text, audio, transcript)
submitted = False
if st.button("Generate", type="primary"):
    for key in (JOB_KEY, LAST_KEY):
        st.session_state.pop(key, None)
    if portrait_problem:
        st.error(portrait_problem)
    elif portrait is None:
        st.error("Choose a portrait first: pick a default avatar, upload one, or generate one.")
    elif voice_source == "Upload a recording" and audio is None:
        st.error("Upload a recording first, or switch to typed text.")
    elif recording_problem:
        st.error(recording_problem)
    elif pick.problem:
        st.error(pick.problem)
    else:
        try:
            params, files, names = _talk_request(
                avatar_name, portrait, face_index, text, audio, transcript, rate, pick, engine,
                {**options, **engine_options}, engine_uploads)
            job = service.submit(owner, "talk", params, files, names)
        except AvatarError as exc:
            st.error(str(exc))
        else:
            st.session_state[JOB_KEY], st.session_state[PICK_KEY], submitted = job.id, pick, True
            st.session_state[INPUTS_KEY] = inputs
show_spoken_video(PAGE, service, owner, submitted, inputs, fresh_visit)
