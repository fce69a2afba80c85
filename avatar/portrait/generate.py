"""Portraits generated from a prompt, checked to hold a face the engines can animate.

A text-to-image model does not always draw a face (or draws one too small, or in
profile, where the landmark detector finds nothing). An image without a usable face
is useless for a talking avatar, so each attempt is checked with the same detector
the animation uses, and the next seed is tried, up to `max_attempts` times; after
that the user is told plainly, with advice on the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from avatar.errors import NoFaceError
from avatar.face.face import Face
from avatar.portrait.options import MODEL_ID, PortraitOptions, check_portrait
from avatar.progress import Progress, report, waiting_in_line

__all__ = ["MODEL_ID", "GeneratedPortrait", "PortraitOptions", "check_portrait", "generate_portrait"]

MIN_FACE_FRACTION = 0.12
"""A face narrower than this share of the image is too small to animate well."""


@dataclass
class GeneratedPortrait:
    """A generated portrait and how it was made (for the manifest and reproducing it)."""

    image: np.ndarray  # RGB uint8, (size, size, 3)
    seed: int  # the seed of the attempt that gave a face
    attempts: int
    face: Face
    prompt: str
    negative_prompt: str
    steps: int
    guidance: float
    model_id: str = MODEL_ID


def _find_faces(image: np.ndarray) -> list[Face]:
    """The landmark detector the animation engines use (imported late: dlib is slow to load)."""
    from avatar.face.detect import find_faces

    return find_faces(image)


def _usable_face(image: np.ndarray) -> Optional[Face]:
    """The largest face if it is big enough to animate, else None."""
    faces = _find_faces(image)
    if not faces:
        return None
    face = faces[0]
    return face if face.width >= MIN_FACE_FRACTION * min(image.shape[:2]) else None


def generate_portrait(
    prompt: str,
    progress: Optional[Progress] = None,
    registry=None,
    **options: Any,
) -> GeneratedPortrait:
    """Generate a square portrait from `prompt` that holds an animatable face.

    `options` are `PortraitOptions`' other fields (negative_prompt, seed, steps,
    guidance, size, max_attempts), their declared defaults where left out. Attempt k
    uses seed `seed + k`, so a result is reproducible from its seed alone.
    Raises `InputError` for options that cannot work, `ModelNotInstalled` when the
    text-to-image model is missing and `NoFaceError` when no attempt produced a
    usable face.
    """
    import torch

    from avatar.models.registry import get_registry

    chosen = check_portrait(PortraitOptions(prompt=prompt, **options))
    negative_prompt, seed, steps, guidance = chosen.negative_prompt, chosen.seed, chosen.steps, chosen.guidance
    size, max_attempts = chosen.size, chosen.max_attempts
    registry = registry or get_registry()
    registry.require(MODEL_ID)  # fail before queueing when the model is missing
    share = 1.0 / max_attempts

    with registry.use(MODEL_ID, on_wait=waiting_in_line(progress)) as pipe:
        for attempt in range(max_attempts):
            attempt_seed = seed + attempt
            start = attempt * share

            def on_step(pipeline, step, timestep, kwargs, start=start, attempt_seed=attempt_seed):
                report(progress, f"seed {attempt_seed}: step {step + 1}/{steps}", start + share * 0.95 * (step + 1) / steps)
                return kwargs

            report(progress, f"seed {attempt_seed}: starting", start)
            # A CPU generator gives the same picture for a seed on any device.
            generator = torch.Generator(device="cpu").manual_seed(attempt_seed)
            result = pipe(
                prompt=prompt,
                negative_prompt=negative_prompt or None,
                num_inference_steps=steps,
                guidance_scale=guidance,
                height=size,
                width=size,
                generator=generator,
                output_type="np",
                callback_on_step_end=on_step,
            )
            image = (np.clip(result.images[0], 0.0, 1.0) * 255).round().astype(np.uint8)
            report(progress, f"seed {attempt_seed}: looking for a face", start + share * 0.97)
            face = _usable_face(image)
            if face is not None:
                report(progress, "done", 1.0)
                return GeneratedPortrait(
                    image=image,
                    seed=attempt_seed,
                    attempts=attempt + 1,
                    face=face,
                    prompt=prompt,
                    negative_prompt=negative_prompt,
                    steps=steps,
                    guidance=guidance,
                )
    last = seed + max_attempts - 1
    seeds = f"seed {seed}" if max_attempts == 1 else f"seeds {seed}-{last}"
    raise NoFaceError(
        f"No face the animation can use was found in {max_attempts} generated image(s) ({seeds}); "
        "describe one person's face seen from the front (e.g. 'head and shoulders portrait photo, looking at the camera') "
        f"or try another seed such as {last + 1}."
    )
