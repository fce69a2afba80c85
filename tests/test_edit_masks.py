"""Masks without a model: GrabCut from a box or clicks, padding, blur, files, overlays."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from avatar.edit.masks import (
    as_mask,
    fit_mask,
    load_mask,
    mask_blur,
    mask_bbox,
    mask_from_box,
    mask_from_brush,
    mask_from_points,
    mask_overlay,
    mask_pad,
    parse_box,
    require_nonempty,
)
from avatar.errors import InputError
from tests.test_edit_scenes import disk_scene, iou


@pytest.mark.parametrize("pixels", [1, 5, 20])
def test_mask_pad_grows_a_box_by_exactly_n_pixels(pixels):
    mask = np.zeros((120, 160), bool)
    mask[40:60, 50:90] = True
    grown = mask_pad(mask, pixels)
    assert mask_bbox(grown) == (50 - pixels, 40 - pixels, 90 + pixels, 60 + pixels)
    # Along the middle row and column the growth is exactly N on each side.
    assert grown[50].sum() == 40 + 2 * pixels
    assert grown[:, 70].sum() == 20 + 2 * pixels
    assert grown[mask].all()


def test_mask_pad_of_a_point_is_a_disk_of_radius_n():
    mask = np.zeros((61, 61), bool)
    mask[30, 30] = True
    grown = mask_pad(mask, 10)
    ys, xs = np.nonzero(grown)
    distances = np.hypot(xs - 30, ys - 30)
    assert distances.max() <= 10.0
    yy, xx = np.mgrid[0:61, 0:61]
    assert grown[np.hypot(xx - 30, yy - 30) <= 10.0].all()
    assert mask_pad(mask, 0).sum() == 1
    with pytest.raises(InputError):
        mask_pad(mask, -1)


def test_grabcut_from_a_box_recovers_a_synthetic_object():
    image, _, truth = disk_scene(center=(150, 120), radius=35)
    found = mask_from_box(image, (105, 75, 195, 165))
    assert iou(found, truth) >= 0.9


def test_grabcut_from_a_box_on_a_large_image_works_on_a_downscaled_copy():
    image, _, truth = disk_scene(center=(700, 500), radius=200, height=1000, width=1400)
    found = mask_from_box(image, (480, 280, 920, 720))
    assert found.shape == truth.shape
    assert iou(found, truth) >= 0.9


def test_grabcut_from_clicks_recovers_the_clicked_object_only():
    image, _, truth = disk_scene(center=(100, 120), radius=28)
    cv2.rectangle(image, (220, 40), (280, 100), (40, 40, 210), -1)  # a second object
    found = mask_from_points(image, [(100, 120), (110, 125)])
    assert iou(found, truth) >= 0.9
    assert not found[40:100, 220:280].any()


def test_box_outside_the_image_or_too_small_is_refused():
    image, _, _ = disk_scene()
    with pytest.raises(InputError, match="box"):
        mask_from_box(image, (400, 300, 500, 400))
    with pytest.raises(InputError, match="box"):
        mask_from_box(image, (10, 10, 12, 12))
    with pytest.raises(InputError, match="Click"):
        mask_from_points(image, [(-5, -5)])
    assert parse_box("1,2,30,40") == (1, 2, 30, 40)
    with pytest.raises(InputError, match="four numbers"):
        parse_box("1,2,3")


def test_as_mask_understands_the_usual_conventions():
    base = np.zeros((10, 12), bool)
    base[2:5, 3:8] = True
    assert np.array_equal(as_mask(base.astype(np.uint8) * 255), base)
    assert np.array_equal(as_mask(base.astype(np.float32)), base)
    rgb = np.repeat(base[..., None].astype(np.uint8) * 255, 3, axis=2)
    assert np.array_equal(as_mask(rgb), base)
    strokes = np.zeros((10, 12, 4), np.uint8)
    strokes[base] = (255, 0, 0, 255)  # a red brush on a transparent layer
    assert np.array_equal(as_mask(strokes), base)


def test_brush_strokes_from_a_smaller_canvas_are_scaled_to_the_image():
    image = np.zeros((200, 300, 3), np.uint8)
    strokes = np.zeros((100, 150, 4), np.uint8)
    strokes[20:40, 30:60, 3] = 255
    mask = mask_from_brush(strokes, image)
    assert mask.shape == (200, 300)
    assert mask_bbox(mask) == (60, 40, 120, 80)


def test_fit_mask_resizes_with_a_notice_and_refuses_another_shape():
    image = np.zeros((200, 300, 3), np.uint8)
    small = np.zeros((100, 150), bool)
    small[10:20, 10:20] = True
    mask, notice = fit_mask(small, image)
    assert mask.shape == (200, 300) and "resized" in notice
    assert fit_mask(mask, image)[1] is None
    with pytest.raises(InputError, match="another shape"):
        fit_mask(np.zeros((300, 100), bool), image)


def test_empty_and_full_masks_are_refused():
    with pytest.raises(InputError, match="empty"):
        require_nonempty(np.zeros((5, 5), bool))
    with pytest.raises(InputError, match="whole image"):
        require_nonempty(np.ones((5, 5), bool))


def test_mask_blur_is_soft_at_the_edge_and_solid_inside():
    mask = np.zeros((80, 80), bool)
    mask[20:60, 20:60] = True
    alpha = mask_blur(mask, 6)
    assert alpha[40, 40] == pytest.approx(1.0, abs=1e-3)
    assert alpha[5, 5] == pytest.approx(0.0, abs=1e-3)
    assert 0.3 < alpha[40, 20] < 0.7
    assert np.array_equal(mask_blur(mask, 0), mask.astype(np.float32))


def test_overlay_tints_only_the_mask(fixtures):
    from avatar.media import load_image

    image = load_image(fixtures / "obama_small.jpg")
    mask = np.zeros(image.shape[:2], bool)
    mask[60:120, 100:200] = True
    shown = mask_overlay(image, mask)
    assert shown.shape == image.shape
    assert (shown[80:100, 120:180] != image[80:100, 120:180]).any()
    assert np.array_equal(shown[:40, :40], image[:40, :40])


def test_load_mask_reads_grey_pictures_and_transparent_layers(tmp_path, fixtures):
    truth = np.zeros((40, 60), bool)
    truth[10:30, 20:50] = True
    Image.fromarray(truth.astype(np.uint8) * 255).save(tmp_path / "grey.png")
    assert np.array_equal(load_mask(tmp_path / "grey.png"), truth)
    layer = np.zeros((40, 60, 4), np.uint8)
    layer[truth] = (0, 0, 0, 255)  # black strokes: brightness alone would miss them
    buffer = io.BytesIO()
    Image.fromarray(layer).save(buffer, format="PNG")
    assert np.array_equal(load_mask(buffer.getvalue()), truth)
    with pytest.raises(InputError, match="Cannot read image"):
        load_mask(fixtures / "corrupt.jpg")
    with pytest.raises(InputError, match="does not exist"):
        load_mask(tmp_path / "nope.png")
