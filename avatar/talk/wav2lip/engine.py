"""Wav2Lip as an animation engine behind the same interface as the built-in one.

The network (`model.py`) redraws the lower half of a 96x96 face crop so its mouth
matches 0.2 s of mel spectrogram (`audio.py`). Around it, this module does what
the original's inference script did, with four differences:

- The head is not frozen: the built-in engine renders each frame with its seeded
  blinks and head motion (and the mouth at rest), and Wav2Lip redraws the mouth
  on that frame, its face box following the head (`--still` keeps it fixed).
- Faces come from the project's dlib detection (or a landmarks sidecar), not
  S3FD. dlib's box often stops above the chin, so the box is extended to the
  chin landmark before the original's default pads (top 0, bottom 10, left 0,
  right 0) are applied. On a portrait the box moves with the head, rigidly, so
  it is as steady as the head's own motion; on a real video (a dub) each frame's
  box is the tracked face's, averaged over the frames after it as the original
  averages its detections (`smoothed_boxes`).
- The generated crop is blended back with a feathered mask over the lower face
  only, instead of pasting the whole rectangle: no box edge shows, and the eyes
  and upper face stay exactly the portrait's pixels.
- Audio windows are cut per video frame exactly as the original cuts them, but
  batch by batch, so memory stays flat with the length of the recording.

The network was trained on BGR crops (OpenCV's order): crops go in as BGR and the
output is turned back to RGB.
"""

from __future__ import annotations

from typing import Iterator, Optional

import cv2
import numpy as np

from avatar.face.face import Face
from avatar.progress import Progress
from avatar.speech.timeline import Speech
from avatar.talk.builtin.engine import HEAD_BASES, BuiltinEngine
from avatar.talk.builtin.rig import smoothstep
from avatar.talk.engine import TalkOptions, frame_count
from avatar.talk.learned_engine import RegistryEngine
from avatar.talk.visemes import MOUTH_PARAMS
from avatar.talk.wav2lip.options import DEFAULT_PADS, Wav2LipOptions

MODEL_ID = "wav2lip-gan"
NOSE_TIP = 30
FACE_SIZE = 96
BATCH_SIZE = 16
Box = tuple[int, int, int, int]


BOX_SMOOTHING = 5
"""Frames of a video whose face boxes are averaged into each one (the original's window)."""


def face_box(face: Face, shape: tuple[int, int], pads: tuple[int, int, int, int] = DEFAULT_PADS
             ) -> tuple[int, int, int, int]:
    """The detector's box reaching down to the chin, padded and clipped to the image."""
    x0, y0, x1, y1 = face.box
    chin = float(face.landmarks[8, 1])
    return padded_box((x0, y0, x1, max(y1, int(round(chin)))), shape, pads)


def padded_box(box: Box, shape: tuple[int, int], pads: tuple[int, int, int, int] = DEFAULT_PADS) -> Box:
    """`box` (x0, y0, x1, y1) grown by `pads` (top, bottom, left, right) and clipped to the image, as the original
    pads a detection."""
    top, bottom, left, right = pads
    height, width = shape
    x0, y0, x1, y1 = box
    return max(0, x0 - left), max(0, y0 - top), min(width, x1 + right), min(height, y1 + bottom)


def smoothed_boxes(boxes: np.ndarray, window: int = BOX_SMOOTHING) -> np.ndarray:
    """A video's consecutive face boxes (n, 4), each replaced in turn by the whole-pixel part of the mean of the
    `window` boxes starting at it, as the original steadies its detections on video.

    Near the end, where fewer than `window` boxes follow, the last `window` are averaged, and those among them
    already replaced count with their new values: the original works in place, and this keeps its numbers. A run
    shorter than `window` is averaged whole.
    """
    steady = np.array(boxes, dtype=np.int64)
    count = len(steady)
    if 0 < count < window:
        steady[:] = np.mean(steady, axis=0)
        return steady
    for index in range(count):
        first = min(index, count - window)
        steady[index] = np.mean(steady[first:first + window], axis=0)  # assigned to integers: truncated
    return steady


def lower_face_mask(height: int, width: int) -> np.ndarray:
    """1 over the mouth and jaw, 0 over the upper half, feathered on every side."""
    rows = (np.arange(height, dtype=np.float32) + 0.5) / height
    cols = (np.arange(width, dtype=np.float32) + 0.5) / width
    vertical = smoothstep((rows - 0.5) / 0.14) * smoothstep((1.0 - rows) / 0.08)
    horizontal = smoothstep(cols / 0.12) * smoothstep((1.0 - cols) / 0.12)
    return (vertical[:, None] * horizontal[None, :])[..., None].astype(np.float32)


def network_input(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """(6, 96, 96) float32 in 0..1: the box's face with its lower half blanked, then whole; BGR."""
    x0, y0, x1, y1 = box
    crop = cv2.resize(image[y0:y1, x0:x1], (FACE_SIZE, FACE_SIZE))[..., ::-1]  # RGB -> BGR
    masked = crop.copy()
    masked[FACE_SIZE // 2 :] = 0
    return np.ascontiguousarray(np.concatenate([masked, crop], axis=2).transpose(2, 0, 1), dtype=np.float32) / 255.0


def moved_box(box: tuple[int, int, int, int], shift: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box moved by the head's displacement (whole pixels), kept inside the image."""
    x0, y0, x1, y1 = box
    height, width = shape
    dx = int(np.clip(round(float(shift[0])), -x0, width - x1))
    dy = int(np.clip(round(float(shift[1])), -y0, height - y1))
    return x0 + dx, y0 + dy, x1 + dx, y1 + dy


class Wav2LipEngine(RegistryEngine):
    """Wav2Lip lip sync through the model registry (`avatar models import wav2lip-gan PATH`)."""

    name = "wav2lip"
    title = "Wav2Lip"
    model_id = MODEL_ID
    Options = Wav2LipOptions
    queue = "gpu"

    def __init__(self, registry=None, batch_size: int = BATCH_SIZE) -> None:
        super().__init__(registry, batch_size)

    def check_ready(self, options: Optional[TalkOptions] = None) -> None:
        """Raise `ModelNotInstalled` (with the command that installs it), or `InputError` for a bad option, before any
        work."""
        self.registry.require(MODEL_ID)
        if options is not None:
            options.own(Wav2LipOptions)
            options.validate()

    def output_size(self, portrait: np.ndarray, face: Face, options: TalkOptions) -> tuple[int, int]:
        return portrait.shape[1], portrait.shape[0]

    def render(self, portrait: np.ndarray, face: Face, speech: Speech, options: TalkOptions,
               progress: Optional[Progress] = None) -> Iterator[np.ndarray]:
        builtin = BuiltinEngine()
        prepared = builtin.prepare(portrait, face)
        frames = frame_count(speech.duration, options.fps)
        weights = self.base_weights(builtin, speech, options)
        # The head's displacement at the nose tip moves the face box with it.
        shifts = weights[:, HEAD_BASES] @ prepared.rig.moves[HEAD_BASES, NOSE_TIP]
        box = face_box(face, portrait.shape[:2], options.own(Wav2LipOptions).pads)
        bases = builtin.render_weights(portrait, prepared, weights)
        boxed = ((frame.copy(), moved_box(box, shift, portrait.shape[:2])) for frame, shift in zip(bases, shifts))
        yield from self.lip_sync(boxed, speech, options.fps, frames)

    def lip_sync(self, frames: Iterator[tuple[np.ndarray, Optional[Box]]], speech: Speech, fps: float,
                 total: int) -> Iterator[np.ndarray]:
        """Redraw the mouth of `total` frames, each in its face box (None: the frame passes unchanged), to `speech`.

        The frames are RGB arrays the caller no longer needs: the mouths are drawn
        into them. This is the original's loop over batches of frames and their
        audio windows, for a portrait's rendered frames or a real video's.
        """
        import torch

        from avatar.talk.wav2lip.audio import iter_mel_windows, melspectrogram, to_model_rate

        mel = melspectrogram(to_model_rate(speech))
        masks: dict[tuple[int, int], np.ndarray] = {}
        with self.registry.use(MODEL_ID) as checkpoint:
            model, device, dtype = _model(checkpoint, self.registry.policy)
            for windows in iter_mel_windows(mel, total, fps, self.batch_size):
                batch = [next(frames) for _ in range(len(windows))]
                chosen = [i for i, (_, box) in enumerate(batch) if box is not None]
                if chosen:
                    faces = np.stack([network_input(batch[i][0], batch[i][1]) for i in chosen])
                    with torch.inference_mode():
                        mouths = model(torch.from_numpy(np.ascontiguousarray(windows[chosen])).to(device, dtype),
                                       torch.from_numpy(faces).to(device, dtype))
                    mouths = mouths.float().cpu().numpy().transpose(0, 2, 3, 1)[..., ::-1] * 255.0  # BGR -> RGB
                    for i, mouth in zip(chosen, mouths):
                        frame, (x0, y0, x1, y1) = batch[i]
                        size = (y1 - y0, x1 - x0)
                        if size not in masks:
                            if len(masks) >= 32:  # a video's boxes vary in size: keep a few, not one per frame
                                masks.clear()
                            masks[size] = lower_face_mask(*size)
                        mask = masks[size]
                        region = frame[y0:y1, x0:x1].astype(np.float32)
                        resized = cv2.resize(np.ascontiguousarray(mouth), (x1 - x0, y1 - y0))
                        frame[y0:y1, x0:x1] = np.clip(region + (resized - region) * mask + 0.5, 0, 255).astype(np.uint8)
                for frame, _ in batch:
                    yield frame

    @staticmethod
    def base_weights(builtin: BuiltinEngine, speech: Speech, options: TalkOptions) -> np.ndarray:
        """The built-in engine's blinks and head motion for every frame, with the mouth at rest."""
        total = frame_count(speech.duration, options.fps)
        weights = builtin.weights(speech, options, range(total), total)
        weights[:, : len(MOUTH_PARAMS)] = 0.0
        return weights


_built: dict[int, tuple[object, object]] = {}


def _model(weights, policy) -> tuple[object, str, object]:
    """The network for the registry's loaded checkpoint, built once per loaded copy."""
    from avatar.talk.wav2lip.checkpoint import build_model, state_dict_of

    key = id(weights)
    if key not in _built or _built[key][0] is not weights:
        _built.clear()  # the registry holds one copy; an evicted copy's network goes with it
        checkpoint = next(iter(weights.state_dicts.values()))
        _built[key] = (weights, build_model(state_dict_of(checkpoint), device=policy.device, dtype=policy.dtype))
    return _built[key][1], policy.device, policy.dtype
