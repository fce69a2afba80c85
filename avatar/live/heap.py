"""Keep Python's full garbage collections short in a process that streams live sessions.

A full collection walks every object the process holds, with the interpreter
stopped. In the app (Streamlit, the models' libraries, the page's own objects) that
took 0.24-0.31 s, and as a long session's page kept redrawing it came about once a
minute: every frame and sound packet due meanwhile was late, and the viewer saw a
quarter-second freeze (measured with `avatar.live.pacing`). The objects that
make up most of the heap were made at start-up and live as long as the process,
so when a live session starts they are collected once and then frozen
(`gc.freeze`): later full collections skip them and walk only what came after.
A frozen object that becomes garbage in a reference cycle is not freed, so once
no live session is open the freeze is lifted (`release_heap`) and the usual
collections free what was left (a model unloaded meanwhile, say).

The freeze belongs to the whole process, and sessions opened by the page and by
the API may stream in one process at once, so the sessions are counted: every
opened session settles the heap and every closed one releases it, and the freeze
is lifted only when the last one closes.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass

_LOCK = threading.Lock()
_open = 0
"""Live sessions that settled the heap and have not released it yet."""


@dataclass(frozen=True)
class Settled:
    """What settling the heap did: objects frozen (kept out of later collections) and the seconds it took."""

    frozen: int
    seconds: float


def settle_heap() -> Settled:
    """Collect what is garbage now and freeze the rest, so later full collections skip it; called when a live
    session starts (the one pause is then paid before its stream, not during it). Pair it with `release_heap`."""
    global _open
    with _LOCK:
        _open += 1  # counted first: a `release_heap` after a failure here still pairs with it
        began = time.perf_counter()
        gc.collect()
        gc.freeze()
        return Settled(gc.get_freeze_count(), time.perf_counter() - began)


def release_heap() -> None:
    """A live session ended; when it was the last one, the frozen objects go back under the collector."""
    global _open
    with _LOCK:
        _open = max(0, _open - 1)
        if _open == 0:
            gc.unfreeze()
