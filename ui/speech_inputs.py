"""What a speaking page asks for besides the voice: a Listen button for typed text, or a recording and its transcript.

Talking Avatar and Dub a video offer the same two ways to say something; the
widgets and their checks live here so both behave alike: a recording is decoded
on upload, as the job would decode it, so a bad file is explained before Generate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import streamlit as st

from avatar.errors import AvatarError
from avatar.media import AUDIO_EXTENSIONS
from avatar.speech.text import MAX_TEXT_CHARS
from avatar.talk.pipeline import check_recording, prepare_speech
from ui.voice_picker import VoicePick, remember

TRANSCRIPT_HELP = ("What the recording says, word for word. English speech is recognised without it; "
                   "with it, the lips follow your exact words and the captions use your spelling.")


@st.cache_data(max_entries=8, show_spinner="Checking the recording...")
def recording_check(data: bytes, name: str) -> tuple[Optional[str], float]:
    """The recording's problem in one sentence (None when it can be used) and its length in seconds."""
    try:
        return None, check_recording(data, name=name).duration
    except AvatarError as exc:
        return str(exc), 0.0


@dataclass
class Recording:
    """An uploaded recording, why it cannot be used (None when it can), and its optional transcript."""

    upload: Any = None
    problem: Optional[str] = None
    transcript: Optional[str] = None


def recording_inputs(uploader_key: Optional[str], transcript_key: str) -> Recording:
    """The recording uploader, checked on upload, and the transcript box."""
    upload = st.file_uploader("Recording (up to 10 minutes)", type=[e.lstrip(".") for e in AUDIO_EXTENSIONS],
                              key=uploader_key)
    problem = None
    if upload is not None:
        problem, seconds = recording_check(upload.getvalue(), upload.name)
        if problem:
            st.error(problem)
        else:
            st.caption(f"Recording: {upload.name}, {seconds:.1f} s.")
    transcript = st.text_area("Transcript (optional)", max_chars=MAX_TEXT_CHARS, height=80, key=transcript_key,
                              help=TRANSCRIPT_HELP) or None
    return Recording(upload, problem, transcript)


def listen_button(pick: VoicePick, text: Optional[str], rate: float, help: str, key: Optional[str] = None) -> None:
    """Listen: the typed text spoken by the chosen voice, in the page, before anything is rendered."""
    if not st.button("Listen", help=help, key=key):
        return
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
