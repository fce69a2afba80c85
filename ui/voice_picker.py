"""Who speaks typed text: the bundled voice, a new cloned voice (sample + consent), or one saved earlier.

A cloned voice needs a 6-30 s sample (uploaded or recorded in the browser) and the
user's confirmation that the speaker agreed. The sample is checked as soon as it
arrives, so a bad one is explained before anything is generated. Once a cloned
voice has spoken successfully it is saved for this browser session, with its model
and language, and offered again by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import streamlit as st

from avatar.errors import AvatarError
from avatar.jobs import sha256_of
from avatar.media import AUDIO_EXTENSIONS
from avatar.speech.voice_sample import MAX_SAMPLE_S, MIN_SAMPLE_S, VoiceSample, check_voice_sample
from avatar.speech.voices import DEFAULT_VOICE, VOICE_SPECS, VoiceOptions, get_voice, list_voices
from ui import options
from ui.session import saved_upload

BUNDLED = get_voice(DEFAULT_VOICE).title
CLONE = "Clone a voice"
VIDEO_VOICE = "The voice in this video"
SAVED_KEY = "saved_voices"
CONSENT = "The speaker agreed to have their voice cloned for this video, and I may use this sample."
VIDEO_CONSENT = "The person in the video agreed to have their voice cloned from it, and I may use its sound."


@dataclass
class VoicePick:
    """What the page passes to make_talking_video, and why it cannot yet (`problem`)."""

    voice: str = VOICE_SPECS["voice"].default
    sample: Optional[VoiceSample] = None
    sample_path: Optional[Path] = None
    language: str = VOICE_SPECS["language"].default
    problem: Optional[str] = None  # a sentence for st.error when Generate or Listen is pressed
    from_video: bool = False  # the cloning voice copies the voice in the video being dubbed (no sample upload)

    @property
    def label(self) -> str:
        return f"{self.sample.name} ({self.voice}, {self.language})" if self.sample else ""


def voice_picker(registry, video_voice: bool = False) -> VoicePick:
    """Draw the voice choice and return it (see the module docstring).

    With `video_voice` (the dubbing page) the choices include the voice of the person
    in the video: a cloning model and the consent box, the sample being the video's own
    sound (the page checks it, as it has the video)."""
    saved: dict[str, dict] = st.session_state.setdefault(SAVED_KEY, {})
    choices = [BUNDLED, CLONE, *([VIDEO_VOICE] if video_voice else []), *saved]
    choice = st.radio("Speaker", choices, horizontal=True, key="talk_speaker")
    if choice == BUNDLED:
        return VoicePick()
    voices = {voice.name: voice for voice in list_voices(registry) if voice.cloning}
    if choice in saved:
        entry = saved[choice]
        pick = VoicePick(entry["voice"], entry["sample"], entry["path"])
        pick.language = _language(voices[pick.voice].languages, entry["language"])
        return pick

    model = st.selectbox("Cloning model", list(voices), key="talk_clone_model",
                         format_func=lambda name: voices[name].title + ("" if voices[name].ready else " (not installed)"))
    info = voices[model]
    pick = VoicePick(voice=model, language=_language(info.languages, VOICE_SPECS["language"].default))
    if not info.ready:
        st.warning(f"{info.title} is not installed; install it with {info.note}.")
        pick.problem = f"{info.title} is not installed; install it with {info.note}."
    if choice == VIDEO_VOICE:
        pick.from_video = True
        if not st.checkbox(VIDEO_CONSENT, key="talk_video_consent"):
            pick.problem = pick.problem or ("Tick the box confirming the person in the video agreed to have their "
                                            "voice cloned.")
        return pick
    upload = st.file_uploader(f"Voice sample: {MIN_SAMPLE_S:.0f}-{MAX_SAMPLE_S:.0f} s of one person speaking, "
                              "clearly, without music", type=[e.lstrip(".") for e in AUDIO_EXTENSIONS],
                              key="talk_voice_sample", help=VoiceOptions.SAMPLE_HELP)
    recording = st.audio_input("...or record it here", key="talk_voice_recording") if upload is None else None
    given = upload or recording
    if given is not None:
        path = saved_upload(given, f"voice-{sha256_of(given.getvalue())[:12]}")
        try:
            pick.sample = check_voice_sample(path, name=getattr(given, "name", None) or "recording.wav")
            pick.sample_path = path
            st.caption(f"Sample: {pick.sample.name}, {pick.sample.duration:.1f} s.")
        except AvatarError as exc:
            st.error(str(exc))
            pick.problem = pick.problem or str(exc)
    consent = st.checkbox(CONSENT, key="talk_consent")
    if given is None:
        pick.problem = pick.problem or "Upload or record a voice sample to clone, or choose the bundled voice."
    elif not consent:
        pick.problem = pick.problem or "Tick the box confirming the speaker agreed to have their voice cloned."
    return pick


def speaking_rate() -> float:
    """The speaking-rate slider: default, limits and help as `VoiceOptions` declares them."""
    return float(options.slider(VoiceOptions, "rate", "Speaking rate", step=0.05))


def _language(languages: tuple[str, ...], default: str) -> str:
    """The language picker, shown only for models that speak more than one."""
    if len(languages) <= 1:
        return languages[0] if languages else default
    index = languages.index(default) if default in languages else 0
    return st.selectbox("Language of the text", languages, index=index, key="talk_language")


def remember(pick: VoicePick) -> None:
    """Save a cloned voice that has just spoken, for the rest of this browser session."""
    if pick.sample is None or pick.problem or pick.from_video:  # the video's voice goes with that video only
        return
    saved = st.session_state.setdefault(SAVED_KEY, {})
    if pick.label not in saved:
        st.caption(f"Voice saved for this session as *{pick.label}*: pick it under Speaker next time.")
    saved[pick.label] = {"voice": pick.voice, "sample": pick.sample, "path": pick.sample_path, "language": pick.language}
