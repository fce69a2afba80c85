"""The rest pose: a closed mouth, whatever the portrait shows at rest.

Many portraits are caught smiling with their teeth or mid-word. If the engine
animated from that pose, "closed" (pauses, m/b/p) would still show the teeth.
So before rigging, the portrait's own mouth opening is measured from its inner-lip
landmarks and the lips are warped until they meet: the upper lip comes down by a
share `UPPER_SHARE` of the gap and the lower lip (with the jaw under it) comes up
by the rest. The warp is a backward map with a seam: output pixels just above
the seam sample the upper lip's inner edge, those just below the lower lip's, so
whatever lay between the lips is not drawn at all (it is kept separately as the
mouth interior, see `mouth_interior.py`). Away from the seam the moves fade out
smoothly over a distance long enough that the map never folds.
Then the lips are painted where they meet (`_fill_lips`): a few pixels blending
the upper lip's colour into the lower lip's, and over any pixel inside the closed
lips far from lip colour, since teeth or the dark gap can lie a pixel or two past
the landmarks.

A portrait whose mouth is already closed is returned unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.talk.builtin.rig import face_right, smoothstep

UPPER_INNER = np.array([61, 62, 63])
LOWER_INNER = np.array([67, 66, 65])  # pairs with UPPER_INNER, one for one
UPPER_CURVE = np.array([60, 61, 62, 63, 64])
LOWER_CURVE = np.array([60, 67, 66, 65, 64])
UPPER_SHARE = 0.35
"""Share of the gap closed by the upper lip; the jaw and lower lip close the rest."""
OPEN_AT_REST = 0.02
"""Inner-lip gap (in eye distances) above which a portrait's mouth counts as open."""
OVERLAP = 0.025
"""Extra closing (eye distances) so the lips overlap a little: landmarks sit about a
pixel off the true lip edge, and what lies between must not peek through the seam."""
SEAM_SHADE = 0.3
"""How much darker the line where the closed lips meet is."""
UPPER_OUTER = np.array([48, 49, 50, 51, 52, 53, 54])
LOWER_OUTER = np.array([48, 59, 58, 57, 56, 55, 54])
SEAM_BLEND = 0.025
"""Half-height (eye distances) of the strip along the seam painted from the two lips' colours."""
NOT_LIP = (16.0, 36.0)
"""Lab distance from the lips' colour over which a pixel inside the closed lips goes from
kept to repainted (teeth, the dark gap between them)."""


@dataclass
class ClosedMouth:
    """A face crop with its lips brought together, and where everything went."""

    image: np.ndarray  # RGB crop, lips closed
    landmarks: np.ndarray  # (68, 2) crop coordinates after closing
    gap: float  # the portrait's own inner-lip gap at the mouth centre, in pixels
    lower_shift: np.ndarray  # (2,) how far the lower lip/jaw moved up at the centre, in pixels


def inner_lip_gap(landmarks: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Distance between the inner lips along the face's vertical, one per lip pair (pixels)."""
    return (landmarks[LOWER_INNER] - landmarks[UPPER_INNER]) @ down


class _Closing:
    """The closing warp in face-aligned coordinates (u along the mouth, v downwards)."""

    def __init__(self, landmarks: np.ndarray, down: np.ndarray, eye_distance: float) -> None:
        self.down = np.asarray(down, np.float64)
        self.right = face_right(self.down)
        self.overlap = OVERLAP * eye_distance + 1.0
        self.center = landmarks[np.r_[UPPER_INNER, LOWER_INNER]].mean(axis=0)
        upper = self._uv(landmarks[UPPER_CURVE])
        lower = self._uv(landmarks[LOWER_CURVE])
        self.u_upper, self.v_upper = self._sorted(upper)
        self.u_lower, self.v_lower = self._sorted(lower)
        self.u_min = max(self.u_upper[0], self.u_lower[0])
        self.u_max = min(self.u_upper[-1], self.u_lower[-1])
        largest = float(np.max(inner_lip_gap(landmarks, self.down)))
        # Long enough falloffs that the map keeps its order (slope of smoothstep <= 1.5).
        self.reach_up = max(0.35 * eye_distance, 3.0 * UPPER_SHARE * largest)
        self.reach_down = max(0.7 * eye_distance, 3.0 * (1 - UPPER_SHARE) * largest)

    def _uv(self, points: np.ndarray) -> np.ndarray:
        offset = np.asarray(points, np.float64) - self.center
        return np.stack([offset @ self.right, offset @ self.down], axis=-1)

    @staticmethod
    def _sorted(uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(uv[:, 0])
        return uv[order, 0], uv[order, 1]

    def seam_and_gap(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        v_up = np.interp(u, self.u_upper, self.v_upper)
        v_low = np.interp(u, self.u_lower, self.v_lower)
        along = np.clip((u - self.u_min) / max(self.u_max - self.u_min, 1e-6), 0.0, 1.0)
        taper = np.sqrt(4.0 * along * (1.0 - along))  # no overlap at the corners
        gap = np.maximum(v_low - v_up, 0.0) + self.overlap * taper
        gap = np.where((u > self.u_min) & (u < self.u_max), gap, 0.0)
        return v_up + UPPER_SHARE * gap, gap

    def source_v(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Backward map: where in the portrait the closed-mouth pixel (u, v) comes from."""
        seam, gap = self.seam_and_gap(u)
        above = v < seam
        falloff_up = 1.0 - smoothstep((seam - v) / self.reach_up)
        falloff_down = 1.0 - smoothstep((v - seam) / self.reach_down)
        return np.where(above, v - UPPER_SHARE * gap * falloff_up, v + (1 - UPPER_SHARE) * gap * falloff_down)

    def forward(self, points: np.ndarray) -> np.ndarray:
        """Where portrait points land after closing (fixed-point inverse of `source_v`)."""
        uv = self._uv(points)
        u, v = uv[:, 0], uv[:, 1]
        moved = v.copy()
        for _ in range(30):  # converges fast: the map's slope stays near 1 off the seam
            moved = moved + (v - self.source_v(u, moved))
        return self.to_xy(u, moved)

    def to_xy(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self.center + np.outer(u, self.right) + np.outer(v, self.down)


def close_mouth(crop: np.ndarray, landmarks: np.ndarray, down: np.ndarray, eye_distance: float) -> ClosedMouth:
    """Warp the crop's lips together; `landmarks` are in crop coordinates."""
    landmarks = np.asarray(landmarks, np.float64)
    gaps = inner_lip_gap(landmarks, np.asarray(down, np.float64))
    gap = float(max(0.0, gaps[1]))
    if float(np.max(gaps)) <= 0.5:  # already closed to the pixel
        return ClosedMouth(crop, landmarks.astype(np.float32), gap, np.zeros(2, np.float32))
    closing = _Closing(landmarks, down, eye_distance)
    height, width = crop.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    offset_x, offset_y = xs - closing.center[0], ys - closing.center[1]
    u = offset_x * closing.right[0] + offset_y * closing.right[1]
    v = offset_x * closing.down[0] + offset_y * closing.down[1]
    source_v = closing.source_v(u, v)
    map_x = (closing.center[0] + u * closing.right[0] + source_v * closing.down[0]).astype(np.float32)
    map_y = (closing.center[1] + u * closing.right[1] + source_v * closing.down[1]).astype(np.float32)
    image = cv2.remap(crop, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    closed = closing.forward(landmarks)
    image = _fill_lips(image, crop, u, v, closing, landmarks, closed, eye_distance)
    image = _shade_seam(image, u, v, closing, eye_distance)
    # The inner lips themselves end on the seam, where they meet.
    lips = np.r_[UPPER_INNER, LOWER_INNER]
    u_lips = closing._uv(landmarks[lips])[:, 0]
    closed[lips] = closing.to_xy(u_lips, closing.seam_and_gap(u_lips)[0])
    lower_shift = (closed[66] - landmarks[66]).astype(np.float32)
    return ClosedMouth(image, closed.astype(np.float32), gap, lower_shift)


def _shade_seam(image: np.ndarray, u: np.ndarray, v: np.ndarray, closing: _Closing, eye_distance: float) -> np.ndarray:
    """Darken a thin line where the lips meet, fading out toward the corners."""
    seam, gap = closing.seam_and_gap(u)
    width = 0.012 * eye_distance + 0.5
    strength = SEAM_SHADE * smoothstep(gap / (0.5 * closing.overlap + 1e-6))
    shade = 1.0 - strength * np.exp(-0.5 * ((v - seam) / width) ** 2)
    return np.clip(image * shade[..., None], 0, 255).astype(np.uint8)


def _lip_colours(crop: np.ndarray, u: np.ndarray, v: np.ndarray, closing: _Closing, landmarks: np.ndarray,
                 u_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The upper and lower lip's own colours along the mouth (RGB, one per entry of `u_out`).

    Sampled in the portrait on the outer part of each lip, away from the inner edge
    where the teeth may reach past the landmarks, as medians over a few spans along
    the mouth."""
    colours = []
    for outer, inner in ((UPPER_OUTER, UPPER_CURVE), (LOWER_OUTER, LOWER_CURVE)):
        u_o, v_o = closing._sorted(closing._uv(landmarks[outer]))
        u_i, v_i = closing._sorted(closing._uv(landmarks[inner]))
        edge_o, edge_i = np.interp(u, u_o, v_o), np.interp(u, u_i, v_i)
        depth = (v - edge_o) / np.where(np.abs(edge_i - edge_o) < 1e-6, 1e-6, edge_i - edge_o)
        body = (depth > 0.15) & (depth < 0.65) & (u > u_i[0]) & (u < u_i[-1])
        pixels, along = crop[body].astype(np.float64), u[body]
        overall = np.median(pixels, axis=0) if len(pixels) else np.full(3, 128.0)
        centres = np.linspace(u_i[0], u_i[-1], 9)[1:-1]
        step = centres[1] - centres[0]
        spans = []
        for centre in centres:
            near = np.abs(along - centre) < step
            spans.append(np.median(pixels[near], axis=0) if near.sum() >= 6 else overall)
        spans = np.array(spans)
        colours.append(np.stack([np.interp(u_out, centres, spans[:, c]) for c in range(3)], axis=-1))
    return colours[0], colours[1]


def _fill_lips(image: np.ndarray, crop: np.ndarray, u: np.ndarray, v: np.ndarray, closing: _Closing,
               landmarks: np.ndarray, closed: np.ndarray, eye_distance: float) -> np.ndarray:
    """Paint the lips' own colour where they meet, and over anything inside them that is not lip.

    The seam lands on the lips' inner edges only as well as the landmarks find them:
    a row of teeth or the dark gap between them may lie a pixel or two inside. Along
    the seam the colour goes over a few pixels from the upper lip's to the lower
    lip's; further into each lip only pixels far from the lip colour (teeth, gap) are
    repainted, so the lips keep their texture."""
    seam, gap = closing.seam_and_gap(u)
    u_up, v_up = closing._sorted(closing._uv(closed[UPPER_OUTER]))
    u_low, v_low = closing._sorted(closing._uv(closed[LOWER_OUTER]))
    top = seam - np.interp(u, u_up, v_up)  # upper lip thickness above the seam
    bottom = np.interp(u, u_low, v_low) - seam
    half = SEAM_BLEND * eye_distance + 0.5
    inside = (gap > 0) & (v > seam - 0.7 * top - 1.0) & (v < seam + 0.7 * bottom + 1.0)
    if not inside.any():
        return image
    rows, cols = np.nonzero(inside)
    uu, vv, ss = u[rows, cols], v[rows, cols], seam[rows, cols]
    upper, lower = _lip_colours(crop, u, v, closing, landmarks, uu)
    across = smoothstep((vv - ss) / (2.0 * half) + 0.5)[:, None]
    expected = upper + (lower - upper) * across

    here = image[rows, cols].astype(np.float64)
    lab = cv2.cvtColor(np.stack([here, expected]).astype(np.uint8)[:, :, None].reshape(2, -1, 3), cv2.COLOR_RGB2LAB)
    diff = lab[0].astype(np.float64) - lab[1].astype(np.float64)
    distance = np.sqrt((0.7 * diff[:, 0]) ** 2 + diff[:, 1] ** 2 + diff[:, 2] ** 2)
    not_lip = smoothstep((distance - NOT_LIP[0]) / (NOT_LIP[1] - NOT_LIP[0]))
    core = np.exp(-0.5 * ((vv - ss) / half) ** 2)
    # Fade toward the outer part of each lip and toward the corners.
    reach = np.where(vv < ss, 0.7 * top[rows, cols] + 1.0, 0.7 * bottom[rows, cols] + 1.0)
    fade = 1.0 - smoothstep((np.abs(vv - ss) - 0.6 * reach) / (0.4 * reach + 1e-6))
    corner = smoothstep(gap[rows, cols] / (0.5 * closing.overlap + 1e-6))
    alpha = np.zeros(u.shape, np.float32)
    alpha[rows, cols] = np.maximum(core, not_lip) * fade * corner
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.6)[..., None]
    paint = image.astype(np.float32)
    paint[rows, cols] = expected
    return np.clip(image * (1.0 - alpha) + paint * alpha + 0.5, 0, 255).astype(np.uint8)
