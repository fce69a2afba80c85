"""Synthetic scenes with known ground truth for the image-tool tests.

A textured background (smooth sinusoidal texture with fine noise) and a solid
object of known shape on it: removing the object should give back the background,
and every mask method has an exact answer to be compared with.
"""

from __future__ import annotations

import cv2
import numpy as np

OBJECT_COLOR = (210, 40, 40)


def textured_background(height: int = 240, width: int = 320, seed: int = 0) -> np.ndarray:
    """A busy but locally predictable background: waves of different periods plus grain."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 110 + 30 * np.sin(xx / 9.0) + 15 * np.cos(yy / 13.0)
    green = 120 + 25 * np.sin((xx + yy) / 11.0)
    blue = 100 + 20 * np.cos(xx / 7.0 - yy / 17.0)
    image = np.stack([red, green, blue], axis=-1) + rng.normal(0.0, 4.0, (height, width, 3))
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def disk_scene(center=(150, 120), radius=30, height=240, width=320, seed=0):
    """(image, background, object mask): a red disk on the textured background."""
    background = textured_background(height, width, seed)
    mask = np.zeros((height, width), np.uint8)
    cv2.circle(mask, center, radius, 1, -1)
    mask = mask.astype(bool)
    image = background.copy()
    image[mask] = OBJECT_COLOR
    return image, background, mask


def red_pixels(image: np.ndarray) -> np.ndarray:
    """Where the object's colour is, to find the object in a result without being told."""
    distance = np.abs(image.astype(np.int16) - np.array(OBJECT_COLOR, np.int16)).sum(axis=2)
    return distance < 60


def centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_scene_background_is_textured_and_object_is_distinct():
    image, background, mask = disk_scene()
    # Texture: neighbouring pixels differ, so a flat fill would be a poor answer.
    assert background.astype(np.float32).std(axis=(0, 1)).min() > 10
    assert not red_pixels(background).any()
    assert iou(red_pixels(image), mask) == 1.0
