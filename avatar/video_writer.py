"""Streaming H.264 + AAC MP4 writer.

Frames are encoded as they arrive, so memory does not grow with video length, and
the audio is interleaved with them. The file is written under a temporary name and
renamed only when `close()` succeeds: a failed job never leaves a `video.mp4`.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Optional, Union

import av
import cv2
import numpy as np

from avatar.speech.timeline import Speech

AUDIO_RATE = 44100


class Mp4Writer:
    """Write frames of a fixed even size plus one audio track to an MP4 with faststart."""

    def __init__(
        self,
        path: Union[str, Path],
        width: int,
        height: int,
        fps: int = 25,
        speech: Optional[Speech] = None,
        crf: int = 20,
        preset: str = "veryfast",
    ) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"H.264 yuv420p needs even dimensions, got {width}x{height}")
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self._tmp = self.path.with_name(f".tmp-{self.path.name}")
        self._container = av.open(str(self._tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        self._video = self._container.add_stream("libx264", rate=fps)
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"crf": str(crf), "preset": preset}
        self._video.codec_context.time_base = Fraction(1, fps)
        self._frames = 0
        self._audio = None
        if speech is not None:
            self._setup_audio(speech)

    def _setup_audio(self, speech: Speech) -> None:
        self._audio = self._container.add_stream("aac", rate=AUDIO_RATE)
        self._audio.layout = "mono"
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=AUDIO_RATE)
        source = av.AudioFrame.from_ndarray(speech.samples.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
        source.sample_rate = speech.sample_rate
        source.pts = 0
        source.time_base = Fraction(1, speech.sample_rate)
        self._audio_frames = resampler.resample(source) + resampler.resample(None)
        self._audio_next = 0
        self._audio_pts = 0

    def _write_audio_until(self, seconds: Optional[float]) -> None:
        """Encode queued audio up to `seconds` (all of it when None), to interleave."""
        if self._audio is None:
            return
        while self._audio_next < len(self._audio_frames):
            frame = self._audio_frames[self._audio_next]
            if seconds is not None and self._audio_pts / AUDIO_RATE > seconds:
                break
            frame.pts = self._audio_pts
            frame.time_base = Fraction(1, AUDIO_RATE)
            self._audio_pts += frame.samples
            self._audio_next += 1
            self._container.mux(self._audio.encode(frame))

    def write(self, rgb: np.ndarray) -> None:
        """Encode one RGB uint8 frame of the writer's size."""
        # OpenCV's colour conversion is several times faster than swscale's here.
        frame = av.VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
        frame.pts = self._frames
        frame.time_base = Fraction(1, self.fps)
        self._frames += 1
        self._container.mux(self._video.encode(frame))
        self._write_audio_until(self._frames / self.fps)

    @property
    def frames_written(self) -> int:
        return self._frames

    def close(self) -> Path:
        """Flush encoders, finish the file and move it to its final name."""
        self._write_audio_until(None)
        self._container.mux(self._video.encode(None))
        if self._audio is not None:
            self._container.mux(self._audio.encode(None))
        self._container.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file (after an error or a cancel)."""
        try:
            self._container.close()
        except Exception:
            pass
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

