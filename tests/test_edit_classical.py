"""Inpainting, removal and shift with the classical (no model) methods, against known answers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatar.edit.inpaint import InpaintOptions, inpaint, resolve_method
from avatar.edit.shift import remove_object, shift_object, translate
from avatar.errors import InputError
from avatar.media import load_image
from tests.test_edit_scenes import OBJECT_COLOR, centroid, disk_scene, red_pixels


def _mae(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16))[where].mean())


# Stated bounds: mean absolute error (0-255 scale) of the filled object area against
# the clean background. The object itself is ~66 away from it on the synthetic
# scene; the wave texture's own spread is ~16, so a smooth fill cannot do much better.
SYNTHETIC_BOUNDS = {"telea": 25.0, "ns": 25.0, "fsr": 25.0, "shiftmap": 12.0}


@pytest.mark.parametrize("algorithm", sorted(SYNTHETIC_BOUNDS))
def test_removal_from_a_textured_background_restores_the_background(algorithm):
    image, background, mask = disk_scene()
    options = InpaintOptions(classical_algorithm=algorithm)
    result = remove_object(image, mask, method="classical", options=options)
    assert _mae(image, background, mask) > 60
    assert _mae(result.image, background, mask) < SYNTHETIC_BOUNDS[algorithm]
    assert not red_pixels(result.image).any()
    # Only the padded hole changes.
    assert np.array_equal(result.image[~result.hole], image[~result.hole])
    assert result.fill.engine == f"classical:{algorithm}"


@pytest.mark.parametrize("center, bound", [((230, 250), 22.0), ((450, 900), 12.0)])
@pytest.mark.parametrize("algorithm", ["telea", "ns"])
def test_removal_of_an_object_pasted_on_a_real_photo(fixtures, center, bound, algorithm):
    photo = load_image(fixtures / "obama.jpg")
    mask = np.zeros(photo.shape[:2], np.uint8)
    cv2.circle(mask, center, 40, 1, -1)
    mask = mask.astype(bool)
    image = photo.copy()
    image[mask] = OBJECT_COLOR
    result = remove_object(image, mask, method="classical", options=InpaintOptions(classical_algorithm=algorithm))
    assert _mae(result.image, photo, mask) < bound
    assert _mae(result.image, photo, mask) < 0.5 * _mae(image, photo, mask)


@pytest.mark.parametrize("dx, dy", [(60, -25), (-70, 40), (0, 50)])
def test_shift_moves_the_object_and_leaves_no_copy(dx, dy):
    image, _, mask = disk_scene(center=(150, 120), radius=30)
    result = shift_object(image, mask, dx, dy, method="classical")
    found = red_pixels(result.image)
    cx, cy = centroid(found)
    ox, oy = centroid(mask)
    assert abs(cx - (ox + dx)) <= 2 and abs(cy - (oy + dy)) <= 2
    # Where the object was and is not now, nothing of it is left.
    vacated = mask & ~result.moved_mask
    assert found[vacated].mean() < 0.01
    assert centroid(result.moved_mask) == pytest.approx((ox + dx, oy + dy), abs=0.5)
    assert not result.clipped and result.notices == []
    assert not red_pixels(result.background).any()


def test_shift_past_the_edge_is_clipped_not_an_error():
    image, _, mask = disk_scene(center=(280, 120), radius=30)
    result = shift_object(image, mask, 40, 0, method="classical")
    assert result.clipped
    assert 0 < result.moved_mask.sum() < mask.sum()
    assert result.moved_mask[:, -1].any()
    assert any("cut off" in notice for notice in result.notices)
    assert red_pixels(result.image)[:, 300:].any()


def test_shift_entirely_off_the_canvas_is_refused_with_advice():
    image, _, mask = disk_scene()
    with pytest.raises(InputError, match="entirely outside"):
        shift_object(image, mask, 1000, 0, method="classical")


def test_empty_mask_and_size_mismatch():
    image, _, mask = disk_scene()
    with pytest.raises(InputError, match="empty"):
        shift_object(image, np.zeros_like(mask), 10, 0, method="classical")
    with pytest.raises(InputError, match="empty"):
        inpaint(image, np.zeros_like(mask), method="classical")
    half = cv2.resize(mask.astype(np.uint8), (160, 120), interpolation=cv2.INTER_NEAREST)
    result = inpaint(image, half, method="classical")
    assert result.mask.shape == mask.shape
    assert any("resized" in notice for notice in result.notices)


def test_translate_drops_what_leaves_the_canvas():
    array = np.arange(12).reshape(3, 4)
    assert translate(array, 1, 0).tolist() == [[0, 0, 1, 2], [0, 4, 5, 6], [0, 8, 9, 10]]
    assert translate(array, 0, -2).tolist() == [[8, 9, 10, 11], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert not translate(array, 5, 0).any()


def test_auto_picks_classical_without_models_and_sd_says_how_to_install():
    from avatar.errors import ModelNotInstalled

    assert resolve_method("auto") == "classical"
    image, _, mask = disk_scene()
    with pytest.raises(ModelNotInstalled, match="avatar models pull"):
        inpaint(image, mask, method="sd")
    with pytest.raises(InputError, match="Unknown inpainting method"):
        inpaint(image, mask, method="magic")
    result = inpaint(image, mask, method="auto")
    assert result.method == "classical" and result.seed is None


def test_options_are_validated():
    image, _, mask = disk_scene()
    for bad, message in ((InpaintOptions(steps=0), "steps must be from 1 to 200, not 0."),
                         (InpaintOptions(strength=0), "Strength 0 with 25 steps leaves no step to paint"),
                         (InpaintOptions(strength=0.1, steps=5), "Strength 0.1 with 5 steps leaves no step"),
                         (InpaintOptions(classical_algorithm="x"), "classical_algorithm must be one of telea, ns"),
                         (InpaintOptions(resolution=32), "resolution must be at least 64")):
        with pytest.raises(InputError) as caught:
            inpaint(image, mask, method="classical", options=bad)
        assert message in str(caught.value)
