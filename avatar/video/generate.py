"""Video from a prompt (ModelScope text-to-video) or from a still image (Stable Video Diffusion).

Both tools follow the pattern of portrait generation (`avatar/generate.py`): every
option is checked before anything is loaded or written, the model comes from the
registry (a missing one raises `ModelNotInstalled` with its install command before
a job folder exists), the job waits for its turn in the registry's queue while
reporting its place in line, and each denoising step is reported. Noise comes from
a CPU `torch.Generator`, so a seed gives the same video on any device.

The pipelines return every frame at once as floats in [0, 1], shaped
(batch, frames, height, width, 3) in diffusers 0.42 for `output_type="np"`; the
frames are turned into uint8 RGB and streamed to the MP4 encoder (no audio) on its
own thread. The job folder holds `video.mp4` and `manifest.json`, or nothing.

Image-to-video works at the sizes SVD was trained for, 1024x576 or 576x1024: the
still is scaled and centre-cropped to fill that frame (`fit="crop"`), or scaled to
fit inside it with black bars (`fit="pad"`), because the model's results fall apart
at other sizes and a silent stretch would distort faces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

import cv2
import numpy as np

from avatar.models.catalog import get_spec
from avatar.errors import InputError
from avatar.jobs import sha256_of
from avatar.media import ImageSource, load_image
from avatar.progress import Progress, report, waiting_in_line
from avatar.video.job import VideoResult, video_job
from avatar.video_writer import BackgroundWriter, Mp4Writer

TEXT_TO_VIDEO_MODEL = "text2video-ms"
IMAGE_TO_VIDEO_MODEL = "svd-xt"

T2V_FRAMES = (8, 64)
T2V_SIDE = (64, 1024)  # ModelScope was trained at 256x256; much larger only repeats itself
SVD_SIZES: dict[str, tuple[int, int]] = {"landscape": (1024, 576), "portrait": (576, 1024)}  # (width, height)
SVD_FRAMES = (14, 25)  # what img2vid (14) and img2vid-xt (25) were trained to make
FITS = ("crop", "pad")
MAX_STEPS = 150
MAX_FPS = 60
MAX_SEED = 2**63 - 1

# Share of the progress bar the denoising steps take; decoding and encoding follow.
STEPS_SHARE = 0.9


@dataclass(frozen=True)
class TextToVideoOptions:
    """Everything but the prompts (kept as hashes in the manifest's inputs)."""

    frames: int = 16
    steps: int = 25
    guidance: float = 9.0
    seed: int = 0
    width: int = 256
    height: int = 256
    fps: int = 8


@dataclass(frozen=True)
class ImageToVideoOptions:
    """What the user asked for; `width`/`height` follow from `orientation`."""

    frames: int = 14
    motion_bucket: int = 127
    noise_aug: float = 0.02
    fps: int = 7
    seed: int = 0
    steps: int = 25
    decode_chunk_size: int = 8
    orientation: str = "landscape"
    fit: str = "crop"
    width: int = 1024
    height: int = 576


# -- checks ---------------------------------------------------------------------------


def _check_common(steps: int, seed: int, fps: int) -> None:
    if not 1 <= steps <= MAX_STEPS:
        raise InputError(f"{steps} steps is out of range; use 1 to {MAX_STEPS} (20-30 is usual).")
    if not 0 <= seed <= MAX_SEED:
        raise InputError(f"Seed {seed} is out of range; use a whole number from 0 up.")
    if not 1 <= fps <= MAX_FPS:
        raise InputError(f"{fps} frames per second is out of range; use 1 to {MAX_FPS}.")


def check_text_to_video(prompt: str, options: TextToVideoOptions) -> None:
    """Raise InputError, naming the option to change, for anything the model cannot do."""
    if not prompt or not prompt.strip():
        raise InputError("The prompt is empty; describe the scene, e.g. 'a red panda eating bamboo, slow camera pan'.")
    low, high = T2V_FRAMES
    if not low <= options.frames <= high:
        raise InputError(f"{options.frames} frames is out of range; use {low} to {high} (16 is usual).")
    for name, side in (("width", options.width), ("height", options.height)):
        if not T2V_SIDE[0] <= side <= T2V_SIDE[1] or side % 8:
            raise InputError(f"A {name} of {side} px cannot be generated; use a multiple of 8 from {T2V_SIDE[0]} "
                             f"to {T2V_SIDE[1]} (256 suits this model).")
    if not 0.0 <= options.guidance <= 30.0:
        raise InputError(f"Guidance {options.guidance} is out of range; use 0 to 30 (9 is usual).")
    _check_common(options.steps, options.seed, options.fps)


def check_image_to_video(options: ImageToVideoOptions) -> None:
    """Raise InputError, naming the option to change, for anything SVD cannot do."""
    if options.orientation not in SVD_SIZES:
        raise InputError(f"Unknown orientation {options.orientation!r}; use one of: {', '.join(SVD_SIZES)}.")
    if options.fit not in FITS:
        raise InputError(f"Unknown fit {options.fit!r}; use 'crop' (fill the frame) or 'pad' (keep the whole image).")
    if options.frames not in SVD_FRAMES:
        raise InputError(f"Stable Video Diffusion makes {' or '.join(map(str, SVD_FRAMES))} frames, not "
                         f"{options.frames}; choose one of those.")
    if not 0 <= options.motion_bucket <= 255:
        raise InputError(f"Motion {options.motion_bucket} is out of range; use 0 to 255 (127 is usual, higher moves more).")
    if not 0.0 <= options.noise_aug <= 1.0:
        raise InputError(f"Noise augmentation {options.noise_aug} is out of range; use 0 to 1 (0.02 is usual).")
    if not 1 <= options.decode_chunk_size <= options.frames:
        raise InputError(f"A decode chunk of {options.decode_chunk_size} frames is out of range; use 1 to "
                         f"{options.frames} (8 fits an 8 GB GPU, smaller saves memory).")
    _check_common(options.steps, options.seed, options.fps)


# -- how long a run takes -------------------------------------------------------------

# Floating-point operations per output frame-pixel, counted with torch's
# FlopCounterMode on the real architectures (built from their configs on the meta
# device: no weights needed), one denoising step with classifier-free guidance
# (two UNet passes), and for decoding the latents with the VAE:
#   ModelScope UNet3D, 16 frames at 256x256:        9.8 TFLOP per step -> 9.3 MFLOP per frame-pixel
#   its SD VAE decoder, 16 frames at 256x256:      10.0 TFLOP          -> 9.5 MFLOP per frame-pixel
#   SVD-XT spatio-temporal UNet, 14 at 1024x576:   89.6 TFLOP per step -> 10.9 MFLOP per frame-pixel
#   its temporal VAE decoder, 8 at 1024x576:       55.5 TFLOP          -> 11.8 MFLOP per frame-pixel
T2V_STEP_FLOPS = 9.3e6
T2V_DECODE_FLOPS = 9.5e6
SVD_STEP_FLOPS = 10.9e6
SVD_DECODE_FLOPS = 11.8e6

# Sustained GFLOP/s. CPU, per core, in float32: measured on a 2-core machine with the
# real layers' widths, a 640-channel UNet ResNet block ran at 149 GFLOP/s, a 128-channel
# VAE block at full resolution at 74 and 5-head attention over 1024 tokens at 20; whole
# models mix them, so about 40 per core. GPUs (float16) are not measured here: 10 TFLOP/s
# is a round figure for a consumer CUDA card, 3 for Apple silicon.
CPU_GFLOPS_PER_CORE = 40.0
ACCELERATOR_GFLOPS = {"cuda": 10_000.0, "mps": 3_000.0}


def _gflops(device: str, cpu_cores: Optional[int]) -> float:
    if device == "cpu":
        return CPU_GFLOPS_PER_CORE * max(1, cpu_cores or os.cpu_count() or 1)
    return ACCELERATOR_GFLOPS.get(device, ACCELERATOR_GFLOPS["cuda"])


def text_to_video_seconds_estimate(frames: int = 16, steps: int = 25, width: int = 256, height: int = 256,
                                   guidance: float = 9.0, device: str = "cpu",
                                   cpu_cores: Optional[int] = None) -> float:
    """Rough seconds a text-to-video run takes on `device` (model loading not included).

    Within a factor of two or so: meant for the page to warn before a run that would
    take an hour on a CPU, not for a progress bar. Guidance at or below 1 skips the
    unconditioned pass, halving the UNet's work.
    """
    frame_pixels = frames * width * height
    step = T2V_STEP_FLOPS * (1.0 if guidance > 1.0 else 0.5)
    flops = frame_pixels * (steps * step + T2V_DECODE_FLOPS)
    return flops / (_gflops(device, cpu_cores) * 1e9)


def image_to_video_seconds_estimate(frames: int = 14, steps: int = 25, orientation: str = "landscape",
                                    device: str = "cpu", cpu_cores: Optional[int] = None) -> float:
    """Rough seconds an image-to-video run takes on `device` (model loading not included).

    SVD always runs both guidance passes (its guidance rises from 1 to 3 over the
    frames), and works at 1024x576 whatever the input.
    """
    width, height = SVD_SIZES.get(orientation, SVD_SIZES["landscape"])
    flops = frames * width * height * (steps * SVD_STEP_FLOPS + SVD_DECODE_FLOPS)
    return flops / (_gflops(device, cpu_cores) * 1e9)


# -- image fitting --------------------------------------------------------------------


def fit_image(image: np.ndarray, width: int, height: int, fit: str = "crop") -> np.ndarray:
    """Scale an RGB image to exactly `width` x `height` without distorting it.

    "crop" scales it to cover the frame and cuts the overflow evenly from both
    sides; "pad" scales it to fit inside and centres it on black.
    """
    if fit not in FITS:
        raise InputError(f"Unknown fit {fit!r}; use 'crop' or 'pad'.")
    src_h, src_w = image.shape[:2]
    scale = (max if fit == "crop" else min)(width / src_w, height / src_h)
    new_w = min(width, max(1, round(src_w * scale))) if fit == "pad" else max(width, round(src_w * scale))
    new_h = min(height, max(1, round(src_h * scale))) if fit == "pad" else max(height, round(src_h * scale))
    # Area averaging shrinks without aliasing; Lanczos enlarges without blocks.
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LANCZOS4
    scaled = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    if fit == "crop":
        x0, y0 = (new_w - width) // 2, (new_h - height) // 2
        return np.ascontiguousarray(scaled[y0 : y0 + height, x0 : x0 + width])
    canvas = np.zeros((height, width, 3), np.uint8)
    x0, y0 = (width - new_w) // 2, (height - new_h) // 2
    canvas[y0 : y0 + new_h, x0 : x0 + new_w] = scaled
    return canvas


# -- running --------------------------------------------------------------------------


def _sha256_text(text: str) -> str:
    return sha256_of(text.encode("utf-8"))


def _model_record(model_id: str) -> dict[str, Any]:
    spec = get_spec(model_id)
    return {"id": spec.id, "revision": spec.revision}


def to_uint8_frames(frames: Any) -> np.ndarray:
    """The first video of a pipeline's "np" output, (frames, H, W, 3) floats in [0, 1], as uint8."""
    video = np.asarray(frames)
    if video.ndim == 5:
        video = video[0]
    if video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"expected (frames, height, width, 3) frames from the pipeline, got {video.shape}")
    return (np.clip(video, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def _step_reporter(progress: Optional[Progress], steps: int):
    """Report "step k/n" after each denoising step, over the first STEPS_SHARE of the bar."""
    def on_step(step_index: int) -> None:
        done = step_index + 1
        report(progress, f"step {done}/{steps}", STEPS_SHARE * done / steps)
    return on_step


def _write_video(job, frames: np.ndarray, fps: int, progress: Optional[Progress]) -> None:
    """Encode uint8 RGB frames to the job's MP4 (no audio) on the encoder's own thread."""
    height, width = frames.shape[1:3]
    report(progress, "writing the video", 0.95)
    with job.timer.stage("encode"):
        with BackgroundWriter(Mp4Writer(job.video_path, width, height, fps)) as writer:
            for frame in frames:
                writer.write(frame)


def text_to_video(
    prompt: str,
    *,
    negative_prompt: str = "",
    frames: int = 16,
    steps: int = 25,
    guidance: float = 9.0,
    seed: int = 0,
    width: int = 256,
    height: int = 256,
    fps: int = 8,
    session: Optional[str] = None,
    job_dir=None,
    progress: Optional[Progress] = None,
    registry=None,
) -> VideoResult:
    """A silent MP4 of `frames` frames drawn from `prompt` by ModelScope text-to-video.

    Raises InputError for unusable options and ModelNotInstalled (with the
    `avatar models pull text2video-ms` command) when the model is missing; in both
    cases nothing is written.
    """
    import torch

    from avatar.models.registry import get_registry

    options = TextToVideoOptions(frames=frames, steps=steps, guidance=guidance, seed=seed, width=width,
                                 height=height, fps=fps)
    check_text_to_video(prompt, options)
    registry = registry or get_registry()
    registry.require(TEXT_TO_VIDEO_MODEL)  # before the job folder exists
    on_step = _step_reporter(progress, steps)
    with video_job("text-to-video", session, job_dir) as job:
        report(progress, "loading the model", 0.0)
        with registry.use(TEXT_TO_VIDEO_MODEL, on_wait=waiting_in_line(progress)) as pipe:
            with job.timer.stage("generate"):
                # TextToVideoSDPipeline (deprecated in diffusers, still shipped) only has the old callback.
                result = pipe(
                    prompt=prompt,
                    negative_prompt=negative_prompt or None,
                    num_frames=frames,
                    num_inference_steps=steps,
                    guidance_scale=guidance,
                    height=height,
                    width=width,
                    generator=torch.Generator(device="cpu").manual_seed(seed),
                    output_type="np",
                    callback=lambda step, timestep, latents: on_step(step),
                    callback_steps=1,
                )
        video = to_uint8_frames(result.frames)
        _write_video(job, video, fps, progress)
        report(progress, "done", 1.0)
        inputs = {"prompt_sha256": _sha256_text(prompt)}
        if negative_prompt:
            inputs["negative_prompt_sha256"] = _sha256_text(negative_prompt)
        return job.finish(frames=len(video), fps=float(fps), width=video.shape[2], height=video.shape[1],
                          method=TEXT_TO_VIDEO_MODEL, options=options, inputs=inputs,
                          model=_model_record(TEXT_TO_VIDEO_MODEL))


def image_to_video(
    image: ImageSource,
    *,
    frames: int = 14,
    motion_bucket: int = 127,
    noise_aug: float = 0.02,
    fps: int = 7,
    seed: int = 0,
    steps: int = 25,
    decode_chunk_size: int = 8,
    orientation: str = "landscape",
    fit: str = "crop",
    session: Optional[str] = None,
    job_dir=None,
    progress: Optional[Progress] = None,
    registry=None,
) -> VideoResult:
    """A silent MP4 that sets a still image in motion with Stable Video Diffusion XT.

    `image` is a path, bytes, an upload or an RGB array. `motion_bucket` (0-255)
    asks for more or less motion, `noise_aug` lets the video stray further from the
    still, `fps` is both the model's conditioning and the file's rate, and
    `decode_chunk_size` frames are decoded at a time (lower it if a GPU runs out of
    memory). Raises InputError or ModelNotInstalled before writing anything.
    """
    import torch
    from PIL import Image

    from avatar.models.registry import get_registry

    if orientation not in SVD_SIZES:
        raise InputError(f"Unknown orientation {orientation!r}; use one of: {', '.join(SVD_SIZES)}.")
    width, height = SVD_SIZES[orientation]
    options = ImageToVideoOptions(frames=frames, motion_bucket=motion_bucket, noise_aug=noise_aug, fps=fps,
                                  seed=seed, steps=steps, decode_chunk_size=decode_chunk_size,
                                  orientation=orientation, fit=fit, width=width, height=height)
    check_image_to_video(options)
    still = load_image(image)
    registry = registry or get_registry()
    registry.require(IMAGE_TO_VIDEO_MODEL)  # before the job folder exists
    on_step = _step_reporter(progress, steps)

    def on_step_end(pipeline, step_index, timestep, tensors):
        on_step(step_index)
        return tensors

    with video_job("image-to-video", session, job_dir) as job:
        report(progress, "loading the model", 0.0)
        fitted = fit_image(still, width, height, fit)
        with registry.use(IMAGE_TO_VIDEO_MODEL, on_wait=waiting_in_line(progress)) as pipe:
            with job.timer.stage("generate"):
                result = pipe(
                    Image.fromarray(fitted),
                    height=height,
                    width=width,
                    num_frames=frames,
                    num_inference_steps=steps,
                    fps=fps,
                    motion_bucket_id=motion_bucket,
                    noise_aug_strength=noise_aug,
                    decode_chunk_size=decode_chunk_size,
                    generator=torch.Generator(device="cpu").manual_seed(seed),
                    output_type="np",
                    callback_on_step_end=on_step_end,
                )
        video = to_uint8_frames(result.frames)
        _write_video(job, video, fps, progress)
        report(progress, "done", 1.0)
        # Hash of the decoded pixels (as the image tools do): the same picture in any container.
        inputs = {"image": {"sha256": sha256_of(np.ascontiguousarray(still).tobytes()),
                            "width": int(still.shape[1]), "height": int(still.shape[0])}}
        return job.finish(frames=len(video), fps=float(fps), width=width, height=height,
                          method=IMAGE_TO_VIDEO_MODEL, options=options, inputs=inputs,
                          model=_model_record(IMAGE_TO_VIDEO_MODEL))
