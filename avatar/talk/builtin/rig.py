"""A face rig: dense warp fields that move mouth, jaw, eyelids and head.

Every motion the built-in engine makes is a weighted sum of a few *basis* fields
computed once per portrait: one per mouth parameter (open, wide, round, closed,
teeth), one for the blink and three for small head motions (tilt, sway, nod). A
frame then costs one weighted sum of small arrays and one `cv2.remap` of the face
crop, which is what makes the engine fast on a CPU.

Each mouth basis starts as sparse landmark moves (in units of the eye distance,
along the face's own axes so tilted faces work), is spread into a smooth dense
field by thin-plate-spline interpolation with still anchors on the upper face and
around the region, and is multiplied by a soft mask so it fades to zero away from
the mouth and jaw. The blink is drawn directly along each eye (`_blink_field`), and
head motion is a rotation and two shifts within the head. Pixels outside the head
never move.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.face.face import Face

JAW = np.arange(0, 17)
INNER_LIPS = np.arange(60, 68)
BASES = ("open", "wide", "round", "closed", "teeth", "blink", "tilt", "sway", "nod")
BLINK = BASES.index("blink")
# Coarse grid step (pixels) on which interpolation is evaluated before upsampling.
GRID_STEP = 4
SEAM_OFFSET = 0.015
"""How far inside each lip (eye distances) the inner-lip spline points sit."""
OPEN_REACH = 1.25
"""How far the jaw and lips travel per unit of "open", relative to the moves below: calibrated on real speakers
(`benchmarks.reality`), whose opening ranges are then matched on average (0.98 of theirs; 0.81 at 1.0)."""


@dataclass
class FaceRig:
    """Everything per-portrait the renderer needs, in face-crop coordinates."""

    crop: tuple[int, int, int, int]  # x0, y0, x1, y1 in the frame
    landmarks: np.ndarray  # (68, 2) in crop coordinates
    fields: np.ndarray  # (len(BASES), h/GRID_STEP, w/GRID_STEP, 2) float32 displacement per unit weight
    blink: np.ndarray  # (h, w, 2) float32: the blink's field, kept whole (its lid edge is sharp); zero in `fields`
    moves: np.ndarray  # (len(BASES), 68, 2) forward landmark moves per unit weight
    grid: np.ndarray  # (h, w, 2) float32 pixel coordinates of the crop
    eye_distance: float
    down: np.ndarray  # unit vector from the eyes to the mouth

    def remap_grid(self, weights: np.ndarray) -> np.ndarray:
        """The `cv2.remap` map for these weights: where each output pixel samples.

        The fields are smooth, so they are stored and summed on a coarse grid and
        only the sum is upsampled: 16 times less arithmetic per frame.
        """
        active = np.flatnonzero(np.abs(weights) > 1e-4)
        coarse = np.tensordot(weights[active], self.fields[active], axes=1)
        height, width = self.grid.shape[:2]
        grid = self.grid - cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
        blink = float(weights[BLINK])
        if abs(blink) > 1e-4:
            grid -= np.float32(blink) * self.blink
        return grid


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def face_right(down: np.ndarray) -> np.ndarray:
    """The unit vector across the face (image right for an upright face), perpendicular to `down`."""
    return np.array([down[1], -down[0]])


def _ellipse_mask(shape: tuple[int, int], center, axes, down, feather: float) -> np.ndarray:
    """1 inside an ellipse aligned with the face, fading to 0 over `feather` (relative)."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xs - center[0], ys - center[1]
    right = face_right(down)
    u = (dx * right[0] + dy * right[1]) / axes[0]
    v = (dx * down[0] + dy * down[1]) / axes[1]
    radius = np.sqrt(u * u + v * v)
    return smoothstep((1.0 + feather - radius) / feather).astype(np.float32)


def _ring(center, axes, down, count: int = 24) -> np.ndarray:
    right = face_right(down)
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    return np.array([center + right * axes[0] * np.cos(a) + down * axes[1] * np.sin(a) for a in angles])


def _dense(points: np.ndarray, moves: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Spread sparse moves into a smooth (h, w, 2) field by thin-plate splines."""
    h, w = shape
    gh, gw = h // GRID_STEP + 2, w // GRID_STEP + 2
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float64) * GRID_STEP
    query = np.stack([xs.ravel(), ys.ravel()], axis=1)
    from scipy.interpolate import RBFInterpolator  # imported when a portrait is rigged: it takes 0.6 s to load

    interpolator = RBFInterpolator(points, moves, kernel="thin_plate_spline", smoothing=1e-3)
    coarse = interpolator(query).reshape(gh, gw, 2).astype(np.float32)
    full = cv2.resize(coarse, (gw * GRID_STEP, gh * GRID_STEP), interpolation=cv2.INTER_LINEAR)
    return full[:h, :w]


def _crop_box(face: Face, frame_shape: tuple[int, int], down: np.ndarray) -> tuple[int, int, int, int]:
    lm = face.landmarks
    face_width = float(np.linalg.norm(lm[16] - lm[0]))
    center = lm[JAW].mean(axis=0)
    height, width = frame_shape
    top = min(lm[17:27, 1].min(), lm[:, 1].min()) - 1.0 * face_width
    bottom = lm[8, 1] + 0.6 * face_width
    x0 = max(0, int(center[0] - 0.95 * face_width)) // 2 * 2
    x1 = min(width, int(center[0] + 0.95 * face_width) + 2) // 2 * 2
    y0 = max(0, int(top)) // 2 * 2
    y1 = min(height, int(bottom) + 2) // 2 * 2
    return x0, y0, x1, y1


def _mouth_moves(lm: np.ndarray, s: float, down: np.ndarray) -> dict[str, np.ndarray]:
    """Forward landmark moves per unit of each mouth parameter (pixels)."""
    right = face_right(down)
    mouth_center = lm[INNER_LIPS].mean(axis=0)
    moves = {name: np.zeros((68, 2), np.float32) for name in ("open", "wide", "round", "closed", "teeth")}

    def side(i: int) -> float:
        return float(np.sign(np.dot(lm[i] - mouth_center, right)))

    # open: the jaw drops (most at the chin), the lower lip follows it, the upper
    # lip lifts a little and the corners drop and draw in.
    for i in JAW:
        weight = max(0.0, 1.0 - abs(i - 8) / 5.5)
        moves["open"][i] = down * 0.24 * s * weight
    for i in (56, 57, 58, 65, 66, 67):
        moves["open"][i] = down * 0.22 * s
    for i in (55, 59):
        moves["open"][i] = down * 0.15 * s
    for i in (50, 51, 52, 61, 62, 63):
        moves["open"][i] = -down * 0.035 * s
    for i in (48, 54, 60, 64):
        moves["open"][i] = down * 0.10 * s - right * side(i) * 0.03 * s
    moves["open"] *= OPEN_REACH
    # wide: corners stretch outwards, lips thin.
    for i, amount in ((48, 0.10), (60, 0.10), (54, 0.10), (64, 0.10), (49, 0.05), (59, 0.05), (53, 0.05), (55, 0.05)):
        moves["wide"][i] = right * side(i) * amount * s
    for i in (56, 57, 58):
        moves["wide"][i] = -down * 0.015 * s
    # round: corners draw in, lips push out from the mouth centre.
    for i, amount in ((48, 0.11), (60, 0.09), (54, 0.11), (64, 0.09), (49, 0.05), (59, 0.05), (53, 0.05), (55, 0.05)):
        moves["round"][i] = -right * side(i) * amount * s
    for i in (50, 51, 52):
        moves["round"][i] = -down * 0.04 * s
    for i in (56, 57, 58):
        moves["round"][i] = down * 0.05 * s
    # closed: lips press together and thin.
    for i in (61, 62, 63, 50, 51, 52):
        moves["closed"][i] = down * 0.025 * s
    for i in (65, 66, 67, 56, 57, 58):
        moves["closed"][i] = -down * 0.025 * s
    # teeth (f, v): the lower lip rises under the upper teeth, the jaw barely opens.
    for i in (55, 56, 57, 58, 59):
        moves["teeth"][i] = -down * 0.04 * s
    for i in (65, 66, 67):
        moves["teeth"][i] = down * 0.04 * s
    for i in (61, 62, 63):
        moves["teeth"][i] = -down * 0.03 * s
    return moves


LID_OVERLAP = 0.15
"""How far past the lower lid's landmarks the shut upper lid reaches, as a share of the eye's opening: the points
sit a little inside a drawn lower lash line, and a line of the eye's white showed under the shut lid."""
BLINK_SKIN = 0.6
"""Share of the skin between the upper lid and the brow that the closing lid stretches over the eye."""
EYES = (  # (upper lid, lower lid, brow) landmarks of each eye, from its outer to its inner corner or vice versa
    (np.array([36, 37, 38, 39]), np.array([36, 41, 40, 39]), np.arange(17, 22)),
    (np.array([42, 43, 44, 45]), np.array([42, 47, 46, 45]), np.arange(22, 27)),
)


def _blink_field(lm: np.ndarray, down: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The backward field (output pixel minus the field = where it samples) that closes both eyes.

    Across each eye (along `down`), the skin between a line `BLINK_SKIN` of the way
    from the upper lid to the brow and the upper lid is stretched down to the lower
    lid, over the eye. Landmark moves spread by a smooth interpolation cannot do
    this: the brow must stay while the lid just below it travels an eye's height,
    so the interpolated field folded, dragging the brow over the eye and leaving
    the eye's lower half open. Here the shift along `down` grows linearly from the
    stretched skin's top to the lower lid and is zero everywhere else; it is kept
    at full resolution (`FaceRig.blink`), so the closed lids meet on a sharp line.
    """
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    right = face_right(down)
    field = np.zeros((h, w, 2), np.float32)
    for upper_ids, lower_ids, brow_ids in EYES:
        origin = lm[upper_ids].mean(axis=0)

        def uv(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            offset = np.asarray(points, np.float64) - origin
            return offset @ right, offset @ down

        u = (xs - origin[0]) * right[0] + (ys - origin[1]) * right[1]
        v = (xs - origin[0]) * down[0] + (ys - origin[1]) * down[1]
        (u_up, v_up), (u_low, v_low), (u_brow, v_brow) = uv(lm[upper_ids]), uv(lm[lower_ids]), uv(lm[brow_ids])
        order_up, order_low, order_brow = np.argsort(u_up), np.argsort(u_low), np.argsort(u_brow)
        upper = _lid(u, u_up[order_up], v_up[order_up])
        lower = np.maximum(_lid(u, u_low[order_low], v_low[order_low]), upper)
        lower = lower + LID_OVERLAP * (lower - upper)
        brow = np.minimum(np.interp(u, u_brow[order_brow], v_brow[order_brow]), upper)
        inside = (u > u_up.min()) & (u < u_up.max())
        top = upper - BLINK_SKIN * (upper - brow)  # the skin above this stays where it is
        # Output rows from `top` to the lower lid sample the skin from `top` to the upper lid's edge.
        shift = (v - top) / np.maximum(lower - top, 1e-6) * (lower - upper)
        shift = np.where(inside & (v >= top) & (v <= lower), shift, 0.0)
        field += (shift[..., None] * down).astype(np.float32)
    return field


def _lid(u: np.ndarray, u_points: np.ndarray, v_points: np.ndarray) -> np.ndarray:
    """A lid's edge: the parabola nearest its landmarks (sorted along the eye), held at its corner value beyond
    them. A lid's margin is close to one; straight pieces between the points bent the closed lids at each point,
    which turned the drawn avatars' thick lash lines into lumps."""
    return np.polyval(np.polyfit(u_points, v_points, 2), np.clip(u, u_points[0], u_points[-1]))


def _blink_moves(lm: np.ndarray) -> np.ndarray:
    """Upper lids travel down onto the lower lids."""
    moves = np.zeros((68, 2), np.float32)
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        moves[upper] = (lm[lower] - lm[upper]) * 0.95
    return moves


def face_axes(landmarks: np.ndarray) -> tuple[float, np.ndarray]:
    """The eye distance (pixels) and the unit vector from the eyes to the mouth."""
    lm = np.asarray(landmarks, np.float64)
    left_eye, right_eye = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    down = lm[INNER_LIPS].mean(axis=0) - (left_eye + right_eye) / 2
    return float(np.linalg.norm(right_eye - left_eye)), down / np.linalg.norm(down)


def crop_box(face: Face, frame_shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """The region of the frame the engine works on: the head with room for its motion."""
    return _crop_box(face, frame_shape, face_axes(face.landmarks)[1])


def build_rig(face: Face, frame_shape: tuple[int, int], crop: tuple[int, int, int, int] | None = None) -> FaceRig:
    """Precompute the crop and all basis fields for one portrait (tens of ms).

    `crop` fixes the working region (by default it is derived from the landmarks).
    """
    lm_frame = face.landmarks.astype(np.float64)
    s, down = face_axes(lm_frame)
    x0, y0, x1, y1 = crop or _crop_box(face, frame_shape, down)
    lm = lm_frame - np.array([x0, y0])
    shape = (y1 - y0, x1 - x0)
    face_width = float(np.linalg.norm(lm[16] - lm[0]))
    chin = lm[8]

    # Mouth and jaw: region from the nose down to below the chin.
    lower_center = (lm[33] + chin) / 2
    lower_axes = (0.62 * face_width, 0.75 * float(np.linalg.norm(chin - lm[33])) + 0.1 * s)
    lower_mask = _ellipse_mask(shape, lower_center, lower_axes, down, feather=0.45)
    still_lower = np.concatenate([lm[17:48], _ring(lower_center, np.array(lower_axes) * 1.5, down)])
    mouth_moves = _mouth_moves(lm, s, down)

    blink_moves = _blink_moves(lm)

    # Head: an ellipse from the top of the hair to the chin; pivot at the neck.
    brow_y = lm[17:27].mean(axis=0)
    head_center = (brow_y - down * 0.45 * face_width + chin) / 2
    head_axes = (0.68 * face_width, float(np.linalg.norm(chin - brow_y)) / 2 + 0.3 * face_width)
    head_mask = _ellipse_mask(shape, head_center, head_axes, down, feather=0.3)
    pivot = chin + down * 0.35 * face_width

    # At the closed rest pose the inner lips touch: the upper and lower points sit
    # on one seam but move apart. Spline points must differ, so they are placed a
    # little inside each lip.
    spline_lm = lm.copy()
    spline_lm[[61, 62, 63]] -= down * SEAM_OFFSET * s
    spline_lm[[65, 66, 67]] += down * SEAM_OFFSET * s

    names = list(BASES)
    fields = np.zeros((len(names), shape[0], shape[1], 2), np.float32)
    moves = np.zeros((len(names), 68, 2), np.float32)
    for name, landmark_moves in mouth_moves.items():
        points = np.concatenate([spline_lm, still_lower[31:]])
        values = np.concatenate([landmark_moves, np.zeros((len(points) - 68, 2))])
        fields[names.index(name)] = _dense(points, values, shape) * lower_mask[..., None]
        moves[names.index(name)] = landmark_moves
    moves[names.index("blink")] = blink_moves

    # Head motion: linearised rotation about the pivot and two translations, all
    # confined to the head ellipse. Units: radians and eye distances.
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    rotation = np.stack([-(ys - pivot[1]), xs - pivot[0]], axis=-1)
    right = face_right(down).astype(np.float32)
    fields[names.index("tilt")] = rotation * head_mask[..., None]
    fields[names.index("sway")] = right * s * head_mask[..., None]
    fields[names.index("nod")] = down.astype(np.float32) * s * head_mask[..., None]
    moves[names.index("tilt")] = np.stack([-(lm[:, 1] - pivot[1]), lm[:, 0] - pivot[0]], axis=-1)
    moves[names.index("sway")] = right * s
    moves[names.index("nod")] = down * s

    grid = np.stack([xs, ys], axis=-1)
    coarse_size = (max(2, w // GRID_STEP), max(2, h // GRID_STEP))
    fields = np.stack([cv2.resize(field, coarse_size, interpolation=cv2.INTER_AREA) for field in fields])
    return FaceRig(
        crop=(x0, y0, x1, y1),
        landmarks=lm.astype(np.float32),
        fields=fields,
        blink=_blink_field(lm, down, shape),
        moves=moves,
        grid=grid,
        eye_distance=s,
        down=down.astype(np.float32),
    )
