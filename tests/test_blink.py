"""The blink closes the eyes with the lids' own skin and leaves the brows where they are."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatar.talk.builtin.engine import BuiltinEngine
from avatar.talk.builtin.rig import BASES


def render(picture, prepared, blink: float) -> np.ndarray:
    weights = np.zeros((1, len(BASES)), np.float32)
    weights[0, BASES.index("blink")] = blink
    return next(iter(BuiltinEngine().render_weights(picture.image, prepared, weights))).astype(np.float64)


def region(shape: tuple[int, int], points: np.ndarray, grow: int = 0) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    if grow:
        mask = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    return mask.astype(bool)


@pytest.mark.parametrize("eye, brow", [(np.arange(36, 42), np.arange(17, 22)), (np.arange(42, 48), np.arange(22, 27))])
def test_a_full_blink_covers_the_eye_with_lid_and_keeps_the_brow(maya_rig, eye, brow):
    picture, prepared = maya_rig
    landmarks = picture.face.landmarks
    open_, shut = render(picture, prepared, 0.0), render(picture, prepared, 1.0)
    shape = open_.shape[:2]
    # The brow (and a little around it) is as it was: the lid must not drag it down.
    brow_area = region(shape, np.r_[landmarks[brow], landmarks[brow][::-1] + [0, 2]], grow=2)
    assert np.abs(shut[brow_area] - open_[brow_area]).mean() < 4
    # Inside the eye's outline, the shut eye shows lid (skin) and lashes, no longer maya's green iris or the white.
    inside = region(shape, landmarks[eye])

    def eye_showing(image: np.ndarray) -> float:
        red, green, blue = image[inside].T
        iris = green > red + 10
        white = (np.ptp(image[inside], axis=1) < 25) & (image[inside].mean(axis=1) > 190)
        return float(np.mean(iris | white))

    assert eye_showing(open_) > 0.5
    assert eye_showing(shut) < 0.05


@pytest.mark.parametrize("name", ["maya", "noor", "sam"])
def test_a_shut_eye_is_one_smooth_lash_line(name):
    """Each closed lid follows one smooth curve and hides the whole eye: the drawn avatars' thick lash lines came out
    in lumps when the lids were drawn as straight pieces between their landmarks (1.0 px off a smooth arc at the top
    of the line; now 0.5)."""
    from avatar.avatars import get_default_avatar
    from avatar.talk.pipeline import prepare_portrait

    avatar = get_default_avatar(name)
    picture = prepare_portrait(avatar.image_path, 512, landmarks_path=avatar.landmarks_path)
    shut = render(picture, BuiltinEngine().prepare(picture.image, picture.face), 1.0)
    for eye in (np.arange(36, 42), np.arange(42, 48)):
        points = picture.face.landmarks[eye]
        x0, x1 = int(points[:, 0].min()) + 3, int(points[:, 0].max()) - 3
        y0, y1 = int(points[:, 1].min()) - 10, int(points[:, 1].max()) + 10
        dark = shut[y0:y1, x0:x1].mean(axis=2) < 90
        assert dark.any(axis=0).all()  # the lashes cross the whole eye
        top = dark.argmax(axis=0).astype(np.float64)
        columns = np.arange(len(top))
        off_arc = top - np.polyval(np.polyfit(columns, top, 2), columns)
        assert np.sqrt(np.mean(off_arc**2)) < 0.75
        around = shut[y0:y1, x0:x1]
        white = (np.ptp(around, axis=2) < 25) & (around.mean(axis=2) > 190)
        assert white.sum() <= 1  # none of the eye's white under the shut lid (2-6 pixels when it stopped at the points)
