"""The video tools' options, declared once: name, type, default, range and help of every parameter.

The job kinds (avatar/service/video_kinds.py) check their parameters against these
dataclasses, the API documents them from here, `avatar video ...` makes its flags
from them and the Video Tools page takes its widgets' defaults and limits from them
(see avatar/options.py). What a range cannot say (a width that must be a multiple of
8, a decode chunk no longer than the clip, a target height above the video's) is
checked by each tool's own check function.

This module imports nothing heavy, so the CLI and the pages can read it at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

from avatar.options import option

MAX_SEED = 2**63 - 1
SEED_HELP = "random seed; the same seed gives the same video"

# -- text to video ----------------------------------------------------------------------------

T2V_FRAMES = (8, 64)
T2V_SIDE = (64, 1024)  # ModelScope was trained at 256x256; much larger only repeats itself
MAX_STEPS = 150
MAX_FPS = 60


@dataclass(frozen=True)
class TextToVideoOptions:
    """A short silent clip drawn from a prompt by ModelScope text-to-video."""

    prompt: str = option("", "what the clip shows, e.g. 'a red panda eating bamboo, slow camera pan'")
    negative_prompt: str = option("", "what the clip should not show, e.g. 'blurry, low quality, watermark'")
    frames: int = option(16, "how many frames to make", min=T2V_FRAMES[0], max=T2V_FRAMES[1])
    steps: int = option(25, "denoising steps (20-30 is usual)", min=1, max=MAX_STEPS)
    guidance: float = option(9.0, "how closely to follow the prompt (9 is usual)", min=0.0, max=30.0)
    seed: int = option(0, SEED_HELP, min=0, max=MAX_SEED)
    width: int = option(256, "width in pixels, a multiple of 8 (256 suits this model)", min=T2V_SIDE[0],
                        max=T2V_SIDE[1])
    height: int = option(256, "height in pixels, a multiple of 8 (256 suits this model)", min=T2V_SIDE[0],
                         max=T2V_SIDE[1])
    fps: int = option(8, "frames per second of the file", min=1, max=MAX_FPS)

    def manifest(self) -> dict[str, Any]:
        """The options a manifest records (the prompts are kept there as hashes only)."""
        return {k: v for k, v in asdict(self).items() if k not in ("prompt", "negative_prompt")}


# -- image to video ---------------------------------------------------------------------------

SVD_SIZES: dict[str, tuple[int, int]] = {"landscape": (1024, 576), "portrait": (576, 1024)}  # (width, height)
SVD_FRAMES = (14, 25)  # what img2vid (14) and img2vid-xt (25) were trained to make
FITS = ("crop", "pad")


@dataclass(frozen=True)
class ImageToVideoOptions:
    """A still set in motion by Stable Video Diffusion XT, at the size of the orientation chosen."""

    frames: int = option(14, "how many frames to make (what the model was trained for)", choices=SVD_FRAMES)
    motion_bucket: int = option(127, "how much motion (127 is usual, higher moves more)", min=0, max=255)
    noise_aug: float = option(0.02, "noise added to the still; more lets the video stray from it", min=0.0,
                              max=1.0)
    fps: int = option(7, "frames per second, of the file and for the model", min=1, max=MAX_FPS)
    seed: int = option(0, SEED_HELP, min=0, max=MAX_SEED)
    steps: int = option(25, "denoising steps (20-30 is usual)", min=1, max=MAX_STEPS)
    decode_chunk_size: int = option(8, "frames decoded at once, at most the frames (lower fits a smaller GPU)",
                                    min=1, max=max(SVD_FRAMES))
    orientation: str = option("landscape", "landscape (1024x576) or portrait (576x1024)", choices=tuple(SVD_SIZES))
    fit: str = option("crop", "crop (fill the frame) or pad (keep the whole picture, with black bars)",
                      choices=FITS)


# -- video inpainting -------------------------------------------------------------------------

PROPAGATION = "propagation"
INPAINT_MODELS = ("dreamshaper8-inpaint", "sd2-inpaint")  # avatar.edit.inpaint.DIFFUSION_MODELS (a test keeps them equal)
VIDEO_INPAINT_METHODS = ("auto", PROPAGATION, *INPAINT_MODELS)


@dataclass(frozen=True)
class InpaintVideoOptions:
    """Fill a region of a video: one of a still mask (a file), `box` or `mask_prompt` says where."""

    box: Optional[tuple[float, float, float, float]] = option(None, "the box to fill: x0, y0, x1, y1 in pixels")
    mask_prompt: Optional[str] = option(None, "what to fill, found in every frame (needs clipseg)", flag="--object")
    prompt: str = option("", "what to paint in (diffusion methods)")
    negative_prompt: str = option("", "what not to paint in (diffusion methods)")
    method: str = option("auto", "how to fill: auto takes the first installed inpainting model, else propagation "
                         "(pixels from other frames, no model)", choices=VIDEO_INPAINT_METHODS)
    seed: int = option(0, SEED_HELP, min=0, max=MAX_SEED)
    steps: int = option(25, "denoising steps (diffusion methods)", min=1, max=200)
    guidance: float = option(7.5, "how closely to follow the prompt (diffusion methods)", min=0.0, max=30.0)
    strength: float = option(1.0, "how much of the first frame's area is repainted, above 0 (diffusion methods)",
                             min=0.0, max=1.0)
    only_masked: bool = option(True, "paint a crop around the area at the model's resolution, not the whole "
                               "frame (diffusion methods)")


# -- upscaling --------------------------------------------------------------------------------

UPSCALE_MODEL = "sd-x4-upscaler"
UPSCALE_METHODS = ("auto", "lanczos", UPSCALE_MODEL)
MIN_HEIGHT, MAX_HEIGHT = 144, 2160
MAX_NOISE_LEVEL = 350  # the pipeline's default `max_noise_level`
TILE_MULTIPLE = 8  # low-res tiles: multiples of 8, which every UNet level divides


@dataclass(frozen=True)
class UpscaleOptions:
    """The same video, taller: Lanczos with sharpening, or the Stable Diffusion x4 upscaler."""

    target_height: int = option(720, "the height to reach, an even number of lines (720 or 1080 are usual)",
                                min=MIN_HEIGHT, max=MAX_HEIGHT, flag="--height")
    method: str = option("auto", "auto takes the x4 upscaler when it is installed, else lanczos (no model)",
                         choices=UPSCALE_METHODS)
    noise_level: int = option(20, "noise added before the x4 upscaler; more invents more detail", min=0,
                              max=MAX_NOISE_LEVEL)
    seed: int = option(0, SEED_HELP, min=0, max=MAX_SEED)
    steps: int = option(20, "denoising steps of the x4 upscaler", min=1, max=200)
    guidance: float = option(0.0, "how closely the x4 upscaler follows the prompt (0 ignores it)", min=0.0, max=30.0)
    tile: int = option(128, "tile size in low-res pixels, a multiple of 8 (smaller fits a smaller GPU)", min=32,
                       max=512)
    prompt: str = option("", "what the video shows, for the x4 upscaler")
