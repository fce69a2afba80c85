"""Keep the process's memory flat over long jobs.

glibc's malloc gives threads their own heap arenas (up to eight per core). A
talking-video job allocates frames on the render thread, copies them on the
encoder thread and runs the voice on onnxruntime's threads, and freed memory
scattered over many arenas is rarely handed back: in one process with the
models loaded, peak memory grew 13% from a 10 s to a 60 s clip (512 px) with
nothing growing in Python; with two arenas it grew 6%, at no measurable cost in
speed. (A whole `avatar talk` process still peaks higher for longer text, as the
voice's longest sentence and the kept samples grow; see README.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_ARENA_MAX = -8  # mallopt parameter number in glibc's malloc.h
ARENAS = 2


def limit_malloc_arenas(count: int = ARENAS) -> bool:
    """Ask glibc for at most `count` heap arenas; False where there is no glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, count))
    except (OSError, AttributeError):
        return False
