"""Short real clips the dubbing tests build from the fixtures (real speakers, small enough to dub in seconds)."""

from __future__ import annotations

from pathlib import Path

import cv2

from avatar.video.io import open_video
from avatar.video_writer import Mp4Writer
from tests.conftest import FIXTURES


def short_talk_clip(path: Path, frames: int = 30, size: int = 320) -> Path:
    """The first `frames` frames of a real speaker at `size` px square, no sound: tracked and dubbed in a few
    seconds."""
    with open_video(FIXTURES / "real_talk" / "woman_glasses.mp4") as clip, \
            Mp4Writer(path, size, size, 25, crf=10) as writer:
        for index, frame in enumerate(clip.frames()):
            if index == frames:
                break
            writer.write(cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA))
    return path


def speaking_clip(path: Path, size: int = 256) -> Path:
    """A real speaker at `size` px with her own 6.6 s of sound: enough for a voice sample taken from the video."""
    with open_video(FIXTURES / "real_talk" / "woman_blue.mp4") as source:
        with Mp4Writer(path, size, size, round(source.info.fps), source.audio(), crf=12) as writer:
            for frame in source.frames():
                writer.write(cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA))
    return path
