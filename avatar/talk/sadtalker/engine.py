"""SadTalker as an animation engine behind the same interface as the built-in one and Wav2Lip.

One job, in the order the original's inference script runs it:
1. crop the face as the original does, from the project's dlib landmarks (`crop`);
2. the portrait's own 3DMM coefficients from the reconstruction network (`face3d`);
3. per-frame expression and head-pose coefficients from the audio (`coefficients`),
   with seeded pose noise and blinks, so a seed gives the same video;
4. the face renderer draws each frame from the cropped portrait and a 27-frame
   window of coefficients, a batch of frames per forward pass (`renderer`);
5. "crop" yields the rendered face (at the crop's aspect, as the original's video);
   "full" pastes it back into the whole portrait with a seamless (Poisson) blend,
   inside the crop box only, so the rest of the portrait is untouched.

The coefficients are small (70 numbers a frame) and computed for the whole
recording first; frames are rendered and handed on batch by batch, so memory
stays flat however long the recording is. SadTalker was trained at 25 frames a
second and its audio windows assume it, so other frame rates are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import cv2
import numpy as np

from avatar.errors import InputError
from avatar.face.face import Face
from avatar.progress import Progress, report, scaled
from avatar.speech.timeline import Speech
from avatar.talk.engine import TalkOptions
from avatar.talk.learned_engine import RegistryEngine
from avatar.talk.sadtalker.files import MODEL_ID, part_name, require_files
from avatar.talk.sadtalker.options import SadTalkerOptions

FPS = 25
BATCH_SIZE = 4
"""Frames per renderer forward pass: on 2 CPU cores larger batches are no faster, and memory grows with it."""
CLONE_MARGIN = 2
"""Pixels at the crop box's edge left to the portrait: Poisson blending needs a border to blend towards."""


def check_options(options: TalkOptions) -> SadTalkerOptions:
    """SadTalker's own options; InputError for options it cannot honour, before any work."""
    own = options.own(SadTalkerOptions)
    options.validate()  # pose style, preprocess mode and face size among the rest
    if options.fps != FPS:
        raise InputError(f"SadTalker renders {FPS} frames per second only, not {options.fps}; set fps={FPS}.")
    if own.blink_video is not None and not Path(own.blink_video).is_file():
        raise InputError(f"The blink video {own.blink_video} does not exist; give the path of a video file.")
    return own


def crop_output_size(box: tuple[int, int, int, int], size: int) -> tuple[int, int]:
    """(width, height) of a "crop" video: `size` wide, the crop box's aspect, even for the encoder."""
    x0, y0, x1, y1 = box
    height = int(round(size * (y1 - y0) / max(1, x1 - x0) / 2)) * 2
    return size, max(2, height)


def paste_back(portrait: np.ndarray, face: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The portrait with the rendered face blended into the crop box; pixels outside the box are the portrait's."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    patch = cv2.resize(face, (width, height), interpolation=cv2.INTER_LINEAR if width > face.shape[1] else cv2.INTER_AREA)
    mask = np.zeros((height, width), np.uint8)
    mask[CLONE_MARGIN:height - CLONE_MARGIN, CLONE_MARGIN:width - CLONE_MARGIN] = 255
    # seamlessClone centres the mask's bounding box at `center`; an even-sized box centres at its half.
    center = (x0 + width // 2, y0 + height // 2)
    return cv2.seamlessClone(patch, portrait, mask, center, cv2.NORMAL_CLONE)


class SadTalkerEngine(RegistryEngine):
    """SadTalker talking heads through the model registry (`avatar models pull sadtalker`)."""

    name = "sadtalker"
    title = "SadTalker"
    model_id = MODEL_ID
    Options = SadTalkerOptions
    queue = "gpu"

    def __init__(self, registry=None, batch_size: int = BATCH_SIZE) -> None:
        super().__init__(registry, batch_size)

    def check_ready(self, options: Optional[TalkOptions] = None) -> None:
        """Raise before any work: the model is not installed, a file the options need is missing, or an option is out of range."""
        folder = self.registry.require(MODEL_ID)
        if options is not None:
            own = check_options(options)
            require_files(folder, part_name(own.face_size, own.preprocess))

    def output_size(self, portrait: np.ndarray, face: Face, options: TalkOptions) -> tuple[int, int]:
        """(width, height) of the frames `render` yields."""
        own = options.own(SadTalkerOptions)
        if own.preprocess == "full":
            return portrait.shape[1], portrait.shape[0]
        from avatar.talk.sadtalker.crop import crop_face

        return crop_output_size(crop_face(portrait, face.landmarks, own.face_size).box, own.face_size)

    def render(self, portrait: np.ndarray, face: Face, speech: Speech, options: TalkOptions,
               progress: Optional[Progress] = None) -> Iterator[np.ndarray]:
        from avatar.talk.sadtalker.audio import frame_count
        from avatar.talk.sadtalker.blink_video import video_expressions
        from avatar.talk.sadtalker.coefficients import motion_coefficients
        from avatar.talk.sadtalker.crop import crop_face
        from avatar.talk.sadtalker.face3d import source_coefficients
        from avatar.talk.sadtalker.renderer import driving_coefficients, target_windows
        from avatar.talk.wav2lip.audio import to_model_rate

        own = check_options(options)
        crop = crop_face(portrait, face.landmarks, own.face_size)
        part = part_name(own.face_size, own.preprocess)
        report(progress, "SadTalker: loading its networks", 0.0)
        # Each network call runs under inference mode itself: a mode held across `yield` would leak to the caller.
        with self.registry.use(MODEL_ID, part=part) as networks:
            report(progress, "SadTalker: the portrait's 3D face coefficients", 0.3)
            source = source_coefficients(networks.face_recon, crop)
            samples = to_model_rate(speech)
            blink_reference = None
            if own.blink_video:
                blink_reference = video_expressions(networks.face_recon, own.blink_video,
                                                    max_frames=frame_count(len(samples)),
                                                    progress=scaled(progress, 0.3, 0.5))
            report(progress, "SadTalker: expression and head pose from the audio", 0.5)
            motion = motion_coefficients(networks.audio2exp, networks.audio2pose, samples, source,
                                         own.pose_style, options.seed, blinks=options.blinks,
                                         blink_reference=blink_reference)
            driving = driving_coefficients(motion.coeffs, source, options.expression_scale, options.still,
                                           own.preprocess)
            prepared = networks.renderer.prepare(crop.image, source)
            report(progress, "SadTalker: rendering", 1.0)
            size = None if own.preprocess == "full" else crop_output_size(crop.box, own.face_size)
            for start in range(0, motion.frames, self.batch_size):
                frames = range(start, min(start + self.batch_size, motion.frames))
                faces = networks.renderer.render(prepared, target_windows(driving, frames))
                for rendered in faces:
                    if size is None:
                        yield paste_back(portrait, rendered, crop.box)
                    else:
                        yield cv2.resize(rendered, size, interpolation=cv2.INTER_AREA if size[0] < rendered.shape[1]
                                         else cv2.INTER_LINEAR)
