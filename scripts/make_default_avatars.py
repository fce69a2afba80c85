"""Regenerate the shipped default avatars in default_avatars/.

    python scripts/make_default_avatars.py [--out default_avatars]

Writes:

- `astronaut.png`: NASA's portrait of Eileen Collins from `skimage.data.astronaut()`
  (public domain), with a `.landmarks.json` sidecar computed by dlib, so startup
  needs no detection (dlib also fires on her mission patch; the sidecar pins the face).
- drawn portraits (`maya.png`, `sam.png`, `noor.png`): stylised faces painted with
  NumPy/OpenCV. Every feature is drawn *at* its 68 dlib-order landmarks, so the
  sidecar is exact, not detected. Drawing is deterministic (seeded), so running the
  script twice gives the same files.
- `CREDITS.md`: source and license of each image.

The drawn faces keep the mouth and jaw free of hair and accessories and draw a clear
lip line, because the built-in engine animates by warping the mouth and jaw.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from avatar.face.sidecar import sidecar_path_for, write_sidecar  # noqa: E402

SIZE = 1024
SHIFT = 4  # fixed-point bits for sub-pixel OpenCV drawing
ONE = 1 << SHIFT


# ---------------------------------------------------------------------------
# The look of one drawn portrait
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Look:
    name: str
    seed: int
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    iris: tuple[int, int, int]
    lips: tuple[int, int, int]
    shirt: tuple[int, int, int]
    background: tuple[tuple[int, int, int], tuple[int, int, int]]
    hair_style: str  # "long", "short" or "bun"
    face_width: float = 390.0
    jaw_drop: float = 0.8  # eye line to chin, in face widths
    chin_shape: float = 0.85  # < 1 gives a rounder, wider chin; > 1 a pointed one
    brow_weight: float = 1.0
    lashes: bool = False


LOOKS = [
    Look(
        name="maya",
        seed=1,
        skin=(236, 196, 168),
        hair=(92, 52, 34),
        iris=(86, 120, 70),
        lips=(196, 96, 100),
        shirt=(54, 112, 140),
        background=((250, 222, 196), (236, 168, 140)),
        hair_style="long",
        jaw_drop=0.78,
        chin_shape=0.9,
        brow_weight=0.8,
        lashes=True,
    ),
    Look(
        name="sam",
        seed=2,
        skin=(178, 124, 92),
        hair=(38, 30, 28),
        iris=(78, 52, 34),
        lips=(150, 80, 72),
        shirt=(226, 170, 66),
        background=((196, 222, 236), (120, 160, 196)),
        hair_style="short",
        face_width=404.0,
        jaw_drop=0.82,
        chin_shape=0.8,
        brow_weight=1.3,
    ),
    Look(
        name="noor",
        seed=3,
        skin=(214, 166, 124),
        hair=(30, 24, 26),
        iris=(70, 46, 30),
        lips=(176, 82, 92),
        shirt=(120, 70, 130),
        background=((214, 236, 210), (130, 180, 150)),
        hair_style="bun",
        face_width=384.0,
        jaw_drop=0.79,
        chin_shape=0.86,
        brow_weight=1.0,
        lashes=True,
    ),
]


# ---------------------------------------------------------------------------
# Geometry: the 68 dlib-order points of a frontal face
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    cx: float
    eye_y: float
    fw: float  # face width at the jaw's top (points 0 and 16)
    jaw_top: float  # y of points 0 and 16
    chin: float  # y of point 8
    crown: float  # top of the skull

    @property
    def hw(self) -> float:
        return self.fw / 2


def geometry_for(look: Look) -> Geometry:
    fw = look.face_width
    eye_y = 468.0
    return Geometry(
        cx=SIZE / 2,
        eye_y=eye_y,
        fw=fw,
        jaw_top=eye_y + 0.04 * fw,
        chin=eye_y + look.jaw_drop * fw,
        crown=eye_y - 0.78 * fw,
    )


def jaw_point(g: Geometry, look: Look, u: float) -> tuple[float, float]:
    """A point on the jaw outline, u = 0 (image left, ear level) .. 1 (image right)."""
    a = np.pi * (1 - u)
    c, s = np.cos(a), np.sin(a)
    x = g.cx + g.hw * np.sign(c) * abs(c) ** look.chin_shape
    y = g.jaw_top + (g.chin - g.jaw_top) * s**1.15
    return float(x), float(y)


def landmarks_for(look: Look, g: Geometry) -> np.ndarray:
    """The 68 landmarks in dlib order; every drawn feature is built from these."""
    f, cx, ey = g.fw, g.cx, g.eye_y
    pts: list[tuple[float, float]] = []

    # 0-16 jaw, image left to image right through the chin.
    pts += [jaw_point(g, look, i / 16) for i in range(17)]

    # 17-21 brow on the image left (outer -> inner), 22-26 image right (inner -> outer).
    brow_y = ey - 0.15 * f
    left_brow = []
    for i in range(5):
        t = i / 4
        x = cx - 0.36 * f + t * 0.30 * f
        arch = np.sin(np.pi * (0.25 + 0.6 * t))  # peak two thirds of the way out
        y = brow_y - 0.045 * f * arch + 0.02 * f * (1 - t) ** 2
        left_brow.append((x, y))
    pts += left_brow
    pts += [(2 * cx - x, y) for x, y in reversed(left_brow)]

    # 27-30 nose bridge down to the tip, 31-35 nostril base left -> right.
    tip_y = ey + 0.30 * f
    base_y = ey + 0.37 * f
    pts += [(cx, ey - 0.02 * f + i * (tip_y - (ey - 0.02 * f)) / 3) for i in range(4)]
    pts += [
        (cx - 0.105 * f, base_y - 0.025 * f),
        (cx - 0.055 * f, base_y - 0.002 * f),
        (cx, base_y + 0.008 * f),
        (cx + 0.055 * f, base_y - 0.002 * f),
        (cx + 0.105 * f, base_y - 0.025 * f),
    ]

    # 36-41 image-left eye, 42-47 image-right eye (dlib order around each eye).
    ew = 0.22 * f
    inner = 0.1 * f
    open_up, open_down = 0.07 * f, 0.045 * f
    lx0, lx1 = cx - inner - ew, cx - inner  # outer, inner corner of the left eye
    left_eye = [
        (lx0, ey + 0.004 * f),
        (lx0 + 0.30 * ew, ey - open_up * 0.92),
        (lx0 + 0.66 * ew, ey - open_up * 0.95),
        (lx1, ey + 0.012 * f),
        (lx0 + 0.66 * ew, ey + open_down),
        (lx0 + 0.30 * ew, ey + open_down * 0.92),
    ]
    pts += left_eye
    # Mirror: 42 inner corner, 43-44 upper lid, 45 outer corner, 46-47 lower lid.
    mirror = lambda p: (2 * cx - p[0], p[1])  # noqa: E731
    pts += [mirror(left_eye[i]) for i in (3, 2, 1, 0, 5, 4)]

    # 48-59 outer lips, 60-67 inner lips (mouth closed: inner upper == inner lower).
    my = ey + 0.535 * f
    mw = 0.2 * f  # half mouth width
    smile = 0.012 * f
    corner_y = my - smile
    outer = [
        (cx - mw, corner_y),
        (cx - 0.62 * mw, my - 0.055 * f),
        (cx - 0.22 * mw, my - 0.075 * f),
        (cx, my - 0.062 * f),
        (cx + 0.22 * mw, my - 0.075 * f),
        (cx + 0.62 * mw, my - 0.055 * f),
        (cx + mw, corner_y),
        (cx + 0.62 * mw, my + 0.065 * f),
        (cx + 0.22 * mw, my + 0.092 * f),
        (cx, my + 0.095 * f),
        (cx - 0.22 * mw, my + 0.092 * f),
        (cx - 0.62 * mw, my + 0.065 * f),
    ]
    pts += outer
    line = [
        (cx - 0.86 * mw, corner_y + 0.002 * f),
        (cx - 0.45 * mw, my + 0.002 * f),
        (cx, my + 0.004 * f),
        (cx + 0.45 * mw, my + 0.002 * f),
        (cx + 0.86 * mw, corner_y + 0.002 * f),
    ]
    pts += line  # 60-64
    pts += [line[3], line[2], line[1]]  # 65-67 lower inner, right -> left
    points = np.array(pts, dtype=np.float32)
    assert points.shape == (68, 2)
    return points


# ---------------------------------------------------------------------------
# Painting helpers (float RGB canvas in 0..1)
# ---------------------------------------------------------------------------


def spline(points: np.ndarray, closed: bool = False, steps: int = 12) -> np.ndarray:
    """A Catmull-Rom curve through `points`, so drawn outlines pass exactly through the landmarks."""
    p = np.asarray(points, dtype=np.float64)
    if closed:
        p = np.vstack([p[-1], p, p[0], p[1]])
    else:
        p = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    out = []
    t = np.linspace(0, 1, steps, endpoint=False)[:, None]
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(
            0.5
            * (
                2 * p1
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
            )
        )
    if not closed:
        out.append(p[-2][None])
    return np.vstack(out)


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points) * ONE).astype(np.int32).reshape(-1, 1, 2)


def poly_mask(points: np.ndarray, blur: float = 0.0) -> np.ndarray:
    m = np.zeros((SIZE, SIZE), np.uint8)
    cv2.fillPoly(m, [_fixed(points)], 255, lineType=cv2.LINE_AA, shift=SHIFT)
    return soften(m.astype(np.float32) / 255, blur)


def line_mask(points: np.ndarray, thickness: float, blur: float = 0.0, closed: bool = False) -> np.ndarray:
    m = np.zeros((SIZE, SIZE), np.uint8)
    cv2.polylines(m, [_fixed(points)], closed, 255, max(1, int(round(thickness))), lineType=cv2.LINE_AA, shift=SHIFT)
    return soften(m.astype(np.float32) / 255, blur)


def ellipse_mask(center, axes, angle: float = 0.0, blur: float = 0.0) -> np.ndarray:
    m = np.zeros((SIZE, SIZE), np.uint8)
    c = tuple(int(round(v * ONE)) for v in center)
    a = tuple(max(1, int(round(v * ONE))) for v in axes)
    cv2.ellipse(m, c, a, angle, 0, 360, 255, -1, lineType=cv2.LINE_AA, shift=SHIFT)
    return soften(m.astype(np.float32) / 255, blur)


def soften(mask: np.ndarray, blur: float) -> np.ndarray:
    if blur <= 0:
        return mask
    return cv2.GaussianBlur(mask, (0, 0), blur)


def paint(canvas: np.ndarray, mask: np.ndarray, color, alpha: float = 1.0) -> None:
    rgb = np.asarray(color, np.float32) / 255 if np.asarray(color).ndim == 1 else color
    a = (mask * alpha)[..., None]
    canvas *= 1 - a
    canvas += rgb * a


def shade(canvas: np.ndarray, mask: np.ndarray, amount: float) -> None:
    """Darken (amount > 0) or lighten (amount < 0) where mask is set, keeping hue."""
    if amount >= 0:
        canvas *= 1 - amount * mask[..., None]
    else:
        canvas += (1 - canvas) * (-amount) * mask[..., None]


def tone(color, factor: float) -> np.ndarray:
    return np.clip(np.asarray(color, np.float32) * factor, 0, 255)


def mix(a, b, t: float) -> np.ndarray:
    return np.asarray(a, np.float32) * (1 - t) + np.asarray(b, np.float32) * t


# ---------------------------------------------------------------------------
# The portrait
# ---------------------------------------------------------------------------


def draw_portrait(look: Look) -> tuple[np.ndarray, np.ndarray]:
    """Paint one portrait; returns (RGB uint8 image, its 68 landmarks)."""
    rng = np.random.default_rng(look.seed)
    g = geometry_for(look)
    L = landmarks_for(look, g)
    f, cx = g.fw, g.cx
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)

    # Background: vertical gradient with a soft light behind the head.
    top, bottom = (np.asarray(c, np.float32) / 255 for c in look.background)
    t = (yy / (SIZE - 1))[..., None]
    canvas = top * (1 - t) + bottom * t
    glow = np.exp(-(((xx - cx) / 420) ** 2 + ((yy - g.eye_y) / 380) ** 2))
    shade(canvas, glow, -0.35)

    head = head_outline(look, g, L)
    head_mask = poly_mask(head)

    if look.hair_style == "long":
        draw_long_hair_back(canvas, look, g, rng)

    draw_body(canvas, look, g, L)
    if look.hair_style != "long":  # long hair covers the ears
        draw_ears(canvas, look, g, L)

    # Face: base skin, edge shading, cheek warmth, chin and forehead light.
    paint(canvas, head_mask, look.skin)
    edge = np.clip(1 - soften(head_mask, 0.06 * f), 0, 1) * head_mask
    shade(canvas, np.clip(edge * 2.2, 0, 1), 0.28)
    for side in (-1, 1):
        cheek = ellipse_mask((cx + side * 0.25 * f, g.eye_y + 0.33 * f), (0.1 * f, 0.07 * f), blur=0.05 * f)
        paint(canvas, cheek * head_mask, mix(look.skin, (230, 90, 100), 0.45), 0.32)
    shade(canvas, ellipse_mask((cx, g.eye_y - 0.36 * f), (0.22 * f, 0.1 * f), blur=0.08 * f) * head_mask, -0.12)
    shade(canvas, ellipse_mask((cx, g.chin - 0.08 * f), (0.1 * f, 0.05 * f), blur=0.04 * f) * head_mask, -0.08)

    draw_nose(canvas, look, g, L)
    draw_eyes(canvas, look, g, L)
    draw_brows(canvas, look, g, L)
    draw_mouth(canvas, look, g, L)

    draw_front_hair(canvas, look, g, L, head_mask, rng)

    image = np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8)
    return image, L


def head_outline(look: Look, g: Geometry, L: np.ndarray) -> np.ndarray:
    """Jaw (through landmarks 0-16, densely) closed by a skull arc over the top."""
    jaw = np.array([jaw_point(g, look, u) for u in np.linspace(0, 1, 97)])
    a = np.linspace(0, np.pi, 60)
    skull = np.stack(
        [g.cx + g.hw * 1.02 * np.cos(a), g.jaw_top - (g.jaw_top - g.crown) * np.sin(a) ** 0.9], axis=1
    )
    return np.vstack([jaw, skull[1:-1]])


def draw_body(canvas: np.ndarray, look: Look, g: Geometry, L: np.ndarray) -> None:
    f, cx = g.fw, g.cx
    neck_w = 0.25 * f
    neck_top = g.jaw_top + 0.45 * (g.chin - g.jaw_top)
    shoulder_y = g.chin + 0.17 * f
    neck = np.array(
        [
            (cx - neck_w, neck_top),
            (cx + neck_w, neck_top),
            (cx + neck_w * 1.08, shoulder_y + 0.15 * f),
            (cx - neck_w * 1.08, shoulder_y + 0.15 * f),
        ]
    )
    neck_mask = poly_mask(neck)
    paint(canvas, neck_mask, tone(look.skin, 0.93))
    # Shadow the head casts on the neck, following the jaw.
    jaw = np.array([jaw_point(g, look, u) for u in np.linspace(0.1, 0.9, 40)])
    shadow = poly_mask(np.vstack([jaw, jaw[::-1] + [0, 0.14 * f]]), blur=0.025 * f)
    shade(canvas, shadow * neck_mask, 0.3)

    # Shoulders sloping down from the neck (trapezius), then the arms' tops.
    half = np.array(
        [
            (cx - neck_w * 0.95, shoulder_y),
            (cx - 0.5 * f, shoulder_y + 0.05 * f),
            (cx - 0.9 * f, shoulder_y + 0.14 * f),
            (cx - 1.12 * f, shoulder_y + 0.3 * f),
            (cx - 1.22 * f, SIZE + 20),
        ]
    )
    other = half * [-1, 1] + [2 * cx, 0]  # the right side, neck -> down
    body = np.vstack([spline(half[::-1]), spline(other)])
    body_mask = poly_mask(body)
    paint(canvas, body_mask, look.shirt)
    # Fabric shading: darker towards the sides.
    side = np.clip(np.abs(np.arange(SIZE, dtype=np.float32) - cx) / (1.2 * f), 0, 1)[None, :] ** 2
    shade(canvas, body_mask * side, 0.35)
    depth = {"long": 0.2, "bun": 0.16, "short": 0.1}[look.hair_style]
    neckline = np.array(
        [
            (cx - neck_w * 1.05, shoulder_y - 0.02 * f),
            (cx - neck_w * 0.6, shoulder_y + 0.6 * depth * f),
            (cx, shoulder_y + depth * f),
            (cx + neck_w * 0.6, shoulder_y + 0.6 * depth * f),
            (cx + neck_w * 1.05, shoulder_y - 0.02 * f),
        ]
    )
    curve = spline(neckline)
    neck_skin = poly_mask(np.vstack([curve, [(cx + neck_w, neck_top), (cx - neck_w, neck_top)]]))
    paint(canvas, neck_skin * body_mask, tone(look.skin, 0.93))
    paint(canvas, line_mask(curve, 0.02 * f, blur=1.0), tone(look.shirt, 0.7))
    if look.hair_style == "short":
        # A shirt collar on each side of the neckline.
        for sgn in (-1, 1):
            collar = np.array(
                [
                    (cx + sgn * neck_w * 1.1, shoulder_y - 0.06 * f),
                    (cx + sgn * 0.03 * f, shoulder_y + 0.14 * f),
                    (cx + sgn * neck_w * 1.9, shoulder_y + 0.1 * f),
                ]
            )
            paint(canvas, poly_mask(collar, blur=0.8), tone(look.shirt, 1.1))
            paint(canvas, line_mask(np.vstack([collar, collar[:1]]), 3, blur=0.8), tone(look.shirt, 0.65))


def draw_ears(canvas: np.ndarray, look: Look, g: Geometry, L: np.ndarray) -> None:
    f = g.fw
    for s, i in ((-1, 0), (1, 16)):
        x = L[i, 0] + s * 0.015 * f
        center = (x, g.eye_y + 0.14 * f)
        ear = ellipse_mask(center, (0.07 * f, 0.15 * f), angle=s * -8)
        paint(canvas, ear, tone(look.skin, 0.95))
        inner = ellipse_mask((x + s * 0.018 * f, g.eye_y + 0.15 * f), (0.032 * f, 0.09 * f), angle=s * -8, blur=0.012 * f)
        shade(canvas, inner * ear, 0.25)


def draw_nose(canvas: np.ndarray, look: Look, g: Geometry, L: np.ndarray) -> None:
    f = g.fw
    # Soft shadow down one side of the bridge and a lit tip.
    bridge = L[27:31] + [0.045 * f, 0]
    shade(canvas, line_mask(spline(bridge), 0.03 * f, blur=0.02 * f), 0.16)
    shade(canvas, ellipse_mask(L[30] + [0, 0.01 * f], (0.05 * f, 0.04 * f), blur=0.025 * f), -0.18)
    # Under-nose shadow and nostrils.
    base = spline(L[31:36])
    shade(canvas, line_mask(base + [0, 0.012 * f], 0.03 * f, blur=0.015 * f), 0.18)
    for i, s in ((32, -1), (34, 1)):
        nostril = ellipse_mask(L[i] + [s * 0.012 * f, -0.012 * f], (0.026 * f, 0.013 * f), angle=s * 12, blur=2)
        paint(canvas, nostril, tone(look.skin, 0.45), 0.8)
    # Alar creases: small arcs around points 31 and 35.
    for i, s in ((31, -1), (35, 1)):
        p = L[i]
        arc = np.array([p + [s * -0.01 * f, 0.01 * f], p + [s * 0.012 * f, -0.025 * f], p + [s * -0.012 * f, -0.065 * f]])
        paint(canvas, line_mask(spline(arc), 0.012 * f, blur=1.2), tone(look.skin, 0.6), 0.7)


def draw_eyes(canvas: np.ndarray, look: Look, g: Geometry, L: np.ndarray) -> None:
    f = g.fw
    for idx in (range(36, 42), range(42, 48)):
        eye = L[list(idx)]
        outline = spline(eye, closed=True)
        white = poly_mask(outline)
        center = eye.mean(axis=0)
        # Eye socket shadow above the lid.
        socket = ellipse_mask(center - [0, 0.03 * f], (0.13 * f, 0.06 * f), blur=0.03 * f)
        shade(canvas, socket, 0.12)
        paint(canvas, white, (246, 242, 238))
        # The upper lid shadows the top of the eyeball.
        shade(canvas, white * line_mask(spline(eye[[0, 1, 2, 3]]), 0.04 * f, blur=4), 0.25)
        # Iris, pupil and a catch light, clipped to the eye opening.
        r = 0.064 * f  # larger than the opening: the lids cover its top and bottom
        iris_c = (center[0], center[1] - 0.006 * f)
        dist = np.hypot(*(np.mgrid[0:SIZE, 0:SIZE][::-1] - np.array(iris_c)[:, None, None]))
        iris = np.clip(r - dist + 0.5, 0, 1)
        ring = np.clip(dist / r, 0, 1) ** 3
        iris_rgb = (np.asarray(look.iris, np.float32) / 255) * (1 - 0.55 * ring[..., None])
        paint(canvas, iris * white, iris_rgb)
        pupil = np.clip(0.42 * r - dist + 0.5, 0, 1)
        paint(canvas, pupil * white, (18, 14, 14))
        glint = ellipse_mask((iris_c[0] - 0.35 * r, iris_c[1] - 0.35 * r), (0.2 * r, 0.2 * r), blur=0.8)
        paint(canvas, glint * white, (255, 255, 255), 0.9)
        # Upper lid line (the lash line), a crease above it, a faint lower lid.
        upper = spline(eye[[0, 1, 2, 3]])
        paint(canvas, line_mask(upper, 0.014 * f * (1.3 if look.lashes else 1.0), blur=0.7), (40, 26, 22))
        crease = spline(eye[[0, 1, 2, 3]] - [[0, 0.015 * f], [0, 0.03 * f], [0, 0.03 * f], [0, 0.012 * f]])
        paint(canvas, line_mask(crease, 0.006 * f, blur=1.5), tone(look.skin, 0.62), 0.6)
        lower = spline(eye[[3, 4, 5, 0]])
        paint(canvas, line_mask(lower, 0.005 * f, blur=1.0), tone(look.skin, 0.55), 0.55)
        if look.lashes:
            outer = eye[0]
            inward = np.sign(center[0] - outer[0])
            for k in range(3):
                base = outer + [inward * (0.006 + 0.012 * k) * f, -0.006 * f * (k + 1) * 0.6]
                tip = base + [-inward * 0.024 * f, -0.018 * f]
                paint(canvas, line_mask(spline(np.array([base, (base + tip) / 2 + [0, -0.004 * f], tip])), 0.006 * f, blur=0.6), (40, 26, 22))


def draw_brows(canvas: np.ndarray, look: Look, g: Geometry, L: np.ndarray) -> None:
    f = g.fw
    color = tone(look.hair, 0.9)
    for idx, inner_last in ((range(17, 22), True), (range(22, 27), False)):
        brow = spline(L[list(idx)], steps=8)
        n = len(brow)
        t = np.linspace(0, 1, n) if inner_last else np.linspace(1, 0, n)  # 1 at the inner end
        thick = (0.015 + 0.02 * t) * f * look.brow_weight
        d = np.gradient(brow, axis=0)
        normal = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.linalg.norm(d, axis=1, keepdims=True)
        shape = np.vstack([brow + normal * thick[:, None] * 0.5, (brow - normal * thick[:, None] * 0.5)[::-1]])
        paint(canvas, poly_mask(shape, blur=1.2), color, 0.92)


def draw_mouth(canvas: np.ndarray, look: Look, g: Geometry, L: np.ndarray) -> None:
    f = g.fw
    upper = np.vstack([spline(L[48:55]), spline(L[[64, 63, 62, 61, 60]])])
    lower = np.vstack([spline(L[[54, 55, 56, 57, 58, 59, 48]]), spline(L[[60, 67, 66, 65, 64]])])
    # Shadow under the lower lip, on the chin.
    shade(canvas, ellipse_mask(L[57] + [0, 0.035 * f], (0.11 * f, 0.022 * f), blur=0.02 * f), 0.18)
    paint(canvas, poly_mask(upper, blur=0.8), tone(look.lips, 0.86))
    paint(canvas, poly_mask(lower, blur=0.8), look.lips)
    # Lower-lip sheen and a soft upper-lip edge highlight.
    shade(canvas, ellipse_mask(L[57] - [0, 0.035 * f], (0.06 * f, 0.016 * f), blur=0.012 * f), -0.28)
    shade(canvas, line_mask(spline(L[49:54]) - [0, 0.008 * f], 0.01 * f, blur=2.5), -0.18)
    # The lip line, darker towards the corners.
    lip_line = spline(L[[48, 60, 61, 62, 63, 64, 54]])
    paint(canvas, line_mask(lip_line, 0.011 * f, blur=0.9), tone(look.lips, 0.42))
    for i in (48, 54):
        shade(canvas, ellipse_mask(L[i], (0.018 * f, 0.012 * f), blur=0.01 * f), 0.25)


def draw_long_hair_back(canvas: np.ndarray, look: Look, g: Geometry, rng: np.random.Generator) -> None:
    f, cx = g.fw, g.cx
    left = np.array(
        [
            (cx - 0.32 * f, g.crown - 0.02 * f),
            (cx - 0.6 * f, g.crown + 0.22 * f),
            (cx - 0.7 * f, g.eye_y + 0.1 * f),
            (cx - 0.74 * f, g.chin + 0.05 * f),
            (cx - 0.7 * f, g.chin + 0.38 * f),
            (cx - 0.45 * f, g.chin + 0.44 * f),
        ]
    )
    right = left[::-1] * [-1, 1] + [2 * cx, 0]
    outline = spline(np.vstack([left, right]), closed=True)
    mask = poly_mask(outline, blur=1.5)
    paint(canvas, mask, tone(look.hair, 0.8))
    for _ in range(110):  # strands falling from the crown
        side = rng.choice([-1, 1])
        x_top = cx + side * rng.uniform(0.05, 0.55) * f
        x_end = cx + side * rng.uniform(0.45, 0.72) * f
        y_end = g.chin + rng.uniform(0.0, 0.42) * f
        ctrl = (cx + side * rng.uniform(0.62, 0.78) * f, g.eye_y)
        _stroke(canvas, mask, look, rng, [(x_top, g.crown + 0.05 * f), ctrl, (x_end, y_end)])


def _stroke(canvas, mask, look, rng, control) -> None:
    """One thin hair strand along a quadratic curve, lighter or darker than the hair."""
    p0, p1, p2 = (np.asarray(p, np.float64) for p in control)
    t = np.linspace(0, 1, 24)[:, None]
    curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
    light = rng.random() < 0.45
    color = tone(look.hair, 1.7 if light else 0.55)
    paint(canvas, line_mask(curve, rng.uniform(1.0, 2.0), blur=0.7) * mask, color, 0.22)


def draw_front_hair(canvas, look: Look, g: Geometry, L: np.ndarray, head_mask, rng) -> None:
    f, cx = g.fw, g.cx
    hw = g.hw
    style = look.hair_style
    lift = {"long": 0.08, "short": 0.05, "bun": 0.03}[style] * f
    a = np.linspace(0, np.pi, 60)
    cap_top = np.stack(
        [cx + (hw * 1.02 + lift) * np.cos(a), g.jaw_top - (g.jaw_top - g.crown + lift) * np.sin(a) ** 0.9], axis=1
    )
    hairline_y = g.eye_y - (0.37 if style == "long" else 0.4) * f
    if style == "long":
        # A side part with a swoop across the forehead, down past the temples.
        part = (cx + 0.16 * f, g.crown)
        hairline = np.array(
            [
                (cx - hw * 1.1, g.eye_y + 0.12 * f),
                (cx - hw * 0.98, g.eye_y - 0.08 * f),
                (cx - hw * 0.8, hairline_y + 0.04 * f),
                (cx - hw * 0.35, hairline_y - 0.02 * f),
                (cx + hw * 0.2, hairline_y - 0.07 * f),
                (cx + hw * 0.6, hairline_y - 0.05 * f),
                (cx + hw * 0.93, g.eye_y - 0.14 * f),
                (cx + hw * 1.1, g.eye_y + 0.12 * f),
            ]
        )
    else:
        # A rounded hairline, receding a little at the temples, with short sideburns.
        part = (cx - 0.12 * f, g.crown)
        hairline = np.array(
            [
                (cx - hw * 1.03, g.eye_y - 0.06 * f),
                (cx - hw * 0.96, g.eye_y - 0.2 * f),
                (cx - hw * 0.8, hairline_y + 0.09 * f),
                (cx - hw * 0.5, hairline_y + 0.0 * f),
                (cx, hairline_y - 0.035 * f),
                (cx + hw * 0.5, hairline_y + 0.0 * f),
                (cx + hw * 0.8, hairline_y + 0.09 * f),
                (cx + hw * 0.96, g.eye_y - 0.2 * f),
                (cx + hw * 1.03, g.eye_y - 0.06 * f),
            ]
        )
    edge = spline(hairline)
    outline = np.vstack([edge, cap_top])  # hairline left -> right, then over the top back to the left
    mask = poly_mask(outline, blur=2.2)
    # Soft shadow the hair casts on the forehead.
    shade(canvas, soften(mask, 0.025 * f) * head_mask * (1 - mask), 0.25)
    paint(canvas, mask, look.hair)
    sheen = ellipse_mask((cx - 0.1 * f, g.crown + 0.14 * f), (0.3 * f, 0.07 * f), angle=-10, blur=0.05 * f)
    shade(canvas, sheen * mask, -0.2)
    # Combed strands from the part to points along the hairline.
    for _ in range(140):
        end = edge[rng.integers(0, len(edge))] + rng.normal(0, 0.01 * f, 2)
        mid = (np.asarray(part) + end) / 2
        out = mid - np.array([cx, g.eye_y])
        ctrl = mid + out / np.linalg.norm(out) * 0.12 * f
        start = np.asarray(part) + rng.normal(0, 0.03 * f, 2)
        _stroke(canvas, mask, look, rng, [start, ctrl, end])
    if style == "bun":
        bun_c = (cx, g.crown - 0.11 * f)
        bun = ellipse_mask(bun_c, (0.21 * f, 0.17 * f), blur=1.2)
        shade(canvas, soften(bun, 0.02 * f) * (1 - bun), 0.1)
        paint(canvas, bun, tone(look.hair, 1.05))
        highlight = ellipse_mask((bun_c[0] - 0.06 * f, bun_c[1] - 0.06 * f), (0.1 * f, 0.05 * f), angle=-20, blur=0.03 * f)
        shade(canvas, highlight * bun, -0.25)
        for k in range(40):  # strands wrapping around the bun
            ang = rng.uniform(0, 2 * np.pi)
            r = rng.uniform(0.3, 1.0)
            p0 = np.array(bun_c) + [0.21 * f * r * np.cos(ang), 0.17 * f * r * np.sin(ang)]
            p2 = np.array(bun_c) + [0.21 * f * r * np.cos(ang + 1.4), 0.17 * f * r * np.sin(ang + 1.4)]
            ctrl = np.array(bun_c) + [0.25 * f * r * np.cos(ang + 0.7), 0.2 * f * r * np.sin(ang + 0.7)]
            _stroke(canvas, bun, look, rng, [p0, ctrl, p2])


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def save_png(path: Path, image: np.ndarray) -> None:
    """Write atomically, so an interrupted run leaves the old file, not half a new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp.png")
    os.close(fd)
    try:
        Image.fromarray(image).save(tmp, format="PNG", optimize=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_astronaut(out: Path) -> Path:
    from skimage import data

    from avatar.face.detect import find_faces

    image = data.astronaut()
    faces = find_faces(image)
    if not faces:
        raise SystemExit("dlib found no face in skimage.data.astronaut(); cannot write its sidecar")
    path = out / "astronaut.png"
    save_png(path, image)
    face = faces[0]  # largest, most confident: her face (not the mission patch)
    write_sidecar(sidecar_path_for(path), face.landmarks, (image.shape[1], image.shape[0]))
    return path


CREDITS = """\
# Default avatars: sources and licenses

All files in this folder are regenerated by `python scripts/make_default_avatars.py`.
Each image has a `<name>.landmarks.json` sidecar with its 68 face landmarks
(dlib order), so the app needs no face detection for them.

| file | source | license |
| --- | --- | --- |
| `astronaut.png` | NASA portrait of astronaut Eileen Collins, as shipped in scikit-image (`skimage.data.astronaut()`). Landmarks computed with dlib's 68-point shape predictor. | Public domain (work of the US government, NASA) |
{drawn}

The drawn portraits are stylised faces painted with NumPy and OpenCV by the script;
their landmarks are the points the features were drawn at. They are released under
CC0 1.0 (public domain dedication); you may also use them under the project license.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "default_avatars")
    parser.add_argument("--only", choices=[look.name for look in LOOKS], help="draw one portrait only (for previews)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    looks = [look for look in LOOKS if args.only in (None, look.name)]
    for look in looks:
        image, points = draw_portrait(look)
        path = args.out / f"{look.name}.png"
        save_png(path, image)
        write_sidecar(sidecar_path_for(path), points, (SIZE, SIZE))
        print(f"wrote {path}")
    if args.only is None:
        print(f"wrote {make_astronaut(args.out)}")
        drawn = "\n".join(
            f"| `{look.name}.png` | Drawn by `scripts/make_default_avatars.py` in this repository. | CC0 1.0 |"
            for look in LOOKS
        )
        (args.out / "CREDITS.md").write_text(CREDITS.format(drawn=drawn), encoding="utf-8")
        print(f"wrote {args.out / 'CREDITS.md'}")


if __name__ == "__main__":
    main()
