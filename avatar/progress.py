"""The progress callback every long task accepts.

A task calls `progress(stage, fraction)` with a short stage name ("voice", "face",
"animation", "encoding", "step 3/20", ...) and the fraction of the *whole* task done
so far, from 0.0 to 1.0. The page turns it into `st.progress`, the CLI into a bar.
"""

from __future__ import annotations

from typing import Callable, Optional

Progress = Callable[[str, float], None]


def report(progress: Optional[Progress], stage: str, fraction: float) -> None:
    """Call `progress` if one was given, clamping the fraction to [0, 1]."""
    if progress is not None:
        progress(stage, min(1.0, max(0.0, float(fraction))))


def scaled(progress: Optional[Progress], start: float, end: float) -> Optional[Progress]:
    """A callback for a sub-task that maps its own 0..1 onto start..end of the parent."""
    if progress is None:
        return None
    return lambda stage, fraction: report(progress, stage, start + (end - start) * fraction)


def waiting_in_line(progress: Optional[Progress]) -> Callable[[int], None]:
    """An `on_wait` for `registry.use` that shows the job's place in the queue."""
    return lambda place: report(progress, f"waiting for another job to finish ({place} in line)", 0.0)
