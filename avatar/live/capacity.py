"""How many live sessions this machine keeps in real time, and the gate that refuses one more.

A live session must render `fps` frames every second, whatever else runs; a
session that falls behind stutters for its viewer. So the server counts: either
the operator says how many (`AVATAR_LIVE_SESSIONS`, 0 turns live sessions off), or
it renders a stretch of a session at start-up and divides what its cores render
per second by what a session needs, keeping headroom for the voice, the encoder
and the network.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from avatar.errors import InputError, ServiceUnavailable
from avatar.live.timeline import Utterance
from avatar.speech.timeline import Phoneme

ENV = "AVATAR_LIVE_SESSIONS"
HEADROOM = 0.5
"""Share of the measured rendering speed given to sessions: the voice, video and audio encoding and the network
take the rest."""
MEASURE_FRAMES = 50


@dataclass(frozen=True)
class Measurement:
    """Frames per second one core renders for a live session, and the sessions that allows on `cores` cores."""

    fps_per_core: float
    cores: int
    sessions: int


def available_cores() -> int:
    """CPU cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def measure(frames: int = MEASURE_FRAMES, avatar: str = "maya", fps: int = 25,
            cores: Optional[int] = None) -> Measurement:
    """Render `frames` idle and speaking frames of a session (on one thread, so per core) and derive the count.

    At least one session is allowed: one session uses a fraction of one core on any
    machine the studio runs on, and a slow measurement (other work at start-up) must
    not turn live sessions off.
    """
    from avatar.live.session import LiveSettings, open_session

    cores = cores or available_cores()
    with open_session(avatar, LiveSettings(fps=fps)) as session:
        # A speaking mouth costs more than a closed one: measure with phonemes on the clock.
        session._timeline.utterances.append(_speaking(session.settings.sample_rate))
        session.frame(0)  # first-use costs (imports, caches) are not per frame
        started = time.perf_counter()
        for n in range(1, frames + 1):
            session.frame(n)
        seconds = time.perf_counter() - started
    per_core = frames / max(seconds, 1e-6)
    return Measurement(round(per_core, 1), cores, max(1, int(per_core * cores * HEADROOM // fps)))


def _speaking(sample_rate: int) -> Utterance:
    """Sixteen seconds of made-up speech (phonemes over silence) to render a talking mouth with."""
    sounds = ["h", "ə", "l", "oʊ", "w", "ɜː", "l", "d", " "] * 22
    phonemes = [Phoneme(p, 0.08 * i, 0.08 * (i + 1)) for i, p in enumerate(sounds)]
    samples = np.zeros(int(len(sounds) * 0.08 * sample_rate), np.float32)
    return Utterance("measure", 0.0, samples, sample_rate, phonemes, phonemes, 0)


def configured() -> Optional[int]:
    """The operator's count from AVATAR_LIVE_SESSIONS, or None when unset; one sentence when it is not a count."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise InputError(f"{ENV} must be a whole number of live sessions (0 turns them off), not {value[:40]!r}.")
    return int(value)


@dataclass
class LiveCapacity:
    """The number of live sessions allowed and the ones open now; `acquire` refuses one more in one sentence."""

    limit: int
    source: str = "configured"  # or "measured: N frames/s per core on C cores"
    _open: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_env(cls) -> "LiveCapacity":
        """AVATAR_LIVE_SESSIONS when set, else measured now (about a second)."""
        count = configured()
        if count is not None:
            return cls(count, f"configured ({ENV}={count})")
        found = measure()
        return cls(found.sessions, f"measured: {found.fps_per_core:g} frames/s per core on {found.cores} cores")

    @property
    def in_use(self) -> int:
        with self._lock:
            return len(self._open)

    def acquire(self, session_id: str) -> None:
        """Count `session_id` in, or ServiceUnavailable saying how many run and what to do."""
        with self._lock:
            if self.limit == 0:
                raise ServiceUnavailable(f"Live sessions are turned off on this server ({ENV}=0).")
            if len(self._open) >= self.limit:
                raise ServiceUnavailable(
                    f"This server already runs {len(self._open)} live session{'s' if len(self._open) != 1 else ''}, "
                    f"as many as it keeps in real time; try again when one ends.")
            self._open.add(session_id)

    def release(self, session_id: str) -> None:
        """Count `session_id` out (nothing when it was not counted)."""
        with self._lock:
            self._open.discard(session_id)
