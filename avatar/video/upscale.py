"""SD-to-HD video upscaling: classical Lanczos + unsharp, or the Stable Diffusion x4 upscaler.

`upscale_video` reads a video through `io.open_video` (checked before any work),
upscales it frame by frame to `target_height` (aspect ratio kept, even sides) and
streams the frames to the MP4 encoder with the input's sound, so memory does not
grow with the length of the video.

Two methods, recorded in the manifest under names that cannot be mixed up:

- "lanczos+unsharp": `cv2.INTER_LANCZOS4`, then a mild unsharp mask (Gaussian
  sigma `UNSHARP_SIGMA` = 1.0 output px, so a radius of about 3 px, amount
  `UNSHARP_AMOUNT` = 0.5: out = up + 0.5 * (up - blur(up))). Lanczos alone leaves
  edges a little soft after a 2-3x enlargement; more amount makes halos.
  Fast, deterministic, runs on any CPU.
- "sd-x4-upscaler": the registry's StableDiffusionUpscalePipeline. Each frame is
  first resized so that four times it reaches the target (shrunk when x4 would
  overshoot; when x4 falls short, the x4 result is enlarged with Lanczos after),
  then processed in overlapping tiles of `tile` low-res px blended with feathered
  weights, so a 1080p frame fits a consumer GPU. Noise is tied to the place in the
  picture, never to the frame: the starting latents are one full-frame noise field
  drawn from `seed` (each tile takes its crop, so overlapping tiles agree), and
  the noise added to each tile's low-res input comes from a generator seeded with
  `seed + tile index`. Every frame thus starts from the same noise, and areas that
  do not move do not shimmer.

`method="auto"` takes the diffusion upscaler when it is installed, else the
classical one; asking for "sd-x4-upscaler" when it is missing raises the
registry's `ModelNotInstalled`, whose message holds the install command.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Optional

import cv2
import numpy as np

from avatar.models.catalog import get_spec
from avatar.errors import InputError
from avatar.progress import Progress, report, waiting_in_line
from avatar.video.io import Video, VideoLimits, VideoSource, open_video
from avatar.options import check
from avatar.video.job import VideoResult, video_job
from avatar.video.options import (MAX_HEIGHT, MIN_HEIGHT, TILE_MULTIPLE, UPSCALE_METHODS, UPSCALE_MODEL,
                                  UpscaleOptions)
from avatar.video_writer import BackgroundWriter, Mp4Writer

MODEL_ID = UPSCALE_MODEL
CLASSICAL = "lanczos+unsharp"
METHODS = UPSCALE_METHODS
UNSHARP_SIGMA = 1.0  # output px; the blur reaches about 3 sigma
UNSHARP_AMOUNT = 0.5
MAX_WIDTH = 7680  # a very wide input at 2160 lines would make frames no player shows
SD_SCALE = 4  # the x4 upscaler's VAE turns one low-res pixel into 4x4
SD_MULTIPLE = TILE_MULTIPLE  # low-res sides and tiles: multiples of 8, which every UNet level divides


def output_size(width: int, height: int, target_height: int) -> tuple[int, int]:
    """(width, height) at `target_height`, aspect ratio kept, width rounded to an even number."""
    return max(2, int(round(width * target_height / height / 2)) * 2), target_height


def check_options(options: UpscaleOptions, width: int, height: int) -> tuple[int, int]:
    """The output size, or an InputError naming the option to change (ranges as declared, then what they cannot
    say: a target above the video's height, an even one, a width players show, whole tiles)."""
    target = options.target_height
    if target <= height:
        raise InputError(f"The video is already {height} lines high; choose a target height above {height} "
                         "(upscaling only enlarges).")
    check(options)
    if target % 2:
        raise InputError(f"The target height {target} must be an even number of lines from {MIN_HEIGHT} to "
                         f"{MAX_HEIGHT} (720 or 1080 are usual).")
    size = output_size(width, height, target)
    if size[0] > MAX_WIDTH:
        raise InputError(f"At {target} lines this video would be {size[0]} px wide, more than {MAX_WIDTH}; "
                         "choose a lower target height.")
    if options.tile % SD_MULTIPLE:
        raise InputError(f"The tile size must be a multiple of {SD_MULTIPLE} from 32 to 512 px, not {options.tile}.")
    return size


def upscale_lanczos(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Lanczos-4 enlargement to `size` (width, height), then the mild unsharp mask above."""
    up = cv2.resize(frame, size, interpolation=cv2.INTER_LANCZOS4)
    blurred = cv2.GaussianBlur(up, (0, 0), UNSHARP_SIGMA)
    # uint8 arithmetic saturates, so the overshoot is clipped at black and white.
    return cv2.addWeighted(up, 1.0 + UNSHARP_AMOUNT, blurred, -UNSHARP_AMOUNT, 0.0)


# -- diffusion ----------------------------------------------------------------------


def low_res_size(width: int, height: int, size: tuple[int, int]) -> tuple[int, int]:
    """The size (multiples of 8) a frame is given to the x4 upscaler to reach `size`.

    A quarter of the target when the input is at least that large (the input is
    shrunk first), else the input's own size (the x4 result is enlarged after).
    """
    base_w, base_h = (size[0] / SD_SCALE, size[1] / SD_SCALE) if height * SD_SCALE >= size[1] else (width, height)
    return (max(1, math.ceil(base_w / SD_MULTIPLE)) * SD_MULTIPLE,
            max(1, math.ceil(base_h / SD_MULTIPLE)) * SD_MULTIPLE)


def tile_starts(length: int, tile: int) -> list[int]:
    """Starts of tiles of `tile` px covering `length`, overlapping by at least a quarter tile."""
    if length <= tile:
        return [0]
    overlap = max(SD_MULTIPLE, tile // 4 // SD_MULTIPLE * SD_MULTIPLE)
    starts = list(range(0, length - tile, tile - overlap))
    return starts + [length - tile]


def _ramp(length: int, feather: int, soft_start: bool, soft_end: bool) -> np.ndarray:
    """1 inside, rising over `feather` px at a side shared with another tile; never 0."""
    distance = np.arange(length, dtype=np.float32) + 0.5
    weight = np.ones(length, np.float32)
    if soft_start:
        weight = np.minimum(weight, distance / feather)
    if soft_end:
        weight = np.minimum(weight, distance[::-1] / feather)
    return weight


@dataclass(frozen=True)
class Tile:
    """One low-res tile and its blending weights at the output scale."""

    index: int
    x: int
    y: int
    width: int
    height: int
    weight: np.ndarray  # (height * 4, width * 4, 1) float32


def plan_tiles(width: int, height: int, tile: int) -> list[Tile]:
    """Overlapping tiles over a low-res frame, with feathered weights that sum to more than 0 everywhere."""
    feather = max(SD_MULTIPLE, tile // 4 // SD_MULTIPLE * SD_MULTIPLE) * SD_SCALE
    xs, ys = tile_starts(width, tile), tile_starts(height, tile)
    tw, th = min(tile, width), min(tile, height)
    tiles = []
    for y in ys:
        for x in xs:
            wx = _ramp(tw * SD_SCALE, feather, x > 0, x + tw < width)
            wy = _ramp(th * SD_SCALE, feather, y > 0, y + th < height)
            tiles.append(Tile(len(tiles), x, y, tw, th, (wy[:, None] * wx[None, :])[..., None]))
    return tiles


class DiffusionUpscaler:
    """Runs the x4 pipeline over one frame's tiles, with noise that is the same for every frame."""

    def __init__(self, pipe: Any, options: UpscaleOptions, low_size: tuple[int, int]) -> None:
        import torch

        self.pipe, self.options, self.low_size = pipe, options, low_size
        self.tiles = plan_tiles(low_size[0], low_size[1], options.tile)
        self.device, self.dtype = pipe.device, pipe.unet.dtype
        # The prompt is the same for every tile: encode it once.
        self.prompt_embeds, self.negative_embeds = pipe.encode_prompt(
            options.prompt, self.device, 1, options.guidance > 1.0, None)
        generator = torch.Generator("cpu").manual_seed(int(options.seed))
        channels = pipe.vae.config.latent_channels
        self.noise = torch.randn((1, channels, low_size[1], low_size[0]), generator=generator, dtype=torch.float32)

    def __call__(self, frame: np.ndarray, on_step: Callable[[int, int], None]) -> np.ndarray:
        """The frame (already at `low_size`) upscaled x4; `on_step(tile index, step)` after each step."""
        import torch

        height, width = frame.shape[:2]
        canvas = np.zeros((height * SD_SCALE, width * SD_SCALE, 3), np.float32)
        weights = np.zeros((height * SD_SCALE, width * SD_SCALE, 1), np.float32)
        low = frame.astype(np.float32) / 255.0
        for tile in self.tiles:
            crop = low[tile.y:tile.y + tile.height, tile.x:tile.x + tile.width][None]
            latents = self.noise[:, :, tile.y:tile.y + tile.height, tile.x:tile.x + tile.width]
            output = self.pipe(
                image=crop,
                prompt_embeds=self.prompt_embeds,
                negative_prompt_embeds=self.negative_embeds,
                num_inference_steps=self.options.steps,
                guidance_scale=self.options.guidance,
                noise_level=self.options.noise_level,
                generator=torch.Generator("cpu").manual_seed(int(self.options.seed) + tile.index),
                latents=latents.to(self.device, self.dtype),
                output_type="np",
                callback=lambda step, timestep, latents, index=tile.index: on_step(index, step + 1),
                callback_steps=1,
            )
            y0, x0 = tile.y * SD_SCALE, tile.x * SD_SCALE
            region = (slice(y0, y0 + tile.height * SD_SCALE), slice(x0, x0 + tile.width * SD_SCALE))
            canvas[region] += np.asarray(output.images[0], np.float32) * tile.weight
            weights[region] += tile.weight
        return np.clip(np.round(canvas / weights * 255.0), 0, 255).astype(np.uint8)


def _resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area averaging to shrink (no aliasing), Lanczos to enlarge, nothing when the size is right."""
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    shrinking = size[0] * size[1] < frame.shape[0] * frame.shape[1]
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4)


# -- the task ------------------------------------------------------------------------


def resolve_method(method: str, registry: Any) -> str:
    """What `method` means with the models installed now: "lanczos" or "sd-x4-upscaler"."""
    if method == "auto":
        return MODEL_ID if registry.is_installed(MODEL_ID) else "lanczos"
    return method


def upscale_video(source: VideoSource, *, limits: VideoLimits = VideoLimits(), session: Optional[str] = None,
                  job_dir=None, progress: Optional[Progress] = None, registry: Any = None,
                  **options: Any) -> VideoResult:
    """Upscale a video to `target_height` lines, keeping its frames, frame rate and sound.

    `options` are the fields of `UpscaleOptions` (target_height, method, noise_level,
    seed, steps, guidance, tile, prompt). Raises InputError for a video or option the
    tool cannot use (before any work), ModelNotInstalled when
    `method="sd-x4-upscaler"` and the model is missing.
    """
    if registry is None:
        from avatar.models.registry import get_registry

        registry = get_registry()
    options = UpscaleOptions(**options)
    method = options.method
    with open_video(source, limits) as video:
        info = video.info
        size = check_options(options, info.width, info.height)
        chosen = resolve_method(method, registry)
        if chosen == MODEL_ID:
            registry.require(MODEL_ID)  # ModelNotInstalled now, not after the job folder exists
        report(progress, "reading the video", 0.0)
        # Mp4Writer keeps exact rates such as 30000/1001 when given a fraction.
        rate = Fraction(info.fps).limit_denominator(1001)
        with video_job("upscale", session, job_dir) as job:
            writer = BackgroundWriter(Mp4Writer(job.video_path, size[0], size[1], fps=rate, speech=video.audio()))
            with writer:
                if chosen == MODEL_ID:
                    spec = get_spec(MODEL_ID)
                    model = {"id": spec.id, "revision": spec.revision}
                    _run_diffusion(video, writer, size, options, registry, job, progress)
                    name = MODEL_ID
                else:
                    model, name = None, CLASSICAL
                    _run_classical(video, writer, size, job, progress)
            report(progress, "done", 1.0)
            return job.finish(frames=info.frames, fps=float(rate), width=size[0], height=size[1], method=name,
                              options=options, inputs={"video": {"name": info.name, "sha256": info.sha256}},
                              model=model)


def _run_classical(video: Video, writer: BackgroundWriter, size: tuple[int, int], job, progress) -> None:
    total = video.info.frames
    with job.timer.stage("upscale"):
        for index, frame in enumerate(video.frames(), 1):
            writer.write(upscale_lanczos(frame, size))
            report(progress, f"frame {index}/{total}", 0.99 * index / total)


def _run_diffusion(video: Video, writer: BackgroundWriter, size: tuple[int, int], options: UpscaleOptions,
                   registry: Any, job, progress) -> None:
    info = video.info
    total, steps = info.frames, options.steps
    low_size = low_res_size(info.width, info.height, size)
    report(progress, "loading the upscaler", 0.0)
    with ExitStack() as stack:
        with job.timer.stage("model"):
            pipe = stack.enter_context(registry.use(MODEL_ID, on_wait=waiting_in_line(progress)))
        upscaler = DiffusionUpscaler(pipe, options, low_size)
        count = len(upscaler.tiles)
        with job.timer.stage("upscale"):
            for index, frame in enumerate(video.frames(), 1):
                def on_step(tile: int, step: int, index: int = index) -> None:
                    done = (index - 1) + (tile + step / steps) / count
                    report(progress, f"frame {index}/{total}: step {step}/{steps}", 0.99 * done / total)

                high = upscaler(_resize(frame, low_size), on_step)
                writer.write(_resize(high, size))
