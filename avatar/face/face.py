"""The face the animation engines work on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Face:
    """A face in an image: its box (x0, y0, x1, y1) and 68 landmarks in dlib order.

    `landmarks` is a float32 array of shape (68, 2) holding (x, y) pixel positions in
    the image the face was found in. `source` says where the points came from
    ("dlib" or "sidecar").
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    source: str = "dlib"

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]
