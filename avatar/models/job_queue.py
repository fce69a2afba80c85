"""One heavy job at a time (by default), first come first served, with a visible place in line.

Two diffusion runs on one GPU (or on a laptop's few cores) are each slower than
running them one after the other, and together they may not fit in memory. So a
job takes a slot before it runs; while it waits, `on_wait(place)` tells the caller
how many jobs are ahead of it, and the page shows that.

A thread that already holds a slot (a task using two models, one inside the
other) goes straight through instead of waiting for itself.
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

OnWait = Callable[[int], None]


class JobQueue:
    """A first-in-first-out gate with `slots` jobs running at once."""

    def __init__(self, slots: int = 1):
        if slots < 1:
            raise ValueError("a job queue needs at least one slot")
        self.slots = slots
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()
        self._running = 0
        self._held = threading.local()

    @property
    def waiting(self) -> int:
        """Jobs waiting for a slot now."""
        with self._cond:
            return len(self._waiting)

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    @contextmanager
    def slot(self, on_wait: Optional[OnWait] = None) -> Iterator[None]:
        """Hold a slot for the body of the `with`; report the place in line while waiting."""
        depth = getattr(self._held, "depth", 0)
        if depth:
            self._held.depth = depth + 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        ticket = object()
        reported = None
        with self._cond:
            self._waiting.append(ticket)
            while not (self._running < self.slots and self._waiting[0] is ticket):
                place = self._waiting.index(ticket) + 1
                if on_wait is not None and place != reported:
                    reported = place
                    on_wait(place)
                self._cond.wait(timeout=0.5)
            self._waiting.popleft()
            self._running += 1
            self._cond.notify_all()
        self._held.depth = 1
        try:
            yield
        finally:
            self._held.depth = 0
            with self._cond:
                self._running -= 1
                self._cond.notify_all()
