"""The built-in engine: the portrait's own face, warped by a rig around a closed rest pose."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import cv2
import numpy as np

from avatar.face.face import Face
from avatar.progress import Progress
from avatar.speech.timeline import Speech
from avatar.talk.builtin import life
from avatar.talk.builtin.glasses import RimLayer, find_rims
from avatar.talk.builtin.mouth_interior import MouthInterior, OpenMouth, build_interior
from avatar.talk.builtin.mouth_lips import LIPS, LipLayers, build_lips, opening_outline
from avatar.talk.builtin.mouth_rest import close_mouth
from avatar.talk.builtin.mouth_track import LOOKAHEAD, mouth_track
from avatar.talk.builtin.rig import BASES, BLINK, FaceRig, build_rig, crop_box, face_axes
from avatar.talk.engine import NoOptions, TalkOptions, frame_count


@dataclass
class PortraitRig:
    """Everything the built-in engine precomputes for one portrait."""

    rig: FaceRig  # warp fields around the closed rest pose
    source: np.ndarray  # the face crop with its lips closed
    interior: MouthInterior
    lips: LipLayers  # drawn over the interior
    rims: Optional[RimLayer] = None  # glasses kept in front of the lids while blinking


HEAD_BASES = [BASES.index(name) for name in ("tilt", "sway", "nod")]
UPPER_LIP, LOWER_LIP = 62, 66


class BuiltinEngine:
    """Landmark-driven warping of the face crop (see `rig.py`) around a closed rest pose,
    with the mouth interior composited where the lips part.

    It also renders incrementally (`incremental`): `prepare` once, then `weights` and
    `render_weights` for any stretch of frames whose speech is known (`frames_known`),
    so typed text is animated sentence by sentence while the voice speaks the rest.
    """

    name = "builtin"
    title = "Built-in (fast, no download)"
    model_id = None
    Options = NoOptions
    queue = "cpu"
    incremental = True

    def check_ready(self, options: Optional[TalkOptions] = None) -> None:
        """Nothing to install: dlib's landmarks ship as a package."""

    def output_size(self, portrait: np.ndarray, face: Face, options: TalkOptions) -> tuple[int, int]:
        return portrait.shape[1], portrait.shape[0]

    def prepare(self, portrait: np.ndarray, face: Face, open_mouth: Optional[OpenMouth] = None) -> PortraitRig:
        """Close the portrait's mouth, rig the closed face and cut out its mouth interior (from `open_mouth`, another
        aligned picture of the face, when the portrait shows no teeth of its own)."""
        x0, y0, x1, y1 = box = crop_box(face, portrait.shape[:2])
        original = np.ascontiguousarray(portrait[y0:y1, x0:x1])
        landmarks = face.landmarks.astype(np.float64) - [x0, y0]
        eye_distance, down = face_axes(face.landmarks)
        closed = close_mouth(original, landmarks, down, eye_distance)
        closed_face = Face(face.box, closed.landmarks + np.float32([x0, y0]), face.source)
        rig = build_rig(closed_face, portrait.shape[:2], crop=box)
        other = None if open_mouth is None else OpenMouth(
            np.ascontiguousarray(open_mouth.image[y0:y1, x0:x1]), open_mouth.landmarks.astype(np.float64) - [x0, y0])
        interior = build_interior(original, landmarks, closed, eye_distance, down, other)
        source = np.ascontiguousarray(closed.image)
        lips = build_lips(source, rig.landmarks, eye_distance)
        return PortraitRig(rig=rig, source=source, interior=interior, lips=lips, rims=find_rims(source, rig))

    def render(self, portrait: np.ndarray, face: Face, speech: Speech, options: TalkOptions,
               progress: Optional[Progress] = None) -> Iterator[np.ndarray]:
        total = frame_count(speech.duration, options.fps)
        weights = self.weights(speech, options, range(total), total)
        yield from self.render_weights(portrait, self.prepare(portrait, face), weights)

    def frames_known(self, seconds: float, fps: int) -> int:
        """How many frames are final once speech (its phoneme timeline) is known up to `seconds`."""
        return math.floor((seconds - LOOKAHEAD) * fps) - life.activity_margin(fps)

    def render_weights(self, portrait: np.ndarray, prepared: PortraitRig, weights: np.ndarray) -> Iterator[np.ndarray]:
        """Frames for rows of basis weights (see `weights`); the frame buffer is reused."""
        rig = prepared.rig
        x0, y0, x1, y1 = rig.crop
        frame = portrait.copy()
        lip_moves = rig.moves[:, LIPS]
        lips_rest = rig.landmarks[LIPS].astype(np.float64)
        skull_moves = rig.moves[HEAD_BASES, UPPER_LIP]
        jaw_moves = rig.moves[BASES.index("open"), LOWER_LIP]
        open_index = BASES.index("open")
        for row in weights:
            # Fixed-point maps make the remap about twice as fast, conversion included.
            grid = rig.remap_grid(row)
            map_xy, map_frac = cv2.convertMaps(grid, None, cv2.CV_16SC2)
            crop = cv2.remap(prepared.source, map_xy, map_frac, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            if prepared.rims is not None and row[BLINK] > 1e-4:
                prepared.rims.paint(crop, prepared.source, grid, rig.blink, float(row[BLINK]))
            lips = lips_rest + np.tensordot(row, lip_moves, axes=1)
            skull = row[HEAD_BASES] @ skull_moves
            prepared.interior.paint(crop, opening_outline(lips), skull, skull + row[open_index] * jaw_moves)
            prepared.lips.paint(crop, lips)
            frame[y0:y1, x0:x1] = crop
            yield frame

    def weights(self, speech: Speech, options: TalkOptions, frames: range, total: int | None = None, *,
                head_speech: Optional[Speech] = None,
                head_mask: Optional[Callable[[range], np.ndarray]] = None) -> np.ndarray:
        """Per-frame weights of every rig basis (mouth, blink, head) for `frames`.

        `total` is the video's frame count, or None while speech is still arriving
        (the caller then asks only for frames whose context is known, see
        `frames_known`). Values depend only on the absolute frame index, so pieces
        join seamlessly.

        A live session (`avatar.live`) changes the head's motion after frames were
        shown: `head_speech` times the head's speaking motion when it differs from the
        mouth's (Stop lets the head settle after the mouth closed), and `head_mask(frames)`
        scales the speech energy the head follows per frame (0 where frames were shown
        before the speech was known, so they never change).
        """
        margin = life.activity_margin(options.fps)
        first = max(0, frames.start - margin)
        stop = frames.stop + margin if total is None else min(total, frames.stop + margin)
        track = mouth_track(speech, fps=options.fps, lead=options.lead, expression_scale=options.expression_scale,
                            frames=range(first, stop))
        inside = slice(frames.start - first, frames.start - first + len(frames))
        weights = np.zeros((len(frames), len(BASES)), np.float32)
        weights[:, :5] = track.values[inside]
        if options.blinks:
            weights[:, BASES.index("blink")] = life.blink_track(len(frames), options.fps, options.seed, frames.start)
        if not options.still:
            window = range(first, stop)
            energy = track.energy if head_speech is None else mouth_track(
                head_speech, fps=options.fps, lead=options.lead, expression_scale=options.expression_scale,
                frames=window).energy
            if head_mask is not None:
                energy = energy * head_mask(window)
            motion = life.head_motion(energy, options.fps, options.seed, options.expression_scale, first)
            weights[:, BASES.index("tilt") :] = motion[inside]
        return weights
