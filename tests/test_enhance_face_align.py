"""Five-point alignment to GFPGAN's 512 px FFHQ layout and the feathered paste-back, against the original's numbers.

tests/reference/gfpgan/README.md says how each number was made (the original pipeline's
alignment and square-mask paste-back, given the same five points and frame).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from avatar.enhance.face_align import align_face, feather_mask, five_points, paste_face
from avatar.errors import InputError
from tests.conftest import FIXTURES, PROJECT_DIR

REFERENCE = PROJECT_DIR / "tests" / "reference" / "gfpgan"


def reference(name: str) -> dict[str, np.ndarray]:
    with np.load(REFERENCE / name) as data:
        return dict(data)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return np.asarray(Image.open(FIXTURES / "obama_small.jpg").convert("RGB"))


def test_alignment_matches_the_original(frame):
    ref = reference("align.npz")
    points = five_points(ref["landmarks68"])
    assert np.abs(points - ref["landmarks5"]).max() < 1e-4
    aligned = align_face(frame, ref["landmarks5"])
    assert np.abs(aligned.affine - ref["affine"]).max() < 1e-9
    assert aligned.crop.shape == (512, 512, 3) and np.array_equal(aligned.crop, ref["crop"])


@pytest.mark.parametrize("case, scale, background", [
    ("pasted_x1", 1, False), ("pasted_x2", 2, False), ("pasted_x1_background", 1, True)])
def test_paste_back_matches_the_original(frame, case, scale, background):
    ref, pasted = reference("align.npz"), reference("paste.npz")
    restored = 255 - ref["crop"]  # a stand-in restored face that differs everywhere from the frame
    height, width = frame.shape[:2]
    upscaled = cv2.resize(frame, (2 * width, 2 * height), interpolation=cv2.INTER_NEAREST) if background else None
    ours = paste_face(frame, restored, ref["affine"], scale=scale, background=upscaled)
    assert ours.shape == (height * scale, width * scale, 3) and ours.dtype == np.uint8
    y0, y1, x0, x1 = pasted[case + "_window"]
    diff = np.abs(ours[y0:y1, x0:x1].astype(int) - pasted[case].astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # truncation to 8 bits may fall either side
    base = cv2.resize(upscaled if background else frame, (width * scale, height * scale), interpolation=cv2.INTER_LANCZOS4)
    outside = np.ones(ours.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(ours[outside], base[outside])


def test_mask_is_feathered_inside_the_square(frame):
    ref = reference("align.npz")
    mask = feather_mask(ref["affine"], (frame.shape[1], frame.shape[0]))
    assert mask.max() == pytest.approx(1.0, abs=1e-6) and mask.min() == 0.0
    soft = (mask > 0.01) & (mask < 0.99)
    assert soft.sum() > 0.05 * (mask > 0.01).sum()  # a band, not a hard edge
    centre = ref["landmarks5"].mean(0).round().astype(int)
    assert mask[centre[1], centre[0]] == pytest.approx(1.0, abs=1e-6)


def test_landmarks_that_cannot_align_are_refused():
    with pytest.raises(InputError, match="68 finite"):
        five_points(np.zeros((5, 2)))
    with pytest.raises(InputError, match="68 finite"):
        five_points(np.full((68, 2), np.nan))
    with pytest.raises(InputError, match="degenerate"):
        align_face(np.zeros((64, 64, 3), np.uint8), np.zeros((5, 2)))
