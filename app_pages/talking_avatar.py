"""Talking Avatar page: portrait + voice -> lip-synced MP4 (thin layer over make_talking_video)."""

from __future__ import annotations

import streamlit as st

from avatar.avatars import list_default_avatars, thumbnail
from avatar.errors import AvatarError
from avatar.face.picker import face_choices
from avatar.media import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, load_image
from avatar.speech.text import MAX_TEXT_CHARS
from avatar.talk.engine import TalkOptions, engine_choices
from avatar.talk.pipeline import MOUTH_METHODS, make_talking_video, prepare_speech
from ui.job_progress import job_progress
from ui.portrait_generation import generated_portrait_input
from avatar.video.io import VIDEO_EXTENSIONS
from ui.session import saved_upload, session_id
from ui.sidebar import registry_resource
from ui.voice_picker import VoicePick, remember, voice_picker

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
portrait, landmarks_path, face_index = None, None, None
if source == "Default avatar":
    avatars = list_default_avatars()
    columns = st.columns(len(avatars))
    for column, avatar in zip(columns, avatars):
        column.image(thumbnail(avatar), caption=avatar.title, width="stretch")
    titles = {avatar.title: avatar for avatar in avatars}
    chosen = titles[st.radio("Avatar", list(titles), horizontal=True, key="avatar_choice")]
    portrait, landmarks_path = chosen.image_path, chosen.landmarks_path
elif source == "Upload a portrait":
    upload = st.file_uploader("Portrait (PNG, JPEG or WebP)", type=[e.lstrip(".") for e in IMAGE_EXTENSIONS])
    if upload is not None:
        try:
            choices = face_choices(load_image(upload))
        except AvatarError as exc:
            st.error(str(exc))
        else:
            portrait = upload
            if choices.count == 0:
                st.image(choices.annotated, width=240)
                st.error("No face was found in the image; use a clear, front-facing portrait.")
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
text, audio, transcript, rate, pick = None, None, None, 1.0, VoicePick()
if voice_source == "Type text":
    text = st.text_area(
        "What should the avatar say?", max_chars=MAX_TEXT_CHARS, height=120,
        placeholder="Hello! I am your avatar.", key="talk_text",
    )
    pick = voice_picker(registry_resource())
    rate = st.slider("Speaking rate", 0.5, 2.0, 1.0, 0.05)
    if st.button("Listen", help="Hear the voice before rendering the video"):
        try:
            if pick.problem:
                raise AvatarError(pick.problem)
            with st.spinner("Speaking..."):
                preview, _ = prepare_speech(text=text, rate=rate, voice=pick.voice, voice_sample=pick.sample,
                                            language=pick.language)
            st.audio(preview.samples, sample_rate=preview.sample_rate)
            remember(pick)
        except AvatarError as exc:
            st.error(str(exc))
else:
    audio = st.file_uploader("Recording (up to 10 minutes)", type=[e.lstrip(".") for e in AUDIO_EXTENSIONS])
    transcript = st.text_area(
        "Transcript (optional)", max_chars=MAX_TEXT_CHARS, height=80, key="talk_transcript",
        help="What the recording says, word for word. English speech is recognised without it; "
             "with it, the lips follow your exact words and the captions use your spelling.",
    ) or None

choices = {choice.name: choice for choice in engine_choices(registry_resource())}
engine = st.radio(
    "Animation engine", list(choices), horizontal=True, key="talk_engine",
    format_func=lambda name: choices[name].title + (
        f" (not installed: `{choices[name].install_command}`)" if choices[name].install_command else ""),
)
if choices[engine].install_command:
    st.warning(f"{choices[engine].title} is not installed; install it with `{choices[engine].install_command}`, "
               "or pick the built-in engine.")
with st.expander("Options"):
    still = st.checkbox("Still head (only mouth, jaw and eyelids move)")
    expression = st.slider("Expression scale", 0.0, 2.0, 1.0, 0.1)
    size = st.select_slider("Video size (long side)", [256, 384, 512, 768, 1024], value=768)
    seed = st.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0)
    engine_options = {}
    if engine == "sadtalker":
        left, middle, right = st.columns(3)
        engine_options["pose_style"] = int(left.number_input(
            "Pose style", min_value=0, max_value=45, value=0, help="One of SadTalker's 46 learned head-motion styles."))
        engine_options["preprocess"] = middle.radio(
            "Framing", ["full", "crop"], horizontal=True,
            format_func=lambda mode: {"full": "Whole portrait", "crop": "Face crop"}[mode],
            help="Whole portrait: the animated face is blended back into your picture. Face crop: just the face.")
        engine_options["face_size"] = right.radio(
            "Face resolution", [256, 512], horizontal=True,
            help="512 is sharper and about four times slower; each size is its own model file.")
        blink_upload = st.file_uploader(
            "Blink like the face in this video (optional)", type=[e.lstrip(".") for e in VIDEO_EXTENSIONS],
            help="Without it, blinks are drawn at random from the seed.")
        if blink_upload is not None:
            engine_options["blink_video"] = str(saved_upload(blink_upload, "blink"))

# 3. Generate -----------------------------------------------------------------
st.subheader("3. Video")
if st.button("Generate", type="primary"):
    if portrait is None:
        st.error("Choose a portrait first: pick a default avatar, upload one, or generate one.")
    elif voice_source == "Upload a recording" and audio is None:
        st.error("Upload a recording first, or switch to typed text.")
    elif pick.problem:
        st.error(pick.problem)
    else:
        with job_progress("talk_result") as report:
            with st.status("Making your video...", expanded=False) as status:
                result = make_talking_video(
                    portrait, text=text if audio is None else None, audio=audio, transcript=transcript, rate=rate,
                    voice=pick.voice, voice_sample=pick.sample, language=pick.language, engine=engine,
                    options=TalkOptions(still=still, expression_scale=expression, seed=int(seed), max_size=size,
                                        **engine_options),
                    face_index=face_index, landmarks_path=landmarks_path, session=session_id(),
                    progress=report,
                )
                status.update(label=f"Done in {result.seconds:.1f} s", state="complete")
            st.session_state["talk_result"] = result
            remember(pick)

result = st.session_state.get("talk_result")
if result is not None and result.video_path.is_file():
    player, _ = st.columns([3, 2])
    subtitles = result.captions_path if result.captions_path and result.captions_path.is_file() else None
    player.video(str(result.video_path), subtitles=subtitles)
    video_button, captions_button = player.columns(2)
    video_button.download_button(
        "Download MP4", data=result.video_path.read_bytes(), file_name="talking_avatar.mp4", mime="video/mp4"
    )
    if subtitles is not None:
        captions_button.download_button(
            "Download captions (SRT)", data=subtitles.read_bytes(), file_name="talking_avatar.srt",
            mime="application/x-subrip",
        )
    player.caption(
        f"{result.duration:.1f} s, {result.width}x{result.height}, "
        + ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in result.timings.items())
    )
    mouth = result.manifest["speech"]["mouth"]
    if mouth["method"] != "voice":
        player.caption(f"Lip timing: {MOUTH_METHODS[mouth['method']]}" + (f" ({mouth['reason']})." if mouth.get("reason") else "."))
