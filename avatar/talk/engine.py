"""Animation engines: `engine.render(portrait, face, speech, options) -> Iterator[frame]`.

The built-in engine needs no learned weights beyond dlib's landmarks. Learned
engines (Wav2Lip in `wav2lip/`, SadTalker in `sadtalker/`) sit behind the same interface and
load their weights through the model registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Protocol

import cv2
import numpy as np

from avatar.errors import InputError
from avatar.face.face import Face
from avatar.progress import Progress
from avatar.speech.timeline import Speech
from avatar.talk import life
from avatar.talk.mouth_interior import MouthInterior, build_interior
from avatar.talk.mouth_rest import close_mouth
from avatar.talk.mouth_track import frame_count, mouth_track
from avatar.talk.rig import BASES, INNER_LIPS, FaceRig, build_rig, crop_box, face_axes
from avatar.talk.sadtalker.engine import SadTalkerEngine
from avatar.talk.wav2lip.engine import DEFAULT_PADS, Wav2LipEngine

FPS = 25
DEFAULT_MAX_SIZE = 1024


@dataclass(frozen=True)
class TalkOptions:
    """How a talking video is made; every field has a sensible default."""

    fps: int = FPS
    max_size: int = DEFAULT_MAX_SIZE  # long side of the video, in pixels
    still: bool = False  # no head motion: only mouth, jaw and eyelids move
    expression_scale: float = 1.0  # how far mouth and head move (0.3 subtle .. 1.5 lively)
    seed: int = 0
    lead: float = 0.05  # seconds the mouth moves ahead of the sound
    blinks: bool = True
    pads: tuple[int, int, int, int] = DEFAULT_PADS  # Wav2Lip: pixels added to the face box (top, bottom, left, right)
    pose_style: int = 0  # SadTalker: one of its 46 learned head-motion styles
    preprocess: str = "full"  # SadTalker: "full" pastes the face back into the portrait, "crop" keeps the face crop
    face_size: int = 256  # SadTalker: the renderer's size, 256 or 512 (a model file each)
    blink_video: Optional[str] = None  # SadTalker: blink as the face in this video does (a path)

    def validate(self) -> "TalkOptions":
        if not 64 <= self.max_size <= 4096:
            raise InputError(f"The video size must be between 64 and 4096 pixels, not {self.max_size}.")
        if not 0.0 <= self.expression_scale <= 2.0:
            raise InputError(f"The expression scale must be between 0 and 2, not {self.expression_scale}.")
        if len(self.pads) != 4 or not all(isinstance(p, int) and 0 <= p <= 200 for p in self.pads):
            raise InputError(f"The face pads must be four whole numbers of pixels from 0 to 200 (top, bottom, left, "
                             f"right), not {self.pads}.")
        if not 0 <= self.pose_style <= 45:
            raise InputError(f"The pose style must be a whole number from 0 to 45, not {self.pose_style}.")
        if self.preprocess not in ("crop", "full"):
            raise InputError(f"The preprocess mode must be crop or full, not {self.preprocess!r}.")
        if self.face_size not in (256, 512):
            raise InputError(f"The face size must be 256 or 512 pixels, not {self.face_size}.")
        return self


class Engine(Protocol):
    name: str
    title: str  # as a picker shows it
    model_id: Optional[str]  # the catalog model it needs, if any

    def check_ready(self, options: Optional[TalkOptions] = None) -> None:
        """Raise `ModelNotInstalled` (saying how to install it) or `InputError` if the engine cannot run with `options`."""

    def output_size(self, portrait: np.ndarray, face: Face, options: TalkOptions) -> tuple[int, int]:
        """(width, height) of the frames `render` yields."""

    def render(self, portrait: np.ndarray, face: Face, speech: Speech, options: TalkOptions,
               progress: Optional[Progress] = None) -> Iterator[np.ndarray]:
        """Yield RGB frames of `output_size`, `options.fps` per second of speech.

        `progress` hears the stages before the first frame (loading, analysis);
        frames themselves are counted by the caller. The yielded array may be
        reused for the next frame: copy it to keep it.
        """


@dataclass
class PortraitRig:
    """Everything the built-in engine precomputes for one portrait."""

    rig: FaceRig  # warp fields around the closed rest pose
    source: np.ndarray  # the face crop with its lips closed
    interior: MouthInterior


HEAD_BASES = [BASES.index(name) for name in ("tilt", "sway", "nod")]
UPPER_LIP, LOWER_LIP = 62, 66


class BuiltinEngine:
    """Landmark-driven warping of the face crop (see `rig.py`) around a closed rest pose,
    with the mouth interior composited where the lips part."""

    name = "builtin"
    title = "Built-in (fast, no download)"
    model_id = None

    def check_ready(self, options: Optional[TalkOptions] = None) -> None:
        """Nothing to install: dlib's landmarks ship as a package."""

    def output_size(self, portrait: np.ndarray, face: Face, options: TalkOptions) -> tuple[int, int]:
        return portrait.shape[1], portrait.shape[0]

    def prepare(self, portrait: np.ndarray, face: Face) -> PortraitRig:
        """Close the portrait's mouth, rig the closed face and cut out its mouth interior."""
        x0, y0, x1, y1 = box = crop_box(face, portrait.shape[:2])
        original = np.ascontiguousarray(portrait[y0:y1, x0:x1])
        landmarks = face.landmarks.astype(np.float64) - [x0, y0]
        eye_distance, down = face_axes(face.landmarks)
        closed = close_mouth(original, landmarks, down, eye_distance)
        closed_face = Face(face.box, closed.landmarks + np.float32([x0, y0]), face.source)
        rig = build_rig(closed_face, portrait.shape[:2], crop=box)
        interior = build_interior(original, landmarks, closed, eye_distance, down)
        return PortraitRig(rig=rig, source=np.ascontiguousarray(closed.image), interior=interior)

    def render(self, portrait: np.ndarray, face: Face, speech: Speech, options: TalkOptions,
               progress: Optional[Progress] = None) -> Iterator[np.ndarray]:
        total = frame_count(speech.duration, options.fps)
        weights = self.weights(speech, options, range(total), total)
        yield from self.render_weights(portrait, self.prepare(portrait, face), weights)

    def render_weights(self, portrait: np.ndarray, prepared: PortraitRig, weights: np.ndarray) -> Iterator[np.ndarray]:
        """Frames for rows of basis weights (see `weights`); the frame buffer is reused."""
        rig = prepared.rig
        x0, y0, x1, y1 = rig.crop
        frame = portrait.copy()
        inner_moves = rig.moves[:, INNER_LIPS]
        inner_rest = rig.landmarks[INNER_LIPS]
        skull_moves = rig.moves[HEAD_BASES, UPPER_LIP]
        jaw_moves = rig.moves[BASES.index("open"), LOWER_LIP]
        open_index = BASES.index("open")
        for row in weights:
            # Fixed-point maps make the remap about twice as fast, conversion included.
            map_xy, map_frac = cv2.convertMaps(rig.remap_grid(row), None, cv2.CV_16SC2)
            crop = cv2.remap(prepared.source, map_xy, map_frac, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            inner = inner_rest + np.tensordot(row, inner_moves, axes=1)
            skull = row[HEAD_BASES] @ skull_moves
            prepared.interior.paint(crop, inner, skull, skull + row[open_index] * jaw_moves)
            frame[y0:y1, x0:x1] = crop
            yield frame

    def weights(self, speech: Speech, options: TalkOptions, frames: range, total: int | None = None) -> np.ndarray:
        """Per-frame weights of every rig basis (mouth, blink, head) for `frames`.

        `total` is the video's frame count, or None while speech is still arriving
        (the caller then asks only for frames whose context is known, see
        `mouth_track.LOOKAHEAD` and `life.activity_margin`). Values depend only on
        the absolute frame index, so pieces join seamlessly.
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
            motion = life.head_motion(track.energy, options.fps, options.seed, options.expression_scale, first)
            weights[:, BASES.index("tilt") :] = motion[inside]
        return weights


ENGINES: dict[str, type] = {"builtin": BuiltinEngine, "wav2lip": Wav2LipEngine, "sadtalker": SadTalkerEngine}


@dataclass(frozen=True)
class EngineChoice:
    """An engine as a picker shows it: ready, or the command that installs its model."""

    name: str
    title: str
    install_command: Optional[str]  # None when the engine can run now


def engine_choices(registry=None) -> list[EngineChoice]:
    """Every engine, with what it still needs."""
    from avatar.models.catalog import get_spec
    from avatar.models.registry import get_registry

    registry = registry or get_registry()
    choices = []
    for name, engine in ENGINES.items():
        missing = engine.model_id is not None and not registry.is_installed(engine.model_id)
        command = get_spec(engine.model_id).install_command if missing else None
        choices.append(EngineChoice(name=name, title=engine.title, install_command=command))
    return choices


def get_engine(name: "str | Engine") -> Engine:
    """The engine called `name` (an engine object is used as it is); unknown names list the available ones."""
    if not isinstance(name, str):
        return name
    if name not in ENGINES:
        raise InputError(f"Unknown animation engine {name!r}; choose one of: {', '.join(ENGINES)}.")
    return ENGINES[name]()
