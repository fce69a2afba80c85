"""Cutting a face out as GFPGAN expects it, and putting the restored face back.

GFPGAN was trained on FFHQ faces: five points (the two eye centres, the nose tip and
the two mouth corners) sit at fixed places of a 512x512 square. A frame's face is
brought there by the similarity transform (rotation, uniform scale, shift) that best
maps its five points onto those places, estimated robustly (least median of squares),
then resampled bilinearly; outside the frame the crop is a neutral grey.

Pasting back inverts that transform. The restored square is warped into the frame,
and blended in through a mask: the warped square, shrunk by a border that grows with
the face's size (1/10 of the square root of its area) and blurred by as much, so the
seam fades over a band instead of a hard edge. Outside the mask the frame (or an
upscaled background) is kept. The arithmetic and rounding follow the published GFPGAN
pipeline (square mask, no face parser), so the port can be checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
import torch

from avatar.errors import InputError

FACE_SIZE = 512
# Where FFHQ's 512 px faces have their eyes, nose tip and mouth corners (x, y).
FFHQ_POINTS = np.array(
    [[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935], [201.26117, 371.41043], [313.08905, 371.15118]]
)
BORDER_RGB = (132, 133, 135)  # the grey GFPGAN fills outside the frame with (it is (135, 133, 132) in BGR)


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """The five alignment points from dlib's 68: eye centres (image left first), nose tip, mouth corners."""
    points = np.asarray(landmarks68, np.float64)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise InputError(f"Face enhancement needs 68 finite (x, y) landmarks; got an array of shape {points.shape}.")
    return np.stack([points[36:42].mean(0), points[42:48].mean(0), points[30], points[48], points[54]])


@dataclass(frozen=True)
class AlignedFace:
    """A face cut out to the 512 px FFHQ layout, and the 2x3 matrix that maps the frame onto the crop."""

    crop: np.ndarray  # (512, 512, 3) uint8 RGB
    affine: np.ndarray  # (2, 3) float64, frame -> crop


def alignment(points5: np.ndarray) -> np.ndarray:
    """The similarity transform (2x3) taking the five points to FFHQ's, or InputError if there is none."""
    matrix = cv2.estimateAffinePartial2D(np.asarray(points5, np.float64), FFHQ_POINTS, method=cv2.LMEDS)[0]
    if matrix is None or not np.isfinite(matrix).all():
        raise InputError("The face's five landmarks do not define an alignment (they are degenerate).")
    return matrix


def align_face(frame: np.ndarray, points5: np.ndarray) -> AlignedFace:
    """Cut the face out of an (H, W, 3) uint8 RGB frame to the FFHQ layout."""
    matrix = alignment(points5)
    crop = cv2.warpAffine(frame, matrix, (FACE_SIZE, FACE_SIZE), borderMode=cv2.BORDER_CONSTANT, borderValue=BORDER_RGB)
    return AlignedFace(crop=crop, affine=matrix)


def feather_mask(affine: np.ndarray, size: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """The blending weights (H, W) float32 of the restored square in the (scaled) frame, and nothing else."""
    inverse = _inverse(affine, scale)
    square = cv2.warpAffine(np.ones((FACE_SIZE, FACE_SIZE), np.float32), inverse, size)
    eroded = cv2.erode(square, np.ones((int(2 * scale), int(2 * scale)), np.uint8))
    return _feather(eroded)


def _inverse(affine: np.ndarray, scale: float) -> np.ndarray:
    inverse = cv2.invertAffineTransform(affine) * scale
    if scale > 1:  # pixel centres of the enlarged frame
        inverse[:, 2] += 0.5 * scale
    return inverse


def _feather(eroded: np.ndarray) -> np.ndarray:
    edge = int(float(np.sum(eroded)) ** 0.5) // 20
    inner = cv2.erode(eroded, np.ones((max(2 * edge, 1), max(2 * edge, 1)), np.uint8))
    return cv2.GaussianBlur(inner, (2 * edge + 1, 2 * edge + 1), 0)


def paste_face(
    frame: np.ndarray,
    restored: np.ndarray,
    affine: np.ndarray,
    scale: float = 1.0,
    background: Optional[np.ndarray] = None,
) -> np.ndarray:
    """The frame (enlarged `scale` times) with the restored 512 px face blended back where it came from.

    `background`, if given (say an upscaled frame), is resized to the output size and
    used instead of the frame outside the face.
    """
    height, width = frame.shape[:2]
    size = (int(width * scale), int(height * scale))
    base = frame if background is None else background
    base = cv2.resize(base, size, interpolation=cv2.INTER_LANCZOS4)
    inverse = _inverse(affine, scale)
    warped = cv2.warpAffine(restored, inverse, size)
    square = cv2.warpAffine(np.ones((FACE_SIZE, FACE_SIZE), np.float32), inverse, size)
    eroded = cv2.erode(square, np.ones((int(2 * scale), int(2 * scale)), np.uint8))
    face = eroded[:, :, None] * warped
    weight = _feather(eroded)[:, :, None]
    return (weight * face + (1 - weight) * base).astype(np.uint8)


def faces_to_tensor(faces: np.ndarray) -> torch.Tensor:
    """(B, 512, 512, 3) uint8 RGB crops -> (B, 3, 512, 512) float32 in [-1, 1], as GFPGAN takes them."""
    x = torch.from_numpy(np.ascontiguousarray(np.asarray(faces).transpose(0, 3, 1, 2))).float() / 255.0
    return ((x - 0.5) / 0.5).contiguous()


def tensor_to_faces(images: torch.Tensor) -> np.ndarray:
    """GFPGAN's output (B, 3, 512, 512) in about [-1, 1] -> (B, 512, 512, 3) uint8 RGB (clamped, rounded)."""
    x = (images.detach().float().cpu().clamp(-1, 1) + 1) / 2
    return (x.numpy().transpose(0, 2, 3, 1) * 255.0).round().astype(np.uint8)
