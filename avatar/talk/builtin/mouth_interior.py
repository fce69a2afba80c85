"""The inside of the mouth, shown wherever the lips part.

The engine animates from a closed rest pose (`mouth_rest.py`), so everything seen
between the lips is drawn here, as a few layers composited inside the current
inner-lip outline, back to front:

- **Teeth the portrait shows** are reused: the pixels between its lips are cut
  into an upper part, which rides with the skull (upper teeth do not move when
  the jaw drops), and a lower part, which rides with the jaw. The cut follows the
  darkest line between the rows. Each part is extended beyond its lip by
  repeating its edge rows, so a lip that moves further than in the portrait never
  uncovers a hole.
- **Otherwise they are synthesized** from the face's geometry and colours: an
  upper row of teeth following the dental arch (the incisal edge curves up toward
  the corners, the teeth recede into shadow at the sides, faint gaps between
  teeth), a smaller lower row and a tongue hint riding with the jaw. Tooth colour
  is ivory tinted toward the skin and scaled by the face's own lighting; the
  tongue is a darker lip tone. Everything has soft edges and smooth shading and
  no noise, which suits drawn portraits as well as photos.
- **Teeth another picture of the face shows** (a video's own frame with the
  mouth open, aligned to the portrait: `OpenMouth`) are cut the same way, the
  lower part placed where the portrait's closed jaw holds it. A video's speaker
  then shows their own teeth, lit as the video lights them.
- **The cavity** behind them is a dark tone of the lips, darkest deep in the
  mouth and a little lighter near the lips, as ambient light falls off inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from avatar.talk.builtin.mouth_lips import SAMPLES
from avatar.talk.builtin.mouth_rest import LOWER_CURVE, OPEN_AT_REST, UPPER_CURVE, ClosedMouth, inner_lip_gap
from avatar.talk.builtin.rig import face_right, smoothstep

OUTER_LIPS = np.arange(48, 60)
INNER_LIPS = np.arange(60, 68)
SUBPIXEL_SHIFT = 2
IVORY = np.array([236, 230, 216], np.float32)
OPEN_WIDE = 0.12
"""Inner-lip gap (in eye distances) another picture's mouth needs for its interior to be used: open enough to show
the teeth and the dark between them, as speech opens it."""
TEETH_SHOWN = 0.3
"""Share of teeth-like pixels between the lips above which the portrait's own teeth are reused."""
# Widths of the teeth from the centre outwards, as shares of the mouth width.
UPPER_TEETH_WIDTHS = (0.12, 0.095, 0.085, 0.075, 0.07)
LOWER_TEETH_WIDTHS = (0.075, 0.075, 0.075, 0.07)


@dataclass
class Layer:
    """A premultiplied RGBA picture placed at `origin` (crop pixels) in the rest pose."""

    rgba: np.ndarray  # (h, w, 4) float32: colour * alpha, alpha
    origin: np.ndarray  # (2,) top-left corner
    rides: str  # "skull" or "jaw"


@dataclass(frozen=True)
class OpenMouth:
    """Another picture of the portrait's face with the mouth open, aligned to the portrait (same size, the skull's
    landmarks in the same places): where a video's own teeth come from."""

    image: np.ndarray  # RGB, the portrait's size
    landmarks: np.ndarray  # (68, 2) in the portrait's coordinates


@dataclass
class MouthInterior:
    """What shows between the lips, and how to paint it into a frame."""

    layers: list[Layer]  # back to front
    cavity: np.ndarray  # (3,) RGB of the deep mouth
    source: str  # "portrait" (its own teeth), "open mouth" (another picture's) or "synthesized"
    eye_distance: float

    def paint(self, crop: np.ndarray, outline: np.ndarray, skull_shift: np.ndarray, jaw_shift: np.ndarray) -> None:
        """Composite the interior into `crop` (in place) inside the opening between the lips.

        `outline` is this frame's opening (`mouth_lips.opening_outline`: the upper
        inner edge, then the lower one back); the shifts are how far the skull and
        the jaw moved the interior from its rest place. The lips are drawn over the
        result, so the interior may reach a little under them.
        """
        polygon = np.asarray(outline, np.float64)
        # Lips parted by less than a pixel show nothing (anti-aliasing alone would
        # draw a faint line of teeth along the seam); fade in over the next pixels.
        upper, lower = polygon[1 : SAMPLES - 1], polygon[SAMPLES:][::-1]
        parted = float(np.max(np.linalg.norm(lower - upper, axis=1))) if len(upper) else 0.0
        fade = float(smoothstep(np.float32((parted - 0.5) / 1.5)))
        if fade <= 0.0:
            return
        pad = 2
        x0, y0 = np.floor(polygon.min(axis=0)).astype(int) - pad
        x1, y1 = np.ceil(polygon.max(axis=0)).astype(int) + pad + 1
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(crop.shape[1], x1), min(crop.shape[0], y1)
        if x1 - x0 < 3 or y1 - y0 < 2:
            return
        height, width = y1 - y0, x1 - x0
        mask = np.zeros((height, width), np.float32)
        points = np.round((polygon - [x0, y0]) * (1 << SUBPIXEL_SHIFT)).astype(np.int32)
        cv2.fillPoly(mask, [points], 1.0, lineType=cv2.LINE_AA, shift=SUBPIXEL_SHIFT)
        if mask.max() <= 0.02:
            return
        mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, 0.012 * self.eye_distance))

        # Ambient light falls off inside the mouth: `depth` is 0 at the lips, 1 deep inside.
        depth = cv2.GaussianBlur(mask, (0, 0), 0.06 * self.eye_distance)
        depth = np.clip(depth / max(float(depth.max()), 0.35), 0.0, 1.0)[..., None]
        interior = self.cavity * (1.5 - 0.8 * depth)
        for layer in self.layers:
            shift = skull_shift if layer.rides == "skull" else jaw_shift
            ox, oy = layer.origin + shift - [x0, y0]
            placed = cv2.warpAffine(
                layer.rgba, np.float32([[1, 0, ox], [0, 1, oy]]), (width, height),
                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
            )
            interior = interior * (1.0 - placed[..., 3:]) + placed[..., :3]
        if self.source == "synthesized":
            interior = interior * (0.7 + 0.3 * depth)

        alpha = mask[..., None] * fade
        region = crop[y0:y1, x0:x1].astype(np.float32)
        crop[y0:y1, x0:x1] = np.clip(region * (1.0 - alpha) + interior * alpha, 0, 255).astype(np.uint8)


def build_interior(crop: np.ndarray, landmarks: np.ndarray, closed: ClosedMouth, eye_distance: float,
                   down: np.ndarray, open_mouth: Optional[OpenMouth] = None) -> MouthInterior:
    """The interior for one portrait: its own teeth if it shows them, else those of `open_mouth` (cropped as the
    portrait is) when given and open, else synthesized ones.

    `crop` and `landmarks` are the portrait as given (before closing).
    """
    lips = _lip_colour(crop, landmarks)
    skin = _skin_colour(crop, landmarks, eye_distance)
    cavity = np.clip(lips * 0.3 + 4.0, 0, 255).astype(np.float32)
    tongue, lower, upper = _synthesized_layers(closed.landmarks, eye_distance, down, lips, skin, cavity)
    if closed.gap > OPEN_AT_REST * eye_distance and _teeth_share(crop, landmarks, skin) >= TEETH_SHOWN:
        return MouthInterior([tongue, *_portrait_layers(crop, landmarks, closed, eye_distance)], cavity, "portrait", eye_distance)
    if open_mouth is not None:
        other = np.asarray(open_mouth.landmarks, np.float64)
        gap = float(inner_lip_gap(other, np.asarray(down, np.float64))[1])
        if gap > OPEN_WIDE * eye_distance:
            # At rest its lower teeth hide behind the portrait's closed lower lip; the jaw brings them out.
            placed = ClosedMouth(open_mouth.image, other.astype(np.float32), gap,
                                 (closed.landmarks[66] - other[66]).astype(np.float32))
            return MouthInterior([tongue, *_portrait_layers(open_mouth.image, other, placed, eye_distance)], cavity,
                                 "open mouth", eye_distance)
    return MouthInterior([tongue, lower, upper], cavity, "synthesized", eye_distance)


# --- colours ---------------------------------------------------------------


def _polygon_mask(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def _lip_colour(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    lips = _polygon_mask(crop.shape[:2], landmarks[OUTER_LIPS]) & ~_polygon_mask(crop.shape[:2], landmarks[INNER_LIPS])
    if lips.sum() < 4:
        return np.array([150, 80, 80], np.float32)
    return np.median(crop[lips], axis=0).astype(np.float32)


def _skin_colour(crop: np.ndarray, landmarks: np.ndarray, eye_distance: float) -> np.ndarray:
    """Median colour of two cheek patches, halfway between the jaw line and the mouth corners."""
    radius = max(2, int(0.08 * eye_distance))
    samples = []
    for jaw, corner in ((3, 48), (13, 54)):
        x, y = np.round((landmarks[jaw] + landmarks[corner]) / 2).astype(int)
        patch = crop[max(0, y - radius) : y + radius, max(0, x - radius) : x + radius]
        samples.append(patch.reshape(-1, 3))
    pixels = np.concatenate(samples)
    return np.median(pixels, axis=0).astype(np.float32) if len(pixels) else np.array([200, 160, 140], np.float32)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _teeth_share(crop: np.ndarray, landmarks: np.ndarray, skin: np.ndarray) -> float:
    """Share of the pixels between the lips that look like teeth: bright and pale."""
    inside = _polygon_mask(crop.shape[:2], landmarks[INNER_LIPS])
    if inside.sum() < 6:
        return 0.0
    pixels = crop[inside].astype(np.float32)
    saturation = (pixels.max(axis=1) - pixels.min(axis=1)) / np.maximum(pixels.max(axis=1), 1.0)
    bright = _luminance(pixels) > 0.7 * float(_luminance(skin))
    return float(np.mean(bright & (saturation < 0.4)))


# --- the portrait's own teeth ---------------------------------------------------


def _curve_y(landmarks: np.ndarray, curve: np.ndarray, xs: np.ndarray) -> np.ndarray:
    points = landmarks[curve]
    order = np.argsort(points[:, 0])
    return np.interp(xs, points[order, 0], points[order, 1])


def _portrait_layers(crop: np.ndarray, landmarks: np.ndarray, closed: ClosedMouth, eye_distance: float) -> list[Layer]:
    """Cut the portrait's teeth into an upper (skull) and a lower (jaw) layer."""
    extend = int(np.ceil(0.15 * eye_distance)) + 2
    x0 = int(np.floor(landmarks[INNER_LIPS, 0].min()))
    x1 = int(np.ceil(landmarks[INNER_LIPS, 0].max())) + 1
    y0 = int(np.floor(landmarks[INNER_LIPS, 1].min())) - extend
    y1 = int(np.ceil(landmarks[INNER_LIPS, 1].max())) + extend + 1
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(crop.shape[1], x1), min(crop.shape[0], y1)
    xs = np.arange(x0, x1, dtype=np.float64)
    top = _curve_y(landmarks, UPPER_CURVE, xs)
    bottom = _curve_y(landmarks, LOWER_CURVE, xs)
    gap = np.maximum(bottom - top, 0.0)
    split = top + _split_share(crop, xs, top, gap) * gap

    rows = np.arange(y0, y1, dtype=np.float64)[:, None]
    # Columns where the lips part by less than about a pixel hold lip, not teeth.
    column_alpha = smoothstep((gap - 0.5) / 2.0)[None, :]
    image = crop.astype(np.float32)
    columns = np.arange(x0, x1)

    def layer(source_rows: np.ndarray, alpha: np.ndarray, rides: str, origin_shift: np.ndarray) -> Layer:
        rgb = image[np.clip(np.round(source_rows).astype(int), 0, crop.shape[0] - 1), columns[None, :]]
        alpha = (alpha * column_alpha).astype(np.float32)
        rgba = np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=-1).astype(np.float32)
        return Layer(rgba, np.array([x0, y0], np.float32) + origin_shift, rides)

    upper = layer(np.clip(rows, top + 1.0, split), smoothstep((split - rows) / 1.5 + 0.5), "skull", np.zeros(2, np.float32))
    lower = layer(np.clip(rows, split, bottom - 1.0), smoothstep((rows - split) / 1.5 + 0.5), "jaw", closed.lower_shift)
    return [lower, upper]


def _split_share(crop: np.ndarray, xs: np.ndarray, top: np.ndarray, gap: np.ndarray) -> float:
    """Where, from upper lip (0) to lower lip (1), the upper and lower teeth meet.

    The darkest band across the middle columns (the gap or shadow between the rows);
    0.6 when no band stands out.
    """
    middle = gap > 0.5 * gap.max()
    if middle.sum() < 2:
        return 0.6
    shares = np.linspace(0.0, 1.0, 21)
    luminance = _luminance(crop.astype(np.float32))
    profile = []
    for share in shares:
        rows = np.clip(np.round(top[middle] + share * gap[middle]).astype(int), 0, crop.shape[0] - 1)
        profile.append(float(np.mean(luminance[rows, xs[middle].astype(int)])))
    profile = np.convolve(np.array(profile), np.ones(3) / 3, mode="same")
    window = (shares >= 0.35) & (shares <= 0.85)
    best = int(np.flatnonzero(window)[np.argmin(profile[window])])
    return float(shares[best]) if profile[best] < 0.85 * float(np.median(profile[window])) else 0.6


# --- synthesized teeth, tongue ---------------------------------------------------


def _tooth_gaps(u: np.ndarray, half_width: float, widths: tuple[float, ...]) -> np.ndarray:
    """1 on the teeth, dimmer on the narrow gaps between them (u in pixels from the centre)."""
    edges = np.cumsum((0.0,) + widths) * 2 * half_width
    distance = np.min(np.abs(np.abs(u)[..., None] - edges[None, None, :]), axis=-1)
    return 1.0 - 0.08 * np.exp(-0.5 * (distance / max(0.5, 0.008 * half_width)) ** 2)


def _synthesized_layers(landmarks: np.ndarray, eye_distance: float, down: np.ndarray, lips: np.ndarray,
                        skin: np.ndarray, cavity: np.ndarray) -> list[Layer]:
    """Upper and lower teeth rows and a tongue, in the closed rest pose's geometry."""
    down = np.asarray(down, np.float64)
    right = face_right(down)
    s = eye_distance
    centre = landmarks[INNER_LIPS].mean(axis=0).astype(np.float64)
    half = 0.45 * float(np.linalg.norm(landmarks[54] - landmarks[48]))
    # Teeth take the face's light level and a little of its warmth, but stay paler than skin.
    # Inside the mouth they are in the lips' shade: a little darker than the skin's light.
    lighting = float(np.clip(_luminance(skin) / 170.0, 0.7, 1.05))
    tooth = (IVORY * 0.75 + skin * 0.25) * lighting * 0.95

    x0, y0 = np.floor(centre - [half * 1.1 + 2, 0.15 * s + 2]).astype(int)
    x1, y1 = np.ceil(centre + [half * 1.1 + 2, 0.35 * s + 2]).astype(int)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    u = (xs - centre[0]) * right[0] + (ys - centre[1]) * right[1]
    v = (xs - centre[0]) * down[0] + (ys - centre[1]) * down[1]
    across = np.clip(np.abs(u) / half, 0.0, 1.5)
    feather = max(0.6, 0.015 * s)

    def rgba(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32)
        return np.concatenate([colour * alpha[..., None], alpha[..., None]], axis=-1).astype(np.float32)

    # Upper teeth: from under the lip down to an incisal edge that rises toward the corners.
    edge = 0.1 * s - 0.05 * s * across**2
    upper_alpha = smoothstep((edge - v) / feather) * smoothstep((0.95 - across) / 0.12)
    upper_shade = (0.62 + 0.38 * smoothstep((v + 0.06 * s) / (0.1 * s))) * (1.0 - 0.45 * across**2)
    upper = tooth * (upper_shade * _tooth_gaps(u, half, UPPER_TEETH_WIDTHS))[..., None]

    # Lower teeth: a shorter row whose top sits just under the upper teeth at rest.
    lower_top = -0.05 * s + 0.04 * s * across**2
    lower_alpha = smoothstep((v - lower_top) / feather) * smoothstep((0.7 - across) / 0.12)
    lower_alpha = lower_alpha * smoothstep((0.12 * s - v) / feather)
    lower_shade = 0.78 * (1.0 - 0.5 * across**2)
    lower = tooth * (lower_shade * _tooth_gaps(u, half, LOWER_TEETH_WIDTHS))[..., None]

    # Tongue: a soft dome behind the lower teeth, lit from above.
    radius = np.sqrt((u / (0.6 * half)) ** 2 + ((v - 0.02 * s) / (0.12 * s)) ** 2)
    tongue_alpha = smoothstep((1.0 - radius) / 0.35)
    tongue_colour = lips * 0.55 + cavity * 0.45
    tongue = tongue_colour * (0.7 + 0.4 * smoothstep((0.1 * s - v) / (0.12 * s)))[..., None]

    origin = np.array([x0, y0], np.float32)
    return [
        Layer(rgba(tongue, tongue_alpha), origin, "jaw"),
        Layer(rgba(lower, lower_alpha), origin, "jaw"),
        Layer(rgba(upper, upper_alpha), origin, "skull"),
    ]
