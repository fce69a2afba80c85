"""Enhancement as an option of the talk and dub tasks: `enhance = none | face | face+background`.

The talking video and the dub keep their size: with `face+background` the frame goes
through Real-ESRGAN x2 and back down to its own size (sharper, not larger), then the
face is pasted on it. `check_mode` names a missing model, with its install command,
before any work; `video_enhancer` yields the frame-by-frame `StableFaceEnhancer`
(None for `none`), its models loaded for the block.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Optional

from avatar.errors import InputError, quoted
from avatar.talk.engine import ENHANCE_CHOICES

if TYPE_CHECKING:  # the networks (torch) load only when a video is enhanced, not with every talk or dub
    from avatar.enhance.temporal import StableFaceEnhancer
VIDEO_BACKGROUND_SCALE = 2


def background_scale(mode: str) -> Optional[int]:
    """The upscaler a mode needs (None: the face only), or one sentence for an unknown mode."""
    if mode not in ENHANCE_CHOICES:
        raise InputError(f"enhance must be one of {', '.join(ENHANCE_CHOICES)}, not {quoted(mode)}.")
    return VIDEO_BACKGROUND_SCALE if mode == "face+background" else None


def check_mode(mode: str, registry=None) -> None:
    """Raise ModelNotInstalled (one sentence with the install command) when the mode needs a missing model."""
    if mode != "none":
        from avatar.enhance.enhancer import check_installed

        check_installed(background_scale(mode), registry)


@contextmanager
def video_enhancer(mode: str, registry=None, stable: bool = True) -> Iterator[Optional["StableFaceEnhancer"]]:
    """The enhancer a talk or dub writes its frames through (None when `mode` is none)."""
    if mode == "none":
        yield None
        return
    from avatar.enhance.enhancer import FaceEnhancer
    from avatar.enhance.temporal import StableFaceEnhancer

    with FaceEnhancer.from_registry(background_scale(mode), registry=registry) as enhancer:
        yield StableFaceEnhancer(enhancer, stable=stable)


class EnhancingWriter:
    """A video writer whose RGB frames go through the enhancer first (the time it takes is the timer's
    "enhancement" stage); everything else is the wrapped writer's."""

    def __init__(self, writer, enhancer: StableFaceEnhancer, timer=None):
        self._writer = writer
        self._enhancer = enhancer
        self._timer = timer

    def write(self, frame, landmarks68=None, detect: bool = True) -> None:
        started = time.perf_counter()
        frame = self._enhancer.process(frame, landmarks68, detect=detect)
        if self._timer is not None:
            self._timer.add("enhancement", time.perf_counter() - started)
        self._writer.write(frame)

    def __getattr__(self, name: str):
        return getattr(self._writer, name)


def enhancing(writer, enhancer: Optional[StableFaceEnhancer], timer=None):
    """`writer` itself without an enhancer, else the writer that enhances every frame first."""
    return writer if enhancer is None else EnhancingWriter(writer, enhancer, timer)


def manifest_entry(mode: str, enhancer: Optional[StableFaceEnhancer], wall_s: float, duration_s: float,
                   enhancement_s: float = 0.0) -> dict:
    """The manifest's record: the mode, which frames lost their face (passed through), and the job's real-time
    factor (wall seconds per second of video) with the enhancement's share."""
    entry = {"mode": mode, "rtf": round(wall_s / duration_s, 3) if duration_s > 0 else None}
    if enhancer is not None:
        entry.update(enhancer.log.entry())
        entry["seconds"] = round(enhancement_s, 3)
        entry["seconds_per_frame"] = round(enhancement_s / enhancer.log.frames, 3) if enhancer.log.frames else None
    return entry
