"""WebRTC tracks (aiortc) that send a `LiveSession` to a browser: one video and one audio track, one clock.

Each track sends what the session says is due at the session's clock time, and
stamps it with that time (video pts in 1/90000 s, audio pts in samples at 48 kHz),
so the browser lines sound and lips up by the same clock the session placed them
on. A track never runs ahead of the clock, and one that fell behind (a slow
machine, a paused tab) skips to what is due now instead of growing a delay.

Rendering runs on the session's own thread (its lane), never on the event loop,
so one session's frames never hold up another's sound. The lane renders the next
`AHEAD_FRAMES` frames before they are due (`LiveSession.render`), so a moment it
does not get the CPU or the interpreter (the voice speaking the next sentence, the
page redrawn, the encoder) does not make a frame late; a frame a sentence placed
or a Stop changed since is rendered again when due, so Stop and the start of a
sentence are what they were.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from typing import Optional

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

from avatar.live.pacing import pacing_trace
from avatar.live.session import LiveSession, Rendered

VIDEO_CLOCK = 90000
"""RTP's video clock: video pts count 1/90000 s."""
AUDIO_PTIME = 0.02
"""Seconds of sound per audio frame: Opus's usual 20 ms packet."""
MAX_LATE_S = 0.12
"""A track more than this behind the clock drops what it missed and sends what is due now."""
AHEAD_FRAMES = 4
"""Frames the video track renders before they are due (160 ms at 25 fps): longer than the render thread's longest
waits measured while the voice speaks and the page redraws beside it (about 0.13 s)."""


async def _until(session: LiveSession, t: float) -> None:
    """Sleep until clock time `t` of the session."""
    wait = t - session.now()
    if wait > 0:
        await asyncio.sleep(wait)


class LiveVideoTrack(MediaStreamTrack):
    """The session's frames, frame n sent at its due time with pts n / fps."""

    kind = "video"

    def __init__(self, session: LiveSession, lane: Optional[ThreadPoolExecutor] = None,
                 ahead: int = AHEAD_FRAMES) -> None:
        super().__init__()
        self.session = session
        self._own_lane = lane is None
        self.lane = lane or ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-render")
        self.ahead = ahead
        self._ahead: dict[int, Future[tuple[Rendered, VideoFrame]]] = {}  # frame -> its render ahead, oldest first
        self._next: Optional[int] = None
        self.sent = 0
        self.rendered_again = 0  # frames rendered ahead that a sentence placed or a Stop changed before they were due
        self._trace = pacing_trace()

    def stop(self) -> None:
        """End the track (and the render thread it made for itself)."""
        super().stop()
        self._drop_ahead()
        if self._own_lane:
            self.lane.shutdown(wait=False)

    async def recv(self) -> VideoFrame:
        if self.readyState != "live" or self.session.closed:
            raise MediaStreamError
        session = self.session
        called = session.now()
        due_now = session.frame_at(called)
        n = due_now if self._next is None or due_now - self._next > MAX_LATE_S * session.settings.fps else self._next
        await _until(session, session.frame_due(n))
        woke = session.now()
        try:
            frame = await self._taken(n)
            if frame is None:
                frame = await asyncio.get_running_loop().run_in_executor(self.lane, self._render_now, n)
        except Exception as exc:  # the session ended meanwhile
            raise MediaStreamError from exc
        if self._trace is not None:
            self._trace.event("frame", n=n, due=session.frame_due(n), called=called, woke=woke, done=session.now(),
                              skipped=n - (self._next if self._next is not None else n), start=session.start,
                              again=self.rendered_again)
        self._next = n + 1
        self.sent += 1
        self._render_ahead(n + 1)
        return frame

    def _video_frame(self, image: np.ndarray, n: int) -> VideoFrame:
        """Frame n as the encoder takes it (YUV 4:2:0, converted here on the lane rather than on the event loop)."""
        frame = VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = n * VIDEO_CLOCK // self.session.settings.fps
        frame.time_base = Fraction(1, VIDEO_CLOCK)
        return frame

    def _render_now(self, n: int) -> VideoFrame:
        return self._video_frame(self.session.frame(n), n)

    def _render_early(self, n: int) -> tuple[Rendered, VideoFrame]:
        rendered = self.session.render(n)
        return rendered, self._video_frame(rendered.image, n)

    def _render_ahead(self, first: int) -> None:
        """Have the lane render frames first..first+ahead-1 that it has not been given yet; forget older ones."""
        for m in [m for m in self._ahead if m < first]:
            self._ahead.pop(m).cancel()
        if self.session.closed or self.readyState != "live":
            return
        for m in range(first, first + self.ahead):
            if m not in self._ahead:
                try:
                    self._ahead[m] = self.lane.submit(self._render_early, m)
                except RuntimeError:  # the track was stopped meanwhile (its lane shut down)
                    return

    async def _taken(self, n: int) -> Optional[VideoFrame]:
        """Frame n as rendered ahead, if it was and nothing changed it since; else None (and the frames rendered
        ahead of it, made before the same change, are dropped)."""
        future = self._ahead.pop(n, None)
        if future is None:
            return None
        try:
            rendered, frame = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if future.cancelled():
                return None
            raise
        if self.session.hand_out(rendered) is None:
            self.rendered_again += 1
            self._drop_ahead()
            return None
        return frame

    def _drop_ahead(self) -> None:
        for future in self._ahead.values():
            future.cancel()
        self._ahead.clear()


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
