"""Stable Diffusion inpainting through the model registry.

The pipeline paints at its working resolution (about 512 px on the long side); the
result is scaled back and blended into the original with a blurred copy of the
mask, so pixels away from the mask are exactly the input's. In "only masked" mode
the pipeline sees a padded crop around the mask instead of the whole picture.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from PIL import Image

from avatar.edit.options import InpaintOptions
from avatar.edit.masks import Box, mask_bbox, mask_blur
from avatar.progress import Progress, report, waiting_in_line

# Stable Diffusion's VAE works in 8x8 blocks: both sides must be multiples of this.
SIDE_MULTIPLE = 8


def working_size(width: int, height: int, resolution: int) -> tuple[int, int]:
    """The size the pipeline paints at: long side `resolution`, aspect kept, multiples of 8."""
    scale = resolution / max(width, height)
    w = max(SIDE_MULTIPLE, int(round(width * scale / SIDE_MULTIPLE)) * SIDE_MULTIPLE)
    h = max(SIDE_MULTIPLE, int(round(height * scale / SIDE_MULTIPLE)) * SIDE_MULTIPLE)
    return w, h


def masked_region(mask: np.ndarray, padding: int) -> Box:
    """The crop "only masked" paints: the mask's box grown by `padding`, inside the image."""
    height, width = mask.shape
    x0, y0, x1, y1 = mask_bbox(mask)
    return max(0, x0 - padding), max(0, y0 - padding), min(width, x1 + padding), min(height, y1 + padding)


def _step_callback(progress: Optional[Progress]):
    """A diffusers `callback_on_step_end` that reports "step i/n" to our progress callback."""

    def on_step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
        total = int(getattr(pipe, "num_timesteps", 0) or step + 1)
        report(progress, f"step {step + 1}/{total}", 0.05 + 0.9 * (step + 1) / total)
        return callback_kwargs

    return on_step_end


def inpaint_diffusion(
    image: np.ndarray,
    mask: np.ndarray,
    model_id: str,
    options: InpaintOptions,
    progress: Optional[Progress] = None,
) -> np.ndarray:
    """Inpaint with the registry's pipeline `model_id`; raises ModelNotInstalled if it is missing."""
    import torch

    from avatar.models.registry import get_registry

    height, width = image.shape[:2]
    x0, y0, x1, y1 = masked_region(mask, options.masked_padding) if options.only_masked else (0, 0, width, height)
    crop = np.ascontiguousarray(image[y0:y1, x0:x1, :3])
    crop_mask = mask[y0:y1, x0:x1]
    size = working_size(x1 - x0, y1 - y0, options.resolution)
    model_image = Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS)
    # The model sees a slightly softened mask, as A1111 and IOPaint give it.
    model_mask = Image.fromarray((mask_blur(crop_mask, options.mask_blur) * 255).astype(np.uint8)).resize(
        size, Image.Resampling.BILINEAR
    )

    report(progress, "loading model", 0.0)
    with get_registry().use(model_id, on_wait=waiting_in_line(progress)) as pipe:
        report(progress, "painting", 0.05)
        output = pipe(
            prompt=options.prompt,
            negative_prompt=options.negative_prompt or None,
            image=model_image,
            mask_image=model_mask,
            height=size[1],
            width=size[0],
            num_inference_steps=options.steps,
            guidance_scale=options.guidance,
            strength=options.strength,
            generator=torch.Generator("cpu").manual_seed(int(options.seed)),
            callback_on_step_end=_step_callback(progress),
        )
    painted = output.images[0].convert("RGB").resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS)

    report(progress, "blending", 0.97)
    # Blend back only inside the (blurred) mask: the model's VAE round trip shifts
    # colours slightly everywhere, and the rest of the photo must stay untouched.
    alpha = mask_blur(crop_mask, options.mask_blur)[..., None]
    alpha = np.maximum(alpha, crop_mask[..., None].astype(np.float32))
    blended = crop.astype(np.float32) * (1.0 - alpha) + np.asarray(painted, dtype=np.float32) * alpha
    result = image[..., :3].copy()
    result[y0:y1, x0:x1] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    return result
