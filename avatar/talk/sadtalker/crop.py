"""Cut the face out of a portrait the way SadTalker's 'crop' preprocessing does, from 68 landmarks.

SadTalker's renderer and its 3DMM network were trained on faces framed by one
rule (the FFHQ alignment square), so the port frames them by the same rule:

1. an oriented square from the eyes and mouth: its centre a tenth of the way
   from the eyes' midpoint to the mouth's, its half side the larger of twice the
   eye-to-eye distance and 1.8 times the eye-to-mouth distance, rotated with the
   face (`quad`);
2. portraits where that square is at least 2048 px wide are first scaled down by
   an integer factor (`shrink`, against `ALIGN_SIZE`), as the original does;
3. the square's axis-aligned bounds plus a tenth of its side of border, clipped
   to the image (`crop`); then, inside that, the square's axis-aligned bounds
   again, half a pixel rounded and clipped (`quad` box): those pixels are the
   face crop, stretched to `size` x `size` with bilinear sampling (cv2's default,
   which the original uses).

The 'full' preprocess frames the face identically; it only differs in pasting
the rendered face back, which the engine does with `FaceCrop.box`.

Differences from the original, all deliberate:
- Landmarks: the original finds the face with facexlib and converts its 98
  points to 68; the port takes the project's dlib 68 points (`avatar.face`).
  Both follow the same 68-point layout, so the same indices are used.
- Landmarks on the crop: the original runs its detector a second time on the
  resized crop; the port maps the first landmarks through the crop's own
  transform (cv2's pixel-centre convention). Measured on the five fixture
  portraits at 256 and 512: dlib run again on the crop puts the five alignment
  points 0.6-1.9 px (mean; 5.4 px at most) from the mapped ones, about what
  dlib itself moves (0.2-1.2 px mean) when the same crop is only resampled with
  another filter, and its points are whole pixels of the small crop. The mapped
  points keep the full-resolution precision, cost no second detection, and
  cannot miss the face (the original falls back to the mean face's points when
  its second detection fails).
- `box`: the original's paste-back box (`crop_info`) is not clipped to the
  pixels it actually cut (a face square running off the image gives a box
  larger than the crop) and stays in the scaled-down portrait's pixels when
  `shrink` > 1, though it is pasted into the full-size portrait; `box` is the
  region that was cut, in the given portrait's pixels, so a rendered face goes
  back exactly where it came from. Both agree whenever the face square lies
  inside the image and `shrink` is 1 (every ordinary portrait).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.errors import InputError, NoFaceError

ALIGN_SIZE = 512
"""The original's `xsize`: the face square is scaled down by floor(side / ALIGN_SIZE / 2) when that is above 1."""
MIN_CROP = 16
"""Smallest crop side (pixels) worth resampling; anything smaller is not a usable face."""

LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
MOUTH_LEFT, MOUTH_RIGHT = 48, 54


@dataclass(frozen=True)
class CropGeometry:
    """The original's framing numbers for one portrait, in the (possibly scaled-down) portrait's pixels.

    `crop` and `quad` are exactly the two values the original keeps in its
    `crop_info` (`quad` is relative to `crop`'s corner); `region` is what was cut.
    """

    shrink: int
    resized: tuple[int, int]
    crop: tuple[int, int, int, int]
    quad: tuple[float, float, float, float]
    region: tuple[int, int, int, int]


@dataclass(frozen=True)
class FaceCrop:
    """The face cut from a portrait: the pixels the networks see and where they came from.

    image: (size, size, 3) RGB uint8, the face region stretched to a square.
    box: (x0, y0, x1, y1) of that region in the portrait's pixels; the rendered
        face is resized back to this box to paste it.
    landmarks: (68, 2) float32, the portrait's landmarks in `image` pixels.
    geometry: the original's framing numbers (for checks and the extended modes).
    """

    image: np.ndarray
    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    geometry: CropGeometry

    @property
    def size(self) -> int:
        return self.image.shape[0]


def check_landmarks(landmarks68: np.ndarray) -> np.ndarray:
    """The landmarks as a float32 (68, 2) array, or NoFaceError if they cannot be a face."""
    points = np.asarray(landmarks68, dtype=np.float32)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise NoFaceError(f"SadTalker needs 68 face landmarks, got an array of shape {points.shape}; "
                          "use a portrait in which a face is found.")
    return points


def crop_geometry(landmarks68: np.ndarray, width: int, height: int) -> CropGeometry:
    """Where the original frames the face of a `width` x `height` portrait with these landmarks.

    Arithmetic follows the original's precisions (landmark means in float32,
    the square in float64), so every edge lands on the same pixel.
    """
    points = check_landmarks(landmarks68)
    eye_left = points[LEFT_EYE].mean(axis=0)
    eye_right = points[RIGHT_EYE].mean(axis=0)
    eye_mid = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = (points[MOUTH_LEFT] + points[MOUTH_RIGHT]) * 0.5 - eye_mid

    # The square's "right" direction: the eye line, plus the eye-to-mouth line turned a quarter.
    across = eye_to_eye.astype(np.float64) + np.array([eye_to_mouth[1], -eye_to_mouth[0]], dtype=np.float64)
    half_side = max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    if not half_side > 0:
        raise NoFaceError("The face landmarks collapse to a point; use a portrait in which a face is found.")
    across = across / np.hypot(*across) * half_side
    down = np.array([-across[1], across[0]])
    centre = eye_mid + eye_to_mouth * 0.1
    corners = np.stack([centre - across - down, centre - across + down, centre + across + down, centre + across - down])
    side = np.hypot(*across) * 2

    shrink = int(np.floor(side / ALIGN_SIZE * 0.5))
    if shrink > 1:
        resized = (int(np.rint(width / shrink)), int(np.rint(height / shrink)))
        corners = corners / shrink
        side = side / shrink
    else:
        shrink, resized = 1, (width, height)
    rw, rh = resized

    border = max(int(np.rint(side * 0.1)), 3)
    crop = (max(int(np.floor(corners[:, 0].min())) - border, 0), max(int(np.floor(corners[:, 1].min())) - border, 0),
            min(int(np.ceil(corners[:, 0].max())) + border, rw), min(int(np.ceil(corners[:, 1].max())) + border, rh))
    inner = corners - crop[:2] + 0.5
    # Corners are ordered top-left, bottom-left, bottom-right, top-right of the face.
    quad = (max(min(inner[0, 0], inner[1, 0]), 0.0), max(min(inner[0, 1], inner[3, 1]), 0.0),
            min(max(inner[2, 0], inner[3, 0]), float(rw)), min(max(inner[1, 1], inner[2, 1]), float(rw)))  # sic: rw
    lx, ly, rx, ry = (int(v) for v in quad)
    region = (crop[0] + lx, crop[1] + ly, crop[0] + min(rx, crop[2] - crop[0]), crop[1] + min(ry, crop[3] - crop[1]))
    return CropGeometry(shrink=shrink, resized=resized, crop=crop, quad=tuple(float(v) for v in quad), region=region)


def crop_face(image_rgb: np.ndarray, landmarks68: np.ndarray, size: int = 256) -> FaceCrop:
    """The face of `image_rgb` (H, W, 3 uint8) framed as SadTalker's 'crop' preprocess, at `size` x `size`."""
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"SadTalker needs an RGB portrait, got an array of shape {image.shape} ({image.dtype}); "
                         "load the image as RGB.")
    height, width = image.shape[:2]
    geometry = crop_geometry(landmarks68, width, height)
    x0, y0, x1, y1 = geometry.region
    if x1 - x0 < MIN_CROP or y1 - y0 < MIN_CROP:
        raise NoFaceError(f"The face leaves only {max(0, x1 - x0)} x {max(0, y1 - y0)} pixels to crop; "
                          "use a portrait with a larger face that lies inside the picture.")
    scale_x, scale_y = width / geometry.resized[0], height / geometry.resized[1]
    if geometry.shrink > 1:
        image = cv2.resize(image, geometry.resized)
    face = cv2.resize(image[y0:y1, x0:x1], (size, size))

    # Landmarks follow the two bilinear resizes (cv2 maps pixel centres: u' = (u + 0.5) * k - 0.5).
    points = check_landmarks(landmarks68).astype(np.float64)
    points = (points + 0.5) / (scale_x, scale_y) - 0.5 - (x0, y0)
    points = (points + 0.5) * (size / (x1 - x0), size / (y1 - y0)) - 0.5
    box = (round(x0 * scale_x), round(y0 * scale_y), round(x1 * scale_x), round(y1 * scale_y))
    return FaceCrop(image=face, box=box, landmarks=points.astype(np.float32), geometry=geometry)
