"""Reading user videos: checked before any heavy work, decoded frame by frame.

`open_video` refuses what the tools cannot take (wrong type, unreadable, no video
stream, too long, too large) with one sentence, and describes the rest in a
`VideoInfo`. `Video.frames()` then yields RGB frames at a constant frame rate:
variable-rate input is resampled by showing, at each output time, the newest
source frame up to half an output frame after it (frames are held or dropped,
never blended), and
rotation metadata is applied, so a phone video comes out upright. Frames are
decoded as they are consumed, so memory does not grow with the length of the
video. `Video.audio()` gives the sound track, to be kept in the result.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Union

import av
import numpy as np

from avatar import jobs
from avatar.errors import InputError
from avatar.media import load_audio, read_source
from avatar.speech.timeline import Speech

VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".mkv", ".avi")
VideoSource = Union[str, Path, bytes, BinaryIO]


@dataclass(frozen=True)
class VideoLimits:
    """What a tool accepts; every limit is checked before decoding a frame."""

    max_seconds: float = 60.0
    max_long_side: int = 1920
    max_frames: int = 3600
    max_bytes: int = 500 * 1024 * 1024


@dataclass(frozen=True)
class VideoInfo:
    """A checked input video, as the tools will see it (after rotation, at `fps`)."""

    name: str
    sha256: str
    width: int
    height: int
    fps: float
    frames: int
    duration: float
    rotation: int  # degrees the stored picture is turned to be upright (0, 90, 180, 270)
    has_audio: bool


class Video:
    """An opened, checked video; decode with `frames()`, take its sound with `audio()`."""

    def __init__(self, path: Path, info: VideoInfo, data: bytes) -> None:
        self.path = path
        self.info = info
        self._data = data

    def frames(self) -> Iterator[np.ndarray]:
        """RGB uint8 frames, upright, exactly `info.frames` of them at `info.fps`."""
        step = 1.0 / self.info.fps
        emitted = 0
        held: Optional[np.ndarray] = None
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            for frame in container.decode(stream):
                time = float(frame.pts * stream.time_base) - start if frame.pts is not None else emitted * step
                image = _upright(frame.to_ndarray(format="rgb24"), self.info.rotation)
                # Every output time up to this frame's time shows the frame before it.
                while held is not None and emitted < self.info.frames and (emitted + 0.5) * step <= time:
                    yield held
                    emitted += 1
                held = image
            while held is not None and emitted < self.info.frames:
                yield held
                emitted += 1

    def audio(self) -> Optional[Speech]:
        """The sound track (mono), or None when the video has none."""
        if not self.info.has_audio:
            return None
        return load_audio(self._data, max_seconds=self.info.duration + 5.0, name=self.info.name)


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k=turns)) if turns else image


def _rotation(stream) -> int:
    """Clockwise degrees to display the stream upright, from its display matrix or metadata."""
    degrees = 0.0
    try:
        for frame in stream.container.decode(stream):
            degrees = float(getattr(frame, "rotation", 0) or 0)
            break
    except av.FFmpegError:
        return 0
    # PyAV reports the display matrix's counter-clockwise angle.
    return int(round(degrees / 90.0)) * 90 % 360


def open_video(source: VideoSource, limits: VideoLimits = VideoLimits(), fps: Optional[float] = None,
               name: Optional[str] = None) -> Video:
    """Check a video (a path, bytes or an upload) and open it for decoding.

    `fps` sets the output frame rate (default: the video's own average rate).
    Raises InputError with one sentence for anything the tools cannot use.
    """
    data, source_name = read_source(source, "video")
    name = name or source_name or "video"
    suffix = Path(name).suffix.lower()
    if suffix and suffix not in VIDEO_EXTENSIONS:
        raise InputError(f"{name} is not a supported video type; use one of: {', '.join(VIDEO_EXTENSIONS)}.")
    if len(data) > limits.max_bytes:
        raise InputError(f"{name} is {len(data) / 2**20:.0f} MB, more than the {limits.max_bytes / 2**20:.0f} MB "
                         "limit; shorten or compress it.")
    folder = Path(tempfile.mkdtemp(prefix="avatar-video-"))
    path = folder / f"input{suffix or '.mp4'}"
    path.write_bytes(data)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{name} has no video stream; upload a video file.")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            duration = _duration(container, stream)
            rotation = _rotation(stream)
            width, height = stream.codec_context.width, stream.codec_context.height
            has_audio = bool(container.streams.audio)
    except InputError:
        raise
    except (av.FFmpegError, ValueError, IndexError):
        raise InputError(f"Cannot read video {name}; it may be damaged or not a video. Try another file.") from None
    if rotation in (90, 270):
        width, height = height, width
    out_fps = float(fps or rate)
    if not (1.0 <= out_fps <= 120.0):
        raise InputError(f"The frame rate {out_fps:g} is outside 1..120 frames per second.")
    if duration <= 0:
        raise InputError(f"{name} holds no frames; upload a video with pictures in it.")
    if duration > limits.max_seconds:
        raise InputError(f"{name} is {duration:.0f} s long, more than the {limits.max_seconds:.0f} s limit; "
                         "trim it first.")
    if max(width, height) > limits.max_long_side:
        raise InputError(f"{name} is {width}x{height}, larger than the {limits.max_long_side} px limit on its long "
                         "side; scale it down first.")
    frames = max(1, math.ceil(round(duration * out_fps, 6)))
    if frames > limits.max_frames:
        raise InputError(f"{name} has {frames} frames at {out_fps:g} fps, more than the {limits.max_frames} limit.")
    info = VideoInfo(name=name, sha256=jobs.sha256_of(data), width=width, height=height, fps=out_fps,
                     frames=frames, duration=duration, rotation=rotation, has_audio=has_audio)
    return Video(path, info, data)


def _duration(container, stream) -> float:
    if stream.duration is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0
