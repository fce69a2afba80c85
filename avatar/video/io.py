"""Reading user videos: checked before any heavy work, decoded frame by frame.

`open_video` refuses what the tools cannot take (wrong type, unreadable, no video
stream, too long, too large) with one sentence, and describes the rest in a
`VideoInfo`. `Video.frames()` then yields RGB frames at a constant frame rate:
variable-rate input is resampled by showing, at each output time, the newest
source frame less than half an output frame after it (frames are held or dropped,
never blended; the same frames FFmpeg's `fps` filter picks), and
rotation metadata is applied, so a phone video comes out upright. Frames are
decoded as they are consumed, so memory does not grow with the length of the
video. `Video.audio()` gives the sound track, to be kept in the result.

The upload is copied once into a private temporary folder (FFmpeg needs a
seekable file); the folder goes away with `Video.close()`, at the end of a
`with open_video(...)` block, or when the `Video` is garbage-collected, and at
once when the input is refused.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Union

import av
import numpy as np

from avatar import jobs
from avatar.errors import InputError
from avatar.media import decode_sound, read_source
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

    def __init__(self, path: Path, info: VideoInfo, folder: Optional[Path] = None) -> None:
        self.path = path
        self.info = info
        # The private copy of the upload is removed however the Video ends.
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(folder), True) if folder else None

    def close(self) -> None:
        """Remove the private copy of the input; the Video cannot be read afterwards."""
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> "Video":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def frames(self) -> Iterator[np.ndarray]:
        """RGB uint8 frames, upright, exactly `info.frames` of them at `info.fps`."""
        step = 1.0 / self.info.fps
        emitted = 0
        held: Optional[np.ndarray] = None
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
                for frame in container.decode(stream):
                    time = float(frame.pts * stream.time_base) - start if frame.pts is not None else emitted * step
                    image = _upright(frame.to_ndarray(format="rgb24"), self.info.rotation)
                    # Output slots up to this frame's time, rounded to the nearest slot, show the
                    # frame before it (as FFmpeg's fps filter does: a frame exactly half-way
                    # goes to the later slot, whatever the rounding of the timestamps).
                    while held is not None and emitted < self.info.frames and (emitted + 0.5) * step <= time + 1e-6:
                        yield held
                        emitted += 1
                    if emitted >= self.info.frames:
                        return  # the rest lies past the stated duration
                    held = image
        except av.FFmpegError:
            raise InputError(f"{self.info.name} is damaged after frame {emitted}; repair or re-export it.") from None
        while held is not None and emitted < self.info.frames:
            yield held
            emitted += 1

    def audio(self) -> Optional[Speech]:
        """The sound track, mixed to mono float32 at its own sample rate, or None when there is none.

        Not through `media.load_audio`, which refuses video file types and
        recordings under 0.1 s: a short clip's sound is still kept.
        """
        if not self.info.has_audio:
            return None
        try:
            with av.open(str(self.path)) as container:
                sound = decode_sound(container, name=self.info.name)
        except av.FFmpegError:
            raise InputError(f"The sound of {self.info.name} is damaged; re-export the video.") from None
        return sound if len(sound.samples) else None


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k=turns)) if turns else image


def _first_frame_rotation(stream, name: str) -> int:
    """Counter-clockwise degrees that turn the stored picture upright (the display matrix).

    Read from the first decoded frame, which also proves the stream holds a picture
    FFmpeg can decode; `np.rot90` turns counter-clockwise too, as FFmpeg's own
    autorotation does.
    """
    for frame in stream.container.decode(stream):
        degrees = float(getattr(frame, "rotation", 0) or 0)
        return int(round(degrees / 90.0)) * 90 % 360
    raise InputError(f"{name} holds no frames; upload a video with pictures in it.")


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
    sha256 = jobs.sha256_of(data)
    folder = Path(tempfile.mkdtemp(prefix="avatar-video-"))
    try:
        path = folder / f"input{suffix or '.mp4'}"
        path.write_bytes(data)
        del data  # the file on disk is what is decoded from now on
        info = _probe(path, name, sha256, limits, fps)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Video(path, info, folder)


def _probe(path: Path, name: str, sha256: str, limits: VideoLimits, fps: Optional[float]) -> VideoInfo:
    """Describe the video at `path`, or refuse it with one sentence."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{name} has no video stream; upload a video file.")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            duration = _duration(container, stream)
            width, height = stream.codec_context.width, stream.codec_context.height
            has_audio = bool(container.streams.audio)
            rotation = _first_frame_rotation(stream, name)
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
    return VideoInfo(name=name, sha256=sha256, width=width, height=height, fps=out_fps,
                     frames=frames, duration=duration, rotation=rotation, has_audio=has_audio)


def _duration(container, stream) -> float:
    if stream.duration is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0
