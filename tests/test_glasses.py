"""Glasses stay in front of the face while the eyes blink (`avatar/talk/builtin/glasses.py`)."""

from __future__ import annotations

import dataclasses

import av
import cv2
import numpy as np
import pytest

from avatar.talk.builtin.engine import BuiltinEngine
from avatar.talk.builtin.rig import BASES
from avatar.talk.pipeline import prepare_portrait


def render(picture, prepared, blink: float) -> np.ndarray:
    weights = np.zeros((1, len(BASES)), np.float32)
    weights[0, BASES.index("blink")] = blink
    return next(iter(BuiltinEngine().render_weights(picture.image, prepared, weights))).astype(np.float64)


def first_frame(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


@pytest.fixture(scope="module")
def glasses_rig(fixtures):
    """The first frame of a real woman wearing metal-rimmed glasses, at 512 px, and its rig."""
    picture = prepare_portrait(first_frame(fixtures / "real_talk" / "woman_glasses.mp4"), 512)
    return picture, BuiltinEngine().prepare(picture.image, picture.face)


def rim_pixels(prepared, shape: tuple[int, int]) -> np.ndarray:
    """Where the rims lie that cross the lids' skin, in frame coordinates."""
    x0, y0, x1, y1 = prepared.rig.crop
    mask = np.zeros(shape, bool)
    mask[y0:y1, x0:x1] = prepared.rims.alpha > 0.5
    return mask


def eyes(picture) -> np.ndarray:
    shape = picture.image.shape[:2]
    mask = np.zeros(shape, np.uint8)
    for eye in (np.arange(36, 42), np.arange(42, 48)):
        cv2.fillPoly(mask, [np.round(picture.face.landmarks[eye]).astype(np.int32)], 1)
    return mask.astype(bool)


def test_real_glasses_stay_where_they_are_while_the_eyes_close(glasses_rig):
    picture, prepared = glasses_rig
    assert prepared.rims is not None, "the glasses' rims were not found"
    open_, shut = render(picture, prepared, 0.0), render(picture, prepared, 1.0)
    rims = rim_pixels(prepared, open_.shape[:2])
    assert rims.sum() > 200
    # The rims over the lids are where they were, to a few grey levels.
    assert np.abs(shut[rims] - open_[rims]).mean() < 6
    # The eyes themselves did close: behind the lenses the picture changed.
    inside = eyes(picture)
    assert np.abs(shut[inside] - open_[inside]).mean() > 12
    # Without the layer the same blink drags the rims down over the eyes (what the layer is for).
    bent = render(picture, dataclasses.replace(prepared, rims=None), 1.0)
    assert np.abs(bent[rims] - open_[rims]).mean() > 3 * np.abs(shut[rims] - open_[rims]).mean() + 10
    # Between the rims, the skin moves as without the layer.
    box = np.zeros(rims.shape, bool)
    bx0, by0, bx1, by1 = prepared.rims.box
    x0, y0 = prepared.rig.crop[:2]
    box[y0 + by0 : y0 + by1, x0 + bx0 : x0 + bx1] = True
    away = box & ~cv2.dilate(rims.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & ~inside
    assert np.abs(shut[away] - bent[away]).mean() < 4


def test_glasses_are_only_found_on_faces_that_wear_them(fixtures, maya_rig):
    assert maya_rig[1].rims is None
    for name in ("obama.jpg", "smile_teeth.png"):
        picture = prepare_portrait(fixtures / name, 512)
        assert BuiltinEngine().prepare(picture.image, picture.face).rims is None, name
    picture = prepare_portrait(first_frame(fixtures / "real_talk" / "anchor_office.mp4"), 512)
    assert BuiltinEngine().prepare(picture.image, picture.face).rims is None


def test_a_drawn_pair_of_glasses_is_kept_in_front(maya_rig):
    """Rims drawn on the maya avatar, round each eye and across the bridge, are found and kept."""
    picture, _ = maya_rig
    image = picture.image.copy()
    landmarks = picture.face.landmarks
    distance = float(np.linalg.norm(landmarks[36:42].mean(axis=0) - landmarks[42:48].mean(axis=0)))
    thickness = max(1, round(0.025 * distance))
    centres = [landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)]
    axes = (round(0.42 * distance), round(0.24 * distance))  # the top of each rim crosses the lid's skin
    for centre in centres:
        cv2.ellipse(image, tuple(int(v) for v in np.round(centre)), axes, 0, 0, 360, (40, 30, 25), thickness,
                    cv2.LINE_AA)
    inner = [(int(round(c[0] + s * axes[0])), int(round(c[1] - 0.2 * axes[1]))) for c, s in zip(centres, (1, -1))]
    cv2.line(image, inner[0], inner[1], (40, 30, 25), thickness, cv2.LINE_AA)
    glasses = dataclasses.replace(picture, image=image)
    prepared = BuiltinEngine().prepare(image, picture.face)
    assert prepared.rims is not None
    open_, shut = render(glasses, prepared, 0.0), render(glasses, prepared, 1.0)
    rims = rim_pixels(prepared, open_.shape[:2])
    assert np.abs(shut[rims] - open_[rims]).mean() < 6
    assert np.abs(shut[eyes(glasses)] - open_[eyes(glasses)]).mean() > 12
    bent = render(glasses, dataclasses.replace(prepared, rims=None), 1.0)
    assert np.abs(bent[rims] - open_[rims]).mean() > 20
