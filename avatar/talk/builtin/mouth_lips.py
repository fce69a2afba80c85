"""The lips as their own layers, drawn over the mouth interior.

The frame's warp (`rig.py`) is one smooth field: where the lips part it stretches
the pixels along the closed seam over the opening, and the interior is painted
there. The outline of that opening never matches the stretched pixels exactly:
the interior would cover part of a lip (fragments of a thin upper lip) or leave
seam pixels showing (a dark loop where a drawn portrait has a dark lip line).

So the lips are drawn last, over the interior, as two layers cut from the closed
rest pose: the upper lip (outer edge to the seam) and the lower lip (seam to outer
edge). A triangle mesh carries each from its rest landmarks to this frame's, so
the inner edge of each lip *is* the edge of the opening: the interior shows only
where the lips leave room, and where they meet they cover everything between
them, whatever the portrait showed there. A strip beyond each lip's outer edge
fades the layers into the warped frame around them.

Mesh vertices are fixed linear combinations of the lip landmarks (smooth
Catmull-Rom curves through them) plus fixed offsets, so a frame's mesh costs one
small matrix product, and the warp of every triangle is one affine map.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from avatar.talk.builtin.rig import smoothstep

LIPS = np.arange(48, 68)
"""The lip landmarks (outer 48-59, inner 60-67); the layers depend on these only."""
UPPER_OUTER = (48, 49, 50, 51, 52, 53, 54)
LOWER_OUTER = (48, 59, 58, 57, 56, 55, 54)
UPPER_INNER = (60, 61, 62, 63, 64)
LOWER_INNER = (60, 67, 66, 65, 64)
SAMPLES = 13
"""Points along each lip edge, corner to corner."""
MARGIN = 0.12
"""Width (eye distances) of the strip beyond the outer lip edge where the layers end. They
are opaque over its inner half and fade out over the outer half: the warped frame
around them puts the lip edge a pixel or two elsewhere (its warp is a smooth
approximation), so the two must only mix on skin, never on the lip's edge."""
SUBPIXEL_SHIFT = 2
SUPERSAMPLE = 2
"""Points per pixel along each axis at which the layers are drawn (anti-aliasing)."""


def _curve_weights(count: int, samples: int) -> np.ndarray:
    """(samples, count) weights of a Catmull-Rom curve through `count` points, ends included."""
    weights = np.zeros((samples, count))
    for row, t in enumerate(np.linspace(0.0, count - 1.0, samples)):
        i = min(int(np.floor(t)), count - 2)
        s = t - i
        basis = (
            (-s**3 + 2 * s**2 - s) / 2,
            (3 * s**3 - 5 * s**2 + 2) / 2,
            (-3 * s**3 + 4 * s**2 + s) / 2,
            (s**3 - s**2) / 2,
        )
        for offset, weight in zip((-1, 0, 1, 2), basis):
            weights[row, min(max(i + offset, 0), count - 1)] += weight
    return weights


def _edge(indices: tuple[int, ...]) -> np.ndarray:
    """(SAMPLES, 20) weights over the lip landmarks (48-67) for a smooth edge through `indices`."""
    weights = np.zeros((SAMPLES, len(LIPS)))
    weights[:, np.asarray(indices) - LIPS[0]] = _curve_weights(len(indices), SAMPLES)
    return weights


UPPER_INNER_EDGE = _edge(UPPER_INNER)
LOWER_INNER_EDGE = _edge(LOWER_INNER)


def opening_outline(lips: np.ndarray) -> np.ndarray:
    """The opening between the lips as a closed polygon (upper edge, then lower edge back).

    `lips` are the 20 lip landmarks (48-67) of a frame. Lips pressed past each
    other (m, b, p) meet halfway instead of crossing.
    """
    upper = UPPER_INNER_EDGE @ lips
    lower = LOWER_INNER_EDGE @ lips
    crossed = np.sum((lower - upper) * _downward(lips), axis=1) < 0
    middle = 0.5 * (upper + lower)
    upper = np.where(crossed[:, None], middle, upper)
    lower = np.where(crossed[:, None], middle, lower)
    return np.concatenate([upper, lower[-2:0:-1]])


def _downward(lips: np.ndarray) -> np.ndarray:
    """The mouth's downward direction: perpendicular to the line between its corners."""
    across = lips[54 - 48] - lips[48 - 48]
    down = np.array([-across[1], across[0]])
    return down / max(float(np.linalg.norm(down)), 1e-6)


@dataclass
class LipLayers:
    """The two lips of the closed rest pose as a mesh, and how to draw them in a frame."""

    source: np.ndarray  # the closed rest crop the lips are cut from
    rest: np.ndarray  # (V, 2) mesh vertices in the rest crop
    weights: np.ndarray  # (V, 20) vertex = weights @ lips + offsets
    offsets: np.ndarray  # (V, 2)
    alpha: np.ndarray  # (V,) 1 on the lips, 0 at the outer end of the fading strip
    layers: list[np.ndarray]  # per lip, (T, 3) vertex indices: the lower lip, then the upper on top

    def vertices(self, lips: np.ndarray) -> np.ndarray:
        return self.weights @ lips + self.offsets

    def paint(self, crop: np.ndarray, lips: np.ndarray) -> None:
        """Draw both lips into `crop` (in place) at this frame's lip landmarks (48-67)."""
        target = self.vertices(lips)
        x0, y0 = np.maximum(np.floor(target.min(axis=0)).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(target.max(axis=0)).astype(int) + 2, [crop.shape[1], crop.shape[0]])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        region = crop[y0:y1, x0:x1].astype(np.float32)
        local = target - [x0, y0]
        opening = opening_outline(lips) - [x0, y0]
        for triangles in self.layers:
            self._draw(region, local, opening, triangles)
        crop[y0:y1, x0:x1] = (region + 0.5).astype(np.uint8)

    def _draw(self, region: np.ndarray, local: np.ndarray, opening: np.ndarray, triangles: np.ndarray) -> None:
        """Composite one lip over `region` (float RGB, in place).

        Which pixels the lip covers is found at SUPERSAMPLE x SUPERSAMPLE points per
        pixel, so its edges are anti-aliased: the opening, the end of the fading
        strip, and, when pressed lips meet, the line where the upper lip lies over
        the lower. Its colour is sampled once per pixel centre, so a lip that has not
        moved is drawn exactly as it was (a warp's affine map is then the identity).
        """
        scale = SUPERSAMPLE
        height, width = region.shape[:2]
        owner = np.full((height * scale, width * scale), -1, np.int32)
        fine = np.round(((local + 0.5) * scale - 0.5) * (1 << SUBPIXEL_SHIFT)).astype(np.int32)
        for index, triangle in enumerate(triangles):
            cv2.fillConvexPoly(owner, fine[triangle], index, shift=SUBPIXEL_SHIFT)
        hole = np.round(((opening + 0.5) * scale - 0.5) * (1 << SUBPIXEL_SHIFT)).astype(np.int32)
        cv2.fillPoly(owner, [hole], -1, shift=SUBPIXEL_SHIFT)
        cover = cv2.resize((owner >= 0).astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
        owner = functools.reduce(np.maximum, (owner[i::scale, j::scale] for i in range(scale) for j in range(scale)))
        rows, cols = np.nonzero(owner >= 0)
        if len(rows) == 0:
            return
        # Per triangle, the affine map from a pixel to (source x, source y, alpha).
        corners = np.concatenate([local[triangles], np.ones((len(triangles), 3, 1))], axis=2)
        values = np.concatenate([self.rest[triangles], self.alpha[triangles][..., None]], axis=2)
        usable = np.abs(np.linalg.det(corners)) > 1e-6
        maps = np.zeros((len(triangles), 3, 3))
        maps[usable] = np.linalg.solve(corners[usable], values[usable])  # corners @ map = values
        which = owner[rows, cols]
        pixel = np.stack([cols, rows, np.ones_like(rows)], axis=1).astype(np.float64)
        mapped = np.einsum("nk,nkc->nc", pixel, maps[which])
        map_x = np.full((height, width), -1.0, np.float32)
        map_y = np.full((height, width), -1.0, np.float32)
        map_x[rows, cols], map_y[rows, cols] = mapped[:, 0], mapped[:, 1]
        alpha = np.zeros((height, width), np.float32)
        # Opaque over the inner half of the strip beyond the lip, fading over the outer half.
        alpha[rows, cols] = cover[rows, cols] * smoothstep(np.where(usable[which], 2.0 * mapped[:, 2], 0.0))
        drawn = cv2.remap(self.source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        region += (drawn - region) * alpha[..., None]


def build_lips(source: np.ndarray, landmarks: np.ndarray, eye_distance: float) -> LipLayers:
    """Cut the lips of the closed rest crop `source` (with its `landmarks`) into a mesh."""
    lips = np.asarray(landmarks, np.float64)[LIPS]
    centre = lips[60 - 48 :].mean(axis=0)
    rows = []  # per lip: inner edge, outer edge, end of the strip beyond it
    weights, offsets, alpha = [], [], []
    for inner, outer in ((LOWER_INNER, LOWER_OUTER), (UPPER_INNER, UPPER_OUTER)):
        inner_w, outer_w = _edge(inner), _edge(outer)
        outer_points = outer_w @ lips
        away = outer_points - centre
        away /= np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-6)
        lip_rows = []
        for row_weights, row_offsets, row_alpha in (
            (inner_w, np.zeros((SAMPLES, 2)), 1.0),
            (outer_w, np.zeros((SAMPLES, 2)), 1.0),
            (outer_w, away * MARGIN * eye_distance, 0.0),
        ):
            lip_rows.append(np.arange(SAMPLES) + sum(len(w) for w in weights))
            weights.append(row_weights)
            offsets.append(row_offsets)
            alpha.append(np.full(SAMPLES, row_alpha))
        rows.append(lip_rows)
    weights, offsets, alpha = np.concatenate(weights), np.concatenate(offsets), np.concatenate(alpha)

    def strip(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int, int]]:
        return [t for i in range(SAMPLES - 1) for t in ((a[i], a[i + 1], b[i]), (a[i + 1], b[i + 1], b[i]))]

    # Per lip: the strip beyond it first, then the lip itself (rows[0] is the lower lip).
    layers = [np.array(strip(lip[1], lip[2]) + strip(lip[0], lip[1]), np.int64) for lip in rows]
    rest = weights @ lips + offsets
    return LipLayers(np.ascontiguousarray(source), rest, weights, offsets, alpha, layers)
