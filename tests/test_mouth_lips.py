"""The lips as layers over the mouth interior: they keep their texture and hide what lies between them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from avatar.talk.builtin.engine import BuiltinEngine
from avatar.talk.builtin.mouth_lips import LOWER_INNER_EDGE, UPPER_INNER_EDGE, opening_outline
from avatar.talk.pipeline import prepare_portrait

ROOT = Path(__file__).resolve().parents[1]
GREEN = np.array([0, 255, 0], np.uint8)


def prepared(path):
    picture = prepare_portrait(path, 512)
    return BuiltinEngine().prepare(picture.image, picture.face)


def portrait_path(name: str, fixtures: Path) -> Path:
    avatar = ROOT / "default_avatars" / f"{name}.png"
    return avatar if avatar.exists() else next(fixtures.glob(f"{name}.*"))


def polygon_mask(shape, points) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def opened(rig, drop: float) -> np.ndarray:
    """The lip landmarks (48-67) with the lower lip moved down by `drop` eye distances."""
    lips = rig.rig.landmarks[48:68].astype(np.float64).copy()
    lower = [55 - 48, 56 - 48, 57 - 48, 58 - 48, 59 - 48, 65 - 48, 66 - 48, 67 - 48]
    lips[lower] += rig.rig.down * drop * rig.rig.eye_distance
    return lips


@pytest.mark.parametrize("name", ["maya", "obama"])
def test_at_rest_the_lips_are_drawn_where_they_are(name, fixtures):
    rig = prepared(portrait_path(name, fixtures))
    crop = rig.source.copy()
    rig.lips.paint(crop, rig.rig.landmarks[48:68].astype(np.float64))
    assert np.abs(crop.astype(int) - rig.source).max() <= 2


@pytest.mark.parametrize("name", ["maya", "obama", "smile_teeth"])
def test_closed_lips_hide_whatever_lies_between_them(name, fixtures):
    rig = prepared(portrait_path(name, fixtures))
    lips = rig.rig.landmarks[48:68].astype(np.float64)
    crop = rig.source.copy()
    outer = polygon_mask(crop.shape, lips[:12])
    crop[outer] = GREEN
    rig.lips.paint(crop, lips)
    green = np.all(crop == GREEN, axis=-1)
    assert not green[outer].any()


@pytest.mark.parametrize("name", ["maya", "obama", "woman_glasses"])
def test_an_open_mouth_keeps_each_lip_whole_and_the_opening_clear(name, fixtures, tmp_path):
    if name == "woman_glasses":
        capture = cv2.VideoCapture(str(fixtures / "real_talk" / "woman_glasses.mp4"))
        ok, frame = capture.read()
        assert ok
        path = tmp_path / "woman_glasses.png"
        cv2.imwrite(str(path), frame)
    else:
        path = portrait_path(name, fixtures)
    rig = prepared(path)
    lips = opened(rig, 0.25)
    crop = np.zeros_like(rig.source)
    crop[:] = GREEN
    rig.lips.paint(crop, lips)
    green = np.all(crop == GREEN, axis=-1)

    # The upper lip did not move: its pixels are its own, up to its inner edge.
    upper_lip = polygon_mask(crop.shape, np.concatenate([lips[0:7], (UPPER_INNER_EDGE @ lips)[::-1]]))
    upper_lip &= ~polygon_mask(crop.shape, opening_outline(lips))
    inside = cv2.erode(upper_lip.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert inside.sum() > 30
    assert np.abs(crop[inside].astype(int) - rig.source[inside]).max() <= 3
    # The opening between the edges stays free for the interior.
    opening = cv2.erode(polygon_mask(crop.shape, opening_outline(lips)).astype(np.uint8), np.ones((3, 3), np.uint8))
    assert opening.sum() > 50
    assert green[opening.astype(bool)].all()
    # The lower lip arrived whole: no interior shows through it.
    lower = LOWER_INNER_EDGE @ lips
    lower_lip = polygon_mask(crop.shape, np.concatenate([lips[[0, 11, 10, 9, 8, 7, 6]], lower[::-1]]))
    lower_lip = cv2.erode(lower_lip.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert lower_lip.sum() > 30 and not green[lower_lip].any()


def test_pressed_lips_meet_halfway_instead_of_crossing():
    lips = np.zeros((20, 2))
    lips[:, 0] = np.linspace(0, 40, 20)
    lips[48 - 48], lips[54 - 48] = (0, 10), (40, 10)
    lips[60 - 48], lips[64 - 48] = (4, 10), (36, 10)
    lips[[61 - 48, 62 - 48, 63 - 48], 1] = 12.0  # the upper inner lip pushed below the lower one
    lips[[61 - 48, 62 - 48, 63 - 48], 0] = (12, 20, 28)
    lips[[67 - 48, 66 - 48, 65 - 48], 1] = 8.0
    lips[[67 - 48, 66 - 48, 65 - 48], 0] = (12, 20, 28)
    outline = opening_outline(lips)
    assert np.allclose(outline[6], [20, 10])
    assert np.allclose(outline[-6], [20, 10])
