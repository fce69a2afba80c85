"""Reading user videos: checked before any heavy work, decoded frame by frame.

`open_video` refuses what the tools cannot take (wrong type, unreadable, no video
stream, too long, too large) with one sentence, and describes the rest in a
`VideoInfo`. `Video.frames()` then yields RGB frames at a constant frame rate
(`Video.yuv_frames()` the decoder's own YUV 4:2:0 planes, for tools that keep
most of each picture as it was):
variable-rate input is resampled by showing, at each output time, the newest
source frame less than half an output frame after it (frames are held or dropped,
never blended; the same frames FFmpeg's `fps` filter picks), and
rotation metadata is applied, so a phone video comes out upright. Frames are
decoded as they are consumed, so memory does not grow with the length of the
video. `Video.audio()` gives the sound track, to be kept in the result. A tool
whose limits allow it (`VideoLimits.scale_down`) takes a video larger than its
long-side limit scaled down to it as it is decoded (`VideoInfo.scaled`).

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
import cv2
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
    scale_down: bool = False
    """A video over `max_long_side` is scaled down to it (even sides) as it is decoded, instead of refused."""


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
    source_width: int = 0  # the upright picture's size as stored, when it is scaled down to `width`x`height`
    source_height: int = 0
    colour: Optional["ColourTags"] = None  # how the stored YUV is to be read, when it is yuv420p
    cropped: bool = False  # an odd last row or column of the stored picture is left out (H.264 4:2:0 needs even sides)

    @property
    def scaled(self) -> bool:
        """True when the frames are scaled down from a larger stored picture."""
        return (bool(self.source_width) and not self.cropped
                and (self.source_width, self.source_height) != (self.width, self.height))


@dataclass(frozen=True)
class ColourTags:
    """The colour description of a yuv420p stream (FFmpeg's enum values), copied onto an output encoded from its
    planes so that players read them the same way."""

    colorspace: int
    color_range: int
    color_primaries: int
    color_trc: int


class YuvFrame:
    """One decoded picture as I420 planes: `planes` is (height * 3 / 2, width) uint8, the luma plane on top, then
    the quarter-size U and V planes (OpenCV's and FFmpeg's yuv420p layout).

    Converting a whole 720p frame to RGB and back costs more than decoding it and
    changes every pixel a little; tools that redraw a small region convert only
    that region (`rgb_region`) and write only there (`luma`, `chroma`).
    """

    __slots__ = ("planes", "width", "height")

    def __init__(self, planes: np.ndarray, width: int, height: int) -> None:
        self.planes = planes
        self.width, self.height = width, height

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of the RGB picture (height, width, 3)."""
        return self.height, self.width, 3

    @property
    def luma(self) -> np.ndarray:
        return self.planes[: self.height]

    def chroma(self) -> tuple[np.ndarray, np.ndarray]:
        """The U and V planes, (height / 2, width / 2) each (views)."""
        half_h, half_w = self.height // 2, self.width // 2
        rest = self.planes[self.height:].reshape(2, half_h, half_w)
        return rest[0], rest[1]

    def copy(self) -> "YuvFrame":
        return YuvFrame(self.planes.copy(), self.width, self.height)

    def rgb(self) -> np.ndarray:
        """The whole picture as RGB (BT.601 limited range, as FFmpeg's default conversion)."""
        return cv2.cvtColor(self.planes, cv2.COLOR_YUV2RGB_I420)

    def rgb_region(self, x0: int, y0: int, x1: int, y1: int) -> tuple[np.ndarray, tuple[int, int]]:
        """RGB of the region (clipped to the picture, widened to even bounds) and its top-left corner."""
        x0, y0 = max(0, x0) // 2 * 2, max(0, y0) // 2 * 2
        x1, y1 = min(self.width, (x1 + 1) // 2 * 2), min(self.height, (y1 + 1) // 2 * 2)
        if x1 <= x0 or y1 <= y0:
            return np.zeros((0, 0, 3), np.uint8), (x0, y0)
        u, v = self.chroma()
        crop = np.concatenate([self.luma[y0:y1, x0:x1].reshape(-1),
                               u[y0 // 2:y1 // 2, x0 // 2:x1 // 2].reshape(-1),
                               v[y0 // 2:y1 // 2, x0 // 2:x1 // 2].reshape(-1)])
        return cv2.cvtColor(crop.reshape((y1 - y0) * 3 // 2, x1 - x0), cv2.COLOR_YUV2RGB_I420), (x0, y0)

    def small_rgb(self, size: tuple[int, int]) -> np.ndarray:
        """The picture scaled down to `size` (width, height) in RGB, averaging as INTER_AREA does.

        The planes are scaled before converting, so a thumbnail costs a fraction of
        a full conversion; whole rows and columns are skipped first while the picture
        stays twice the target size or more.
        """
        width, height = size
        step = max(1, min(self.width // (2 * width), self.height // (2 * height)))
        luma = self.luma[::step, ::step] if step > 1 else self.luma
        u, v = self.chroma()
        if step > 1:
            u, v = u[::step, ::step], v[::step, ::step]
        even_w, even_h = max(2, (width + 1) // 2 * 2), max(2, (height + 1) // 2 * 2)
        small_luma = cv2.resize(luma, (even_w, even_h), interpolation=cv2.INTER_AREA)
        small_u = cv2.resize(u, (even_w // 2, even_h // 2), interpolation=cv2.INTER_AREA)
        small_v = cv2.resize(v, (even_w // 2, even_h // 2), interpolation=cv2.INTER_AREA)
        planes = np.concatenate([small_luma.reshape(-1), small_u.reshape(-1), small_v.reshape(-1)])
        rgb = cv2.cvtColor(planes.reshape(even_h * 3 // 2, even_w), cv2.COLOR_YUV2RGB_I420)
        return rgb[:height, :width] if (even_w, even_h) != (width, height) else rgb


SEEK_AFTER = 2.0
"""Seconds into a video from which decoding from frame n seeks to a key frame rather than decoding from the start
(and how far before frame n it aims, so that the key frame found precedes it)."""


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
        width, height = self._stored_size()
        for frame in self._pictures():
            yield _upright(self._sized(frame).to_ndarray(format="rgb24")[:height, :width], self.info.rotation)

    def yuv_frames(self, start: int = 0) -> Iterator[YuvFrame]:
        """The same frames as `frames()` as YUV 4:2:0 planes, as the decoder gives them (no colour conversion for
        a yuv420p video), from frame `start` on (decoding from the key frame before it, not from the beginning)."""
        width, height = self.info.width, self.info.height
        for frame in self._pictures(start):
            planes = self._planes(self._sized(frame))
            if self.info.rotation:
                planes = _upright_planes(planes, self.info.rotation)
            yield YuvFrame(planes, width, height)

    def _stored_size(self) -> tuple[int, int]:
        """The checked size (width, height) in the stored picture's orientation, before it is turned upright."""
        turned = self.info.rotation in (90, 270)
        return (self.info.height, self.info.width) if turned else (self.info.width, self.info.height)

    def _sized(self, frame: "av.VideoFrame") -> "av.VideoFrame":
        """The decoded picture scaled down to the checked size when the video is larger than the limit."""
        if not self.info.scaled:
            return frame
        width, height = self._stored_size()
        return frame.reformat(width=width, height=height, interpolation="AREA")

    def _planes(self, frame: "av.VideoFrame") -> np.ndarray:
        """The picture's I420 planes at the checked size; an odd last row or column is cut off, not resampled,
        so every other pixel stays exactly as decoded."""
        if not self.info.cropped:
            return frame.to_ndarray(format="yuv420p")
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        width, height = self._stored_size()
        luma, u, v = (np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: plane.height, : plane.width]
                      for plane in frame.planes)
        half = (slice(0, height // 2), slice(0, width // 2))
        return np.concatenate([luma[:height, :width].reshape(-1), u[half].reshape(-1), v[half].reshape(-1)]).reshape(
            height * 3 // 2, width)

    def _pictures(self, first: int = 0) -> Iterator["av.VideoFrame"]:
        """Decoded pictures at `info.fps`, each yielded once per output slot it fills (held or dropped), from slot
        `first` on.

        For a `first` past `SEEK_AFTER` seconds the decoder seeks to the key frame
        before it; the slots that frame and the ones after it fill are worked out
        from their timestamps exactly as when decoding from the start (the slots
        before the key frame's are those whose time it comes after). A stream
        whose seek lands elsewhere, or without timestamps, is decoded from the start.
        """
        step = 1.0 / self.info.fps
        emitted = 0
        held = None
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
                seeking = first * step > SEEK_AFTER and stream.time_base is not None
                if seeking:
                    target = int((start + first * step - SEEK_AFTER) / stream.time_base)
                    container.seek(target, backward=True, any_frame=False, stream=stream)
                for frame in container.decode(stream):
                    time = float(frame.pts * stream.time_base) - start if frame.pts is not None else emitted * step
                    if seeking:
                        seeking = False
                        if frame.pts is None or (time + 0.5 * step) > first * step:
                            yield from self._pictures_from_start(first)  # landed after the slot: start over
                            return
                        emitted = max(0, math.floor((time + 1e-6) / step - 0.5) + 1)
                    # Output slots up to this frame's time, rounded to the nearest slot, show the
                    # frame before it (as FFmpeg's fps filter does: a frame exactly half-way
                    # goes to the later slot, whatever the rounding of the timestamps).
                    while held is not None and emitted < self.info.frames and (emitted + 0.5) * step <= time + 1e-6:
                        if emitted >= first:
                            yield held
                        emitted += 1
                    if emitted >= self.info.frames:
                        return  # the rest lies past the stated duration
                    held = frame
        except av.FFmpegError:
            raise InputError(f"{self.info.name} is damaged after frame {emitted}; repair or re-export it.") from None
        while held is not None and emitted < self.info.frames:
            if emitted >= first:
                yield held
            emitted += 1

    def _pictures_from_start(self, first: int) -> Iterator["av.VideoFrame"]:
        """`_pictures(first)` without seeking."""
        pictures = self._pictures(0)
        for _ in range(first):
            next(pictures, None)
        yield from pictures

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


def _upright_planes(planes: np.ndarray, rotation: int) -> np.ndarray:
    """I420 planes of a picture turned as `_upright` turns an RGB one (each plane on its own)."""
    height = planes.shape[0] * 2 // 3
    width = planes.shape[1]
    luma = planes[:height]
    rest = planes[height:].reshape(2, height // 2, width // 2)
    turned = [_upright(plane, rotation) for plane in (luma, rest[0], rest[1])]
    return np.concatenate([p.reshape(-1) for p in turned]).reshape(-1, turned[0].shape[1])


def _first_frame(stream, name: str) -> tuple[int, Optional[ColourTags]]:
    """Counter-clockwise degrees that turn the stored picture upright (the display matrix), and its colour tags.

    Read from the first decoded frame, which also proves the stream holds a picture
    FFmpeg can decode; `np.rot90` turns counter-clockwise too, as FFmpeg's own
    autorotation does. The tags are kept only for yuv420p, whose planes an output
    may take over as they are.
    """
    for frame in stream.container.decode(stream):
        degrees = float(getattr(frame, "rotation", 0) or 0)
        colour = None
        if frame.format.name == "yuv420p":
            colour = ColourTags(int(frame.colorspace), int(frame.color_range), int(frame.color_primaries),
                                int(frame.color_trc))
        return int(round(degrees / 90.0)) * 90 % 360, colour
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
            rotation, colour = _first_frame(stream, name)
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
    source_width, source_height = width, height
    cropped = False
    if max(width, height) > limits.max_long_side and limits.scale_down:
        width, height = _scaled_size(width, height, limits.max_long_side)
    elif max(width, height) > limits.max_long_side:
        raise InputError(f"{name} is {width}x{height}, larger than the {limits.max_long_side} px limit on its long "
                         "side; scale it down first.")
    elif width % 2 or height % 2:
        if min(width, height) < 2:
            raise InputError(f"{name} is {width}x{height} pixels, too small to hold a picture; upload a larger video.")
        width, height, cropped = width // 2 * 2, height // 2 * 2, True
    frames = max(1, math.ceil(round(duration * out_fps, 6)))
    if frames > limits.max_frames:
        raise InputError(f"{name} has {frames} frames at {out_fps:g} fps, more than the {limits.max_frames} limit.")
    return VideoInfo(name=name, sha256=sha256, width=width, height=height, fps=out_fps,
                     frames=frames, duration=duration, rotation=rotation, has_audio=has_audio,
                     source_width=source_width, source_height=source_height, colour=colour, cropped=cropped)


def _scaled_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """`width`x`height` scaled so the long side is `long_side`, both sides even (for H.264 4:2:0)."""
    scale = long_side / max(width, height)
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def _duration(container, stream) -> float:
    if stream.duration is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0
