"""Blinks taken from a reference video: the video's own expression coefficients, frame by frame.

The original reconstructs every frame of the reference video and hands the
frames' 64 expression coefficients to Audio2Exp in place of the portrait's, so
the generated eyes open and close when the video's do (its `ref_eyeblink`).
Here each frame goes through the same crop and reconstruction as the portrait.
The face is found once, in the first frame; later frames place dlib's landmarks
in a box around the previous frame's, which follows an ordinary talking-head
clip and is far cheaper than detecting again.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from avatar.errors import InputError, NoFaceError
from avatar.face.detect import box_from_landmarks, find_face, landmarks_in_box
from avatar.progress import Progress, report
from avatar.talk.sadtalker.crop import crop_face
from avatar.talk.sadtalker.face3d import FaceReconNet, source_coefficients
from avatar.video.io import VideoLimits, VideoSource, open_video

FPS = 25
EXPRESSIONS = 64  # the first numbers of the 73 source coefficients
LIMITS = VideoLimits(max_seconds=60.0, max_frames=60 * FPS)


def video_expressions(net: FaceReconNet, source: VideoSource, max_frames: Optional[int] = None,
                      progress: Optional[Progress] = None) -> np.ndarray:
    """(frames, 64) expression coefficients of the video at 25 fps, at most `max_frames` of them.

    Only as many frames as the talking video has are needed: the original
    repeats a shorter reference and cuts a longer one.
    """
    video = open_video(source, LIMITS, fps=FPS)
    name = video.info.name
    total = video.info.frames if max_frames is None else min(max_frames, video.info.frames)
    rows = []
    landmarks = None
    try:
        for index, frame in enumerate(video.frames()):
            if index >= total:
                break
            height, width = frame.shape[:2]
            if landmarks is None:
                try:
                    landmarks = find_face(frame).landmarks
                except NoFaceError:
                    raise NoFaceError(f"No face was found in the first frame of {name}; "
                                      "use a video that shows one face from the start.") from None
            else:
                landmarks = landmarks_in_box(frame, box_from_landmarks(landmarks, width, height))
            coefficients = source_coefficients(net, crop_face(frame, landmarks, 256))
            rows.append(coefficients[:EXPRESSIONS])
            if index % 10 == 0:
                report(progress, f"blinks from the video: frame {index + 1}/{total}", (index + 1) / total)
    finally:
        video.close()
    if not rows:
        raise InputError(f"{name} gave no frames; use a video with a visible face.")
    return np.stack(rows).astype(np.float32)
