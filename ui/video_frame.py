"""One frame of an uploaded video, picked with a slider, with the video's size: what a box or a mask is drawn on.

The video is checked as the tools check it (`avatar.video.io.open_video`: type, length,
size), so a file the tools would refuse is refused here, on upload, with the same
sentence. Frames are the tools' frames (upright, at the video's constant frame rate),
so a box drawn on one is in the pixels the job works in.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Optional

import numpy as np
import streamlit as st

from avatar.errors import AvatarError
from avatar.video.io import VideoInfo, open_video


@dataclass(frozen=True)
class VideoFrame:
    """A frame of the video (RGB, the video's own size), which one it is, and what the video is."""

    image: np.ndarray
    index: int
    info: VideoInfo


@st.cache_data(max_entries=4, show_spinner=False)
def _video_info(data: bytes, name: str) -> VideoInfo:
    with open_video(data, name=name) as video:
        return video.info


@st.cache_data(max_entries=8, show_spinner="Reading the frame...")
def _frame(data: bytes, name: str, index: int) -> np.ndarray:
    with open_video(data, name=name) as video:
        frame = next(islice(video.frames(), index, None), None)
    if frame is None:
        raise AvatarError(f"{name} has no frame {index}; pick an earlier one.")
    return frame


def video_frame(upload, key: str) -> Optional[VideoFrame]:
    """Check the uploaded video, say its size, and offer a slider over its frames; the frame picked, or None after
    saying (st.error) why the video cannot be used."""
    data, name = upload.getvalue(), upload.name
    try:
        info = _video_info(data, name)
    except AvatarError as exc:
        st.error(str(exc))
        return None
    st.caption(f"{name}: {info.width}x{info.height} pixels, {info.frames} frames at {info.fps:g} fps "
               f"({info.duration:.1f} s).")
    index = 0
    if info.frames > 1:
        index = st.slider("Frame to look at", 0, info.frames - 1, 0, key=f"{key}_frame_{info.sha256[:12]}",
                          help="Which frame of the video is shown; the area is filled in every frame.")
    try:
        image = _frame(data, name, int(index))
    except AvatarError as exc:
        st.error(str(exc))
        return None
    return VideoFrame(image, int(index), info)
