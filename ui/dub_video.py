"""An uploaded video's faces, for picking the one to dub: the video checked as the dub job checks it, and its first
frame with faces drawn as numbered boxes.

`faces_at_start` is the function the job's own check calls, so a video the job would
refuse is explained on upload with the same sentence, and the numbers on the boxes
are the `face_index` values the job accepts. The result is cached per file, so the
reruns of a page (every click) do not decode the video again. It lives in a module,
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
from avatar.video.dub import faces_at_start


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
