"""The speaker's own teeth for a dub: a frame of the video where the mouth is open, aligned to the reference frame.

The reference frame the engine rigs has its mouth nearly closed (`dub.pick_reference`),
so on its own the engine would have to draw teeth; drawn teeth look flat and too
bright next to a real speaker's. The video itself shows the speaker's teeth
whenever they speak, lit as the rest of the video is. This module picks such a
frame and turns it onto the reference frame's skull (a similarity fitted on the
landmarks that move with the skull), so the engine can cut its interior as it
cuts a portrait's own teeth (`mouth_interior.OpenMouth`).
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from avatar.face.track import FaceTrack
from avatar.talk.builtin.mouth_interior import OPEN_WIDE, OpenMouth
from avatar.talk.builtin.rig import face_axes

SKULL = np.r_[0, 1, 15, 16, 27:36, 36:48]
"""Landmarks that move with the skull, not the jaw or lips (the sides of the face, nose and eyes)."""
OPEN_PERCENTILE = 90
"""The frame taken is about this open among the video's frames: wide enough to show the teeth, yet not the one
widest frame, where landmarks are least reliable (a yawn, a laugh, a misplaced lip)."""
MAX_TURN = 0.15
"""Largest difference of head turn (the nose's sideways offset over the eye distance) from the reference frame: a
mouth seen from another side would not fit it."""
MAX_SCALE_CHANGE = 0.2
"""Largest relative change of face size from the reference frame (the camera's zoom or the speaker's distance)."""


def mouth_openings(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip gap at the mouth's centre over the eye distance, for each frame's 68 landmarks (frames, 68, 2)."""
    out = np.zeros(len(landmarks), np.float32)
    for index, points in enumerate(landmarks):
        eye_distance, down = face_axes(points)
        out[index] = float((points[66] - points[62]) @ down) / max(eye_distance, 1e-6)
    return out


def _turn(points: np.ndarray) -> float:
    """How far the nose tip lies to one side of the eyes' midpoint, in eye distances (0 facing the camera)."""
    left, right = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    across = right - left
    distance = float(np.linalg.norm(across))
    return float((points[30] - (left + right) / 2) @ (across / max(distance, 1e-6))) / max(distance, 1e-6)


def pick_open_frame(track: FaceTrack, reference: int) -> Optional[int]:
    """A visible frame whose mouth is open about `OPEN_PERCENTILE` wide and whose head is posed as in `reference`;
    None when the speaker never opens their mouth wide enough in such a pose."""
    visible = np.flatnonzero(track.visible)
    if len(visible) == 0:
        return None
    landmarks = track.landmarks[visible]
    openings = mouth_openings(landmarks)
    base = track.landmarks[reference]
    base_size, _ = face_axes(base)
    base_turn = _turn(base)
    posed = np.array([abs(_turn(points) - base_turn) <= MAX_TURN
                      and abs(face_axes(points)[0] / base_size - 1.0) <= MAX_SCALE_CHANGE for points in landmarks])
    candidates = posed & (openings >= OPEN_WIDE)
    if not candidates.any():
        return None
    target = float(np.percentile(openings[posed], OPEN_PERCENTILE))
    # Among the candidates, the one nearest the target opening (ties: the earliest frame, for reproducibility).
    distance = np.where(candidates, np.abs(openings - target), np.inf)
    return int(visible[int(np.argmin(distance))])


def aligned_open_mouth(frame: np.ndarray, landmarks: np.ndarray, reference_landmarks: np.ndarray,
                       shape: tuple[int, int]) -> OpenMouth:
    """`frame` turned, scaled and moved so its skull lies on the reference frame's (`shape`: its height, width)."""
    source = np.asarray(landmarks, np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(source[SKULL], np.asarray(reference_landmarks, np.float32)[SKULL],
                                            method=cv2.LMEDS)
    if matrix is None:  # degenerate points: keep the frame where it is
        matrix = np.float32([[1, 0, 0], [0, 1, 0]])
    image = cv2.warpAffine(frame, matrix, (shape[1], shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    moved = source @ matrix[:, :2].T + matrix[:, 2]
    return OpenMouth(image, moved.astype(np.float32))
