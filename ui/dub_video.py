"""An uploaded video, for dubbing: its faces to pick the one to re-animate, and the voice in its sound.

`video_faces`: the video checked as the dub job checks it, and its first frame with
faces drawn as numbered boxes. `video_voice`: the voice sample the job would take from
the video's sound for "the voice in this video", checked as an uploaded sample is.

Both call the functions the job's own check calls, so what the job would refuse is
explained on upload with the same sentence, and the numbers on the boxes are the
`face_index` values the job accepts. Results are cached per file, so the reruns of a
page (every click) do not decode the video again. It lives in a module,
not in the page's script: `st.cache_data` pickles what it returns, and a class defined
in a page (run as `__main__`) cannot be pickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import streamlit as st

from avatar.errors import AvatarError
from avatar.face.picker import draw_faces
from avatar.speech.voice_sample import VoiceSample
from avatar.video.dub import faces_at_start, open_dub_video
from avatar.video.video_voice import voice_sample_from_video


@dataclass(frozen=True)
class VideoFaces:
    """Why an uploaded video cannot be dubbed (`problem`), or what it is and its first frame with numbered faces."""

    problem: Optional[str] = None
    summary: str = ""
    annotated: Optional[np.ndarray] = None
    faces: int = 0


@st.cache_data(max_entries=4, show_spinner="Looking for faces in the video...")
def video_faces(data: bytes, name: str) -> VideoFaces:
    """The uploaded video (`data`, its file `name`) checked and its faces at its start found; a problem in one
    sentence instead of an exception, so the page can say it again at Generate."""
    try:
        start = faces_at_start(data, name)
    except AvatarError as exc:
        return VideoFaces(problem=str(exc))
    info = start.info
    summary = (f"{name}: {info.width}x{info.height} pixels, {info.duration:.1f} s at {info.fps:g} fps; "
               f"faces from {start.index / info.fps:.1f} s.")
    return VideoFaces(summary=summary, annotated=draw_faces(start.frame, start.faces), faces=len(start.faces))


@st.cache_data(max_entries=4, show_spinner="Listening to the voice in the video...")
def video_voice(data: bytes, name: str) -> tuple[Optional[str], Optional[VoiceSample]]:
    """The voice sample taken from the uploaded video's sound, or why there is none (one sentence)."""
    try:
        with open_dub_video(data, name) as clip:
            return None, voice_sample_from_video(clip.audio(), name)
    except AvatarError as exc:
        return str(exc), None
