"""Streaming H.264 + AAC MP4 writer, with an optional soft caption track.

Frames are encoded as they arrive, so memory does not grow with video length, and
the audio is interleaved with them; audio may itself arrive in pieces (speech made
sentence by sentence) and only what is ahead of the video is held. The file is
written under a temporary name and renamed only when `close()` succeeds: a failed
job never leaves a `video.mp4`.
"""

from __future__ import annotations

import os
import queue
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence, Union

import av
import cv2
import numpy as np

from avatar.captions import Cue
from avatar.speech.timeline import Speech

if TYPE_CHECKING:
    from avatar.video.io import ColourTags

AUDIO_RATE = 44100
AUDIO_SLICE = 8192  # source samples resampled at a time
SUBTITLE_TIME_BASE = Fraction(1, 1000)

# The mov_text encoder only runs to produce the track's sample description (font,
# colours, text box); it reads them from an ASS header. This is FFmpeg's own
# default header, so the track matches what `ffmpeg -c:s mov_text` makes from SRT.
_ASS_HEADER = """[Script Info]
ScriptType: v4.00+
PlayResX: 384
PlayResY: 288

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, \
Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


@dataclass(frozen=True)
class EncoderSettings:
    """x264 options. `threads=0` lets x264 choose (1.5 per core, frame threading)."""

    preset: str = "veryfast"
    crf: int = 20
    tune: Optional[str] = None
    threads: int = 0

    def options(self) -> dict[str, str]:
        options = {"crf": str(self.crf), "preset": self.preset}
        if self.tune:
            options["tune"] = self.tune
        if self.threads:
            options["threads"] = str(self.threads)
        return options


# x264 settings by frame size: the first row whose pixel count is not exceeded wins.
# `python -m benchmarks.encoder` on 2 cores, a photo portrait with head sway and a
# moving mouth (CPU ms per frame, kB per second of video, luma PSNR of decoded frames):
#   1024 px  veryfast crf 20   7.6 ms  118 kB/s  43.7 dB
#            superfast crf 24  6.5 ms  284 kB/s  43.6 dB   (crf 20: 8.4 ms, 670 kB/s, 44.9 dB)
#            ultrafast crf 23  4.2 ms  542 kB/s  42.6 dB
#   tune zerolatency or fastdecode and threads=1 saved no CPU; zerolatency made files 2-3x larger.
# In whole 10 s jobs at 1024 px (the engine renders 110-130 frames/s on its thread)
# x264 at veryfast kept 80-100 frames/s and set the pace; superfast crf 24 keeps
# 115-120, the job takes 24.0 instead of 26.9 CPU ms per frame and about 15% less
# time, for files 1.5x (drawn portrait) to 2.4x (photo) larger. At 768 px and below
# veryfast keeps up (2.8 s per 10 s job either way) and its files are 2-3x smaller.
ENCODER_BY_PIXELS: list[tuple[int, EncoderSettings]] = [
    (768 * 768, EncoderSettings("veryfast", 20)),
]
LARGE_FRAME_ENCODER = EncoderSettings("superfast", 24)


def encoder_settings(width: int, height: int) -> EncoderSettings:
    """x264 settings for a frame size: slower presets only where they keep up with the engine."""
    for pixels, settings in ENCODER_BY_PIXELS:
        if width * height <= pixels:
            return settings
    return LARGE_FRAME_ENCODER


def mov_text_sample(text: str) -> bytes:
    """One 3GPP timed-text sample (TS 26.245): a 16-bit length, then UTF-8 text.

    Written directly rather than through FFmpeg's mov_text encoder, which parses
    its input as ASS and would turn a user's `{\\...}` or `\\N` into markup.
    """
    data = text.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ValueError(f"a caption holds at most 65535 bytes of text, this one {len(data)}")
    return struct.pack(">H", len(data)) + data


class _ClosedOnExit:
    """`with` support: `close()` when the block succeeds, `abort()` when it fails."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class Mp4Writer(_ClosedOnExit):
    """Write frames of a fixed even size, one mono audio track and captions to a faststart MP4.

    Audio comes either all at once (`speech=`) or in pieces (`audio_rate=` then
    `add_audio()` any number of times). Captions need `captions=True` at creation,
    because a track cannot be added once the file has begun; their cues are given
    at the end (`set_subtitles()` or `close(subtitles=...)`), when streamed speech
    has finally been timed.
    """

    def __init__(
        self,
        path: Union[str, Path],
        width: int,
        height: int,
        fps: int = 25,
        speech: Optional[Speech] = None,
        crf: Optional[int] = None,
        preset: Optional[str] = None,
        *,
        audio_rate: Optional[int] = None,
        captions: bool = False,
        caption_language: str = "eng",
        encoder: Optional[EncoderSettings] = None,
        colour: Optional["ColourTags"] = None,
    ) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"H.264 yuv420p needs even dimensions, got {width}x{height}")
        if speech is not None and audio_rate is not None:
            raise ValueError("give the audio either as speech= or as audio_rate= with add_audio(), not both")
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self.encoder = encoder or encoder_settings(width, height)
        if crf is not None or preset is not None:
            self.encoder = replace(self.encoder, crf=self.encoder.crf if crf is None else crf,
                                   preset=preset or self.encoder.preset)
        self._tmp = self.path.with_name(f".tmp-{self.path.name}")
        self._container = av.open(str(self._tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        self._video = self._container.add_stream("libx264", rate=fps)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.options = self.encoder.options()
        self._video.codec_context.time_base = Fraction(1, fps)
        if colour is not None:  # planes taken over from an input keep its colour description
            context = self._video.codec_context
            context.colorspace, context.color_range = colour.colorspace, colour.color_range
            context.color_primaries, context.color_trc = colour.color_primaries, colour.color_trc
        self._frames = 0
        self._audio = None
        self.audio_rate: Optional[int] = None
        if speech is not None:
            self._setup_audio(speech.sample_rate)
            self._pending.append(speech.samples)  # not copied: a Speech is not changed once made
        elif audio_rate is not None:
            self._setup_audio(audio_rate)
        self._subtitles = None
        self._cues: list[Cue] = []
        if captions:
            self._subtitles = self._container.add_stream("mov_text")
            self._subtitles.codec_context.subtitle_header = _ASS_HEADER.encode()
            self._subtitles.metadata["language"] = caption_language

    def _setup_audio(self, rate: int) -> None:
        self._audio = self._container.add_stream("aac", rate=AUDIO_RATE)
        self._audio.layout = "mono"
        self._resampler = av.AudioResampler(format="fltp", layout="mono", rate=AUDIO_RATE)
        self.audio_rate = rate
        self._pending: deque[np.ndarray] = deque()  # source slices not yet resampled
        self._pending_pos = 0  # samples of the first pending slice already taken
        self._audio_in = 0  # source samples resampled so far
        self._audio_pts = 0  # output samples encoded so far

    def add_audio(self, samples: np.ndarray) -> None:
        """Append mono samples at `audio_rate`; what the video has reached is encoded now.

        The samples are copied (callers may reuse their buffer); only audio ahead
        of the video is kept, so memory follows the lead of the speech, not its length.
        """
        if self._audio is None:
            raise ValueError("this writer has no audio track: create it with audio_rate= to add audio")
        samples = np.asarray(samples)
        if samples.ndim != 1:
            raise ValueError(f"audio must be mono (one dimension), got shape {samples.shape}")
        self._pending.append(np.array(samples, dtype=np.float32))
        self._write_audio_until(self._frames / self.fps)

    def _write_audio_until(self, seconds: Optional[float]) -> None:
        """Encode the pending audio up to `seconds` (all of it when None), to interleave.

        The source is resampled a slice at a time, so memory does not grow with
        the length of the recording. One slice of lead keeps audio packets ahead
        of video ones, as players read them.
        """
        if self._audio is None:
            return
        end = None if seconds is None else int(seconds * self.audio_rate) + AUDIO_SLICE
        while self._pending and (end is None or self._audio_in < end):
            head = self._pending[0]
            piece = head[self._pending_pos : self._pending_pos + AUDIO_SLICE].astype(np.float32, copy=False)
            self._pending_pos += len(piece)
            if self._pending_pos >= len(head):
                self._pending.popleft()
                self._pending_pos = 0
            if not len(piece):
                continue
            source = av.AudioFrame.from_ndarray(piece.reshape(1, -1), format="flt", layout="mono")
            source.sample_rate = self.audio_rate
            self._audio_in += len(piece)
            self._encode_audio(self._resampler.resample(source))
        if seconds is None:
            self._encode_audio(self._resampler.resample(None))

    def _encode_audio(self, frames: list) -> None:
        for frame in frames:
            frame.pts = self._audio_pts
            frame.time_base = Fraction(1, AUDIO_RATE)
            self._audio_pts += frame.samples
            self._container.mux(self._audio.encode(frame))

    def write(self, rgb: np.ndarray) -> None:
        """Encode one RGB uint8 frame of the writer's size."""
        if rgb.shape != (self.height, self.width, 3):
            # PyAV would silently rescale a wrong-sized frame; that is a bug upstream.
            raise ValueError(f"frame is {rgb.shape}, the video is {self.height}x{self.width}x3")
        # OpenCV's colour conversion is several times faster than swscale's here.
        self.write_yuv(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420))

    def write_yuv(self, planes: np.ndarray) -> None:
        """Encode one frame given as I420 planes ((height * 3 / 2, width) uint8, luma on top), as they are."""
        if planes.shape != (self.height * 3 // 2, self.width):
            raise ValueError(f"I420 planes are {planes.shape}, the video needs {(self.height * 3 // 2, self.width)}")
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = self._frames
        frame.time_base = Fraction(1, self.fps)
        self._frames += 1
        self._container.mux(self._video.encode(frame))
        self._write_audio_until(self._frames / self.fps)

    @property
    def frames_written(self) -> int:
        return self._frames

    @property
    def pending_audio_seconds(self) -> float:
        """Audio received but not yet encoded: what runs ahead of the video."""
        if self._audio is None:
            return 0.0
        return (sum(len(piece) for piece in self._pending) - self._pending_pos) / self.audio_rate

    def set_subtitles(self, cues: Sequence[Cue]) -> None:
        """Captions to write into the soft subtitle track when the file is closed.

        Checked now, so a bad list fails where it is made rather than at the end.
        """
        if self._subtitles is None:
            raise ValueError("this writer has no caption track: create it with captions=True")
        cues = sorted(cues, key=lambda cue: cue.start)
        for before, after in zip(cues, cues[1:]):
            if after.start < before.end:
                raise ValueError(f"captions {before.index} and {after.index} overlap")
        for cue in cues:
            mov_text_sample(cue.text)  # raises if the text cannot be stored
        self._cues = cues

    def _write_subtitles(self, duration: float) -> None:
        """Mux the cues, cut to the media's length so they never make the file longer.

        Their packets come last, with early timestamps; MP4 indexes every sample,
        so where they lie in the file does not matter, and the gaps between cues
        are filled with empty samples by the muxer.
        """
        limit = round(duration * 1000)
        for cue in self._cues:
            start, end = round(cue.start * 1000), min(round(cue.end * 1000), limit)
            if end <= start or not cue.text.strip():
                continue
            packet = av.Packet(mov_text_sample(cue.text))
            packet.stream = self._subtitles
            packet.time_base = SUBTITLE_TIME_BASE
            packet.pts = packet.dts = start
            packet.duration = end - start
            self._container.mux(packet)

    def close(self, subtitles: Optional[Sequence[Cue]] = None) -> Path:
        """Flush encoders, add the captions, finish the file and move it to its final name."""
        try:
            if subtitles is not None:
                self.set_subtitles(subtitles)
            self._write_audio_until(None)
            self._container.mux(self._video.encode(None))
            if self._audio is not None:
                self._container.mux(self._audio.encode(None))
            if self._subtitles is not None:
                self._write_subtitles(max(self._frames / self.fps, self._audio_pts / AUDIO_RATE if self._audio else 0.0))
            self._container.close()
        except BaseException:
            self.abort()
            raise
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file (after an error or a cancel)."""
        try:
            self._container.close()
        except Exception:
            pass
        self._tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class _AudioPiece:
    """Audio travelling through the encoder queue, so it keeps its place among frames."""

    samples: np.ndarray


class BackgroundWriter(_ClosedOnExit):
    """Encode on a second thread while the caller renders the next frames.

    Rendering (NumPy, OpenCV) and x264 both release the GIL, so on two cores they
    overlap: measured about 25% more frames per second than encoding inline. Frames
    and audio are copied on submission because engines reuse their buffers; both go
    through one queue, so the encoder thread alone touches the writer until close.
    """

    def __init__(self, writer: Mp4Writer, depth: int = 4) -> None:
        self.writer = writer
        self.encode_seconds = 0.0
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: Optional[BaseException] = None
        self._submitted = 0
        self._thread = threading.Thread(target=self._run, name="mp4-encoder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining so the producer never blocks on a dead encoder
            start = time.perf_counter()
            try:
                if isinstance(item, _AudioPiece):
                    self.writer.add_audio(item.samples)
                elif item.ndim == 2:
                    self.writer.write_yuv(item)
                else:
                    self.writer.write(item)
            except BaseException as exc:  # handed to the producer thread
                self._error = exc
            self.encode_seconds += time.perf_counter() - start

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, rgb: np.ndarray) -> None:
        self._raise_if_failed()
        self._queue.put(rgb.copy())
        self._submitted += 1

    def write_yuv(self, planes: np.ndarray, copy: bool = True) -> None:
        """Queue a frame of I420 planes; `copy=False` when the caller will never change them."""
        self._raise_if_failed()
        self._queue.put(planes.copy() if copy else planes)
        self._submitted += 1

    def add_audio(self, samples: np.ndarray) -> None:
        """Queue mono samples at the writer's `audio_rate`, in order with the frames."""
        self._raise_if_failed()
        if self.writer.audio_rate is None:
            raise ValueError("this writer has no audio track: create it with audio_rate= to add audio")
        self._queue.put(_AudioPiece(np.array(samples, dtype=np.float32)))

    def set_subtitles(self, cues: Sequence[Cue]) -> None:
        """Captions for the file; they are written by `close()` after the last frame."""
        self.writer.set_subtitles(cues)  # the encoder thread never reads them

    @property
    def frames_written(self) -> int:
        """Frames handed over so far (encoded, or queued for encoding)."""
        return self._submitted

    def _finish_thread(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def close(self, subtitles: Optional[Sequence[Cue]] = None) -> Path:
        self._finish_thread()
        if self._error is not None:
            self.writer.abort()
            raise self._error
        start = time.perf_counter()
        path = self.writer.close(subtitles)
        self.encode_seconds += time.perf_counter() - start
        return path

    def abort(self) -> None:
        self._finish_thread()
        self.writer.abort()
