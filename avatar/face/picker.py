"""Numbered face boxes, so a person can say which face in a group photo to animate."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.face.detect import find_faces
from avatar.face.face import Face


@dataclass
class FaceChoices:
    """The faces found in an image (largest first) and a copy with numbered boxes."""

    faces: list[Face]
    annotated: np.ndarray

    @property
    def count(self) -> int:
        return len(self.faces)


def face_choices(image: np.ndarray) -> FaceChoices:
    """Detect faces and draw each box with its index (0 = largest), as `--face-index` counts."""
    faces = find_faces(image)
    return FaceChoices(faces=faces, annotated=draw_faces(image, faces))


def draw_faces(image: np.ndarray, faces: list[Face]) -> np.ndarray:
    """A copy of `image` with each face's box and its index drawn on it, for faces already found (a video's first
    faces are found while the video is checked; finding them again would double the wait)."""
    annotated = image.copy()
    thickness = max(2, round(max(image.shape[:2]) / 300))
    for index, face in enumerate(faces):
        x0, y0, x1, y1 = face.box
        cv2.rectangle(annotated, (x0, y0), (x1, y1), (255, 210, 0), thickness)
        scale = max(0.6, (x1 - x0) / 120)
        origin = (x0 + thickness, max(0, y0) + int(30 * scale))
        cv2.putText(annotated, str(index), origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness * 3, cv2.LINE_AA)
        cv2.putText(annotated, str(index), origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 210, 0), thickness, cv2.LINE_AA)
    return annotated
