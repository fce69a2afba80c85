"""WebRTC tracks (aiortc) that send a `LiveSession` to a browser: one video and one audio track, one clock.

Each track sends what the session says is due at the session's clock time, and
stamps it with that time (video pts in 1/90000 s, audio pts in samples at 48 kHz),
so the browser lines sound and lips up by the same clock the session placed them
on. A track never runs ahead of the clock, and one that fell behind (a slow
machine, a paused tab) skips to what is due now instead of growing a delay.

Rendering runs on the session's own thread (its lane), never on the event loop,
so one session's frames never hold up another's sound.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Optional

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

from avatar.live.session import LiveSession

VIDEO_CLOCK = 90000
"""RTP's video clock: video pts count 1/90000 s."""
AUDIO_PTIME = 0.02
"""Seconds of sound per audio frame: Opus's usual 20 ms packet."""
MAX_LATE_S = 0.12
"""A track more than this behind the clock drops what it missed and sends what is due now."""


async def _until(session: LiveSession, t: float) -> None:
    """Sleep until clock time `t` of the session."""
    wait = t - session.now()
    if wait > 0:
        await asyncio.sleep(wait)


class LiveVideoTrack(MediaStreamTrack):
    """The session's frames, frame n sent at its due time with pts n / fps."""

    kind = "video"

    def __init__(self, session: LiveSession, lane: Optional[ThreadPoolExecutor] = None) -> None:
        super().__init__()
        self.session = session
        self._own_lane = lane is None
        self.lane = lane or ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-render")
        self._next: Optional[int] = None
        self.sent = 0

    def stop(self) -> None:
        """End the track (and the render thread it made for itself)."""
        super().stop()
        if self._own_lane:
            self.lane.shutdown(wait=False)

    async def recv(self) -> VideoFrame:
        if self.readyState != "live" or self.session.closed:
            raise MediaStreamError
        session = self.session
        due_now = session.frame_at(session.now())
        n = due_now if self._next is None or due_now - self._next > MAX_LATE_S * session.settings.fps else self._next
        await _until(session, session.frame_due(n))
        try:
            image = await asyncio.get_running_loop().run_in_executor(self.lane, session.frame, n)
        except Exception as exc:  # the session ended meanwhile
            raise MediaStreamError from exc
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = n * VIDEO_CLOCK // session.settings.fps
        frame.time_base = Fraction(1, VIDEO_CLOCK)
        self._next = n + 1
        self.sent += 1
        return frame


class LiveAudioTrack(MediaStreamTrack):
    """The session's sound in 20 ms frames of 16-bit mono, samples k.. sent at their due time with pts k."""

    kind = "audio"

    def __init__(self, session: LiveSession) -> None:
        super().__init__()
        if session.settings.sample_rate % int(1 / AUDIO_PTIME):
            raise ValueError("A live session's sample rate must be a multiple of 50 Hz to send 20 ms frames.")
        self.session = session
        self.rate = session.settings.sample_rate
        self.samples = int(self.rate * AUDIO_PTIME)
        self._next: Optional[int] = None
        self.sent = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live" or self.session.closed:
            raise MediaStreamError
        session = self.session
        due_now = int(session.now() * self.rate) // self.samples * self.samples
        k = due_now if self._next is None or due_now - self._next > MAX_LATE_S * self.rate else self._next
        await _until(session, k / self.rate)
        try:
            sound = session.audio(k, self.samples)
        except Exception as exc:
            raise MediaStreamError from exc
        pcm = (np.clip(sound, -1.0, 1.0) * 32767).astype(np.int16).reshape(1, -1)
        frame = AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = k
        frame.time_base = Fraction(1, self.rate)
        self._next = k + self.samples
        self.sent += 1
        return frame
