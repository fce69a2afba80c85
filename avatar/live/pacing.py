"""Where a live frame's time goes: an opt-in trace of each frame's due, render and send times beside the stalls.

A viewer sees a late frame as a gap; on the server it can come from the frame's own
rendering, from the event loop busy with something else (the encoder, the sound),
from the voice speaking the next sentence, or from the whole process stopping
(Python's garbage collector, another thread holding the interpreter). Guessing
between them is how a fix misses, so the process can write what happened when:
set `AVATAR_LIVE_TRACE` to a file and every live video frame, every garbage
collection, every sentence the voice speaks and every time a watcher thread woke
more than `STALL_S` late are written to it as JSON lines, times in seconds of the
process's monotonic clock. `python -m benchmarks.live_pacing FILE` reads it back.

Off (the default) it costs one attribute test per frame.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import threading
import time
from typing import Any, Optional

ENV = "AVATAR_LIVE_TRACE"
STALL_S = 0.02
"""A watcher thread that sleeps 5 ms and wakes more than this late saw the process (or the machine) stopped."""
WATCH_EVERY_S = 0.005


class PacingTrace:
    """Appends events as JSON lines to one file; thread-safe, flushed every second and at exit."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "a", buffering=1 << 16, encoding="utf-8")
        self._lock = threading.Lock()
        self._gc_start: dict[int, float] = {}
        self._flushed = time.monotonic()
        self._closed = threading.Event()
        self.event("clock", wall=time.time())  # to line the trace up with a browser's clock (ms since the epoch)
        _time_the_encoder(self)
        gc.callbacks.append(self._on_gc)
        threading.Thread(target=self._watch, name="live-pacing", daemon=True).start()
        atexit.register(self.flush)

    def event(self, kind: str, **fields: Any) -> None:
        """Write one event; `t` is now unless given."""
        fields.setdefault("t", time.monotonic())
        line = json.dumps({"e": kind, **fields}, separators=(",", ":"))
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line + "\n")
            if fields["t"] - self._flushed > 1.0:
                self._file.flush()
                self._flushed = fields["t"]

    def flush(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()

    def close(self) -> None:
        """Stop watching (the collector and the watcher thread) and close the file."""
        self._closed.set()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        with self._lock:
            self._file.close()

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        now = time.monotonic()
        ident = threading.get_ident()
        if phase == "start":
            self._gc_start[ident] = now
            return
        began = self._gc_start.pop(ident, now)
        if info.get("generation", 0) == 2 or now - began > 0.005:
            self.event("gc", t=began, gen=info.get("generation"), s=now - began, collected=info.get("collected"),
                       thread=threading.current_thread().name)

    def _watch(self) -> None:
        load_at = 0.0
        while not self._closed.is_set():
            before = time.monotonic()
            time.sleep(WATCH_EVERY_S)
            after = time.monotonic()
            if after - before - WATCH_EVERY_S > STALL_S:
                self.event("stall", t=before, s=after - before - WATCH_EVERY_S)
            if after - load_at > 10.0:
                load_at = after
                self.event("load", t=after, avg=os.getloadavg()[0])


_ENCODER_TRACE: list[PacingTrace] = []


def _time_the_encoder(trace: PacingTrace) -> None:
    """Trace each VP8 encode aiortc runs (its time, size, and whether aiortc made a new codec for it, which it does
    when the browser's bandwidth estimate moves the target bitrate by over 10%)."""
    from aiortc.codecs import vpx

    _ENCODER_TRACE[:] = [trace]
    original = vpx.Vp8Encoder.encode
    if getattr(original, "traced", False):
        return

    def encode(self, frame, force_keyframe: bool = False):
        codec = self.codec
        began = time.monotonic()
        payloads, timestamp = original(self, frame, force_keyframe)
        _ENCODER_TRACE[0].event("encode", t=began, s=time.monotonic() - began, bytes=sum(len(p) for p in payloads),
                    new=self.codec is not codec, key=force_keyframe, bitrate=self.target_bitrate,
                    pts=int(frame.pts or 0))
        return payloads, timestamp

    encode.traced = True  # type: ignore[attr-defined]
    vpx.Vp8Encoder.encode = encode  # type: ignore[method-assign]


_TRACE: Optional[PacingTrace] = None
_TRACE_LOCK = threading.Lock()


def pacing_trace() -> Optional[PacingTrace]:
    """The process's trace when `AVATAR_LIVE_TRACE` names a file, else None (started on first use)."""
    global _TRACE
    path = os.environ.get(ENV, "").strip()
    if not path:
        return None
    with _TRACE_LOCK:
        if _TRACE is None:
            _TRACE = PacingTrace(path)
        return _TRACE
