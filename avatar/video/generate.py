"""Video from a prompt (ModelScope text-to-video) or from a still image (Stable Video Diffusion).

Both tools follow the pattern of portrait generation (`avatar/portrait/generate.py`): every
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
from dataclasses import asdict
from typing import Any, Optional

import cv2
import numpy as np

from avatar.models.catalog import get_spec
from avatar.errors import InputError
from avatar.jobs import sha256_of
from avatar.media import ImageSource, load_image
from avatar.progress import Progress, report, waiting_in_line
from avatar.options import check
from avatar.video.job import VideoResult, video_job
from avatar.video.options import FITS, SVD_SIZES, T2V_SIDE, ImageToVideoOptions, TextToVideoOptions
from avatar.video_writer import BackgroundWriter, Mp4Writer

TEXT_TO_VIDEO_MODEL = "text2video-ms"
IMAGE_TO_VIDEO_MODEL = "svd-xt"

# Share of the progress bar the denoising steps take; decoding and encoding follow.
STEPS_SHARE = 0.9


# -- checks (the ranges are declared with the options; these are the rules a range cannot say) ---


def check_text_to_video(options: TextToVideoOptions) -> None:
    """Raise InputError, naming the option to change, for anything the model cannot do."""
    if not options.prompt or not options.prompt.strip():
        raise InputError("The prompt is empty; describe the scene, e.g. 'a red panda eating bamboo, slow camera pan'.")
    check(options)
    for name, side in (("width", options.width), ("height", options.height)):
        if side % 8:
            raise InputError(f"A {name} of {side} px cannot be generated; use a multiple of 8 from {T2V_SIDE[0]} "
                             f"to {T2V_SIDE[1]} (256 suits this model).")


def check_image_to_video(options: ImageToVideoOptions) -> None:
    """Raise InputError, naming the option to change, for anything SVD cannot do."""
    check(options)
    if options.decode_chunk_size > options.frames:
        raise InputError(f"A decode chunk of {options.decode_chunk_size} frames is longer than the clip; use 1 to "
                         f"{options.frames} (8 fits an 8 GB GPU, smaller saves memory).")


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


def text_to_video_seconds_estimate(frames: int = TextToVideoOptions.frames, steps: int = TextToVideoOptions.steps,
                                   width: int = TextToVideoOptions.width, height: int = TextToVideoOptions.height,
                                   guidance: float = TextToVideoOptions.guidance, device: str = "cpu",
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


def image_to_video_seconds_estimate(frames: int = ImageToVideoOptions.frames, steps: int = ImageToVideoOptions.steps,
                                    orientation: str = ImageToVideoOptions.orientation, device: str = "cpu", cpu_cores: Optional[int] = None) -> float:
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
    session: Optional[str] = None,
    job_dir=None,
    progress: Optional[Progress] = None,
    registry=None,
    **options: Any,
) -> VideoResult:
    """A silent MP4 of `frames` frames drawn from `prompt` by ModelScope text-to-video.

    `options` are the other fields of `TextToVideoOptions` (negative_prompt, frames,
    steps, guidance, seed, width, height, fps), their defaults as declared there.
    Raises InputError for unusable options and ModelNotInstalled (with the
    `avatar models pull text2video-ms` command) when the model is missing; in both
    cases nothing is written.
    """
    import torch

    from avatar.models.registry import get_registry

    chosen = TextToVideoOptions(prompt=prompt, **options)
    check_text_to_video(chosen)
    negative_prompt, frames, steps = chosen.negative_prompt, chosen.frames, chosen.steps
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
                    guidance_scale=chosen.guidance,
                    height=chosen.height,
                    width=chosen.width,
                    generator=torch.Generator(device="cpu").manual_seed(chosen.seed),
                    output_type="np",
                    callback=lambda step, timestep, latents: on_step(step),
                    callback_steps=1,
                )
        video = to_uint8_frames(result.frames)
        _write_video(job, video, chosen.fps, progress)
        report(progress, "done", 1.0)
        inputs = {"prompt_sha256": _sha256_text(prompt)}
        if negative_prompt:
            inputs["negative_prompt_sha256"] = _sha256_text(negative_prompt)
        return job.finish(frames=len(video), fps=float(chosen.fps), width=video.shape[2], height=video.shape[1],
                          method=TEXT_TO_VIDEO_MODEL, options=chosen.manifest(), inputs=inputs,
                          model=_model_record(TEXT_TO_VIDEO_MODEL))


def image_to_video(
    image: ImageSource,
    *,
    session: Optional[str] = None,
    job_dir=None,
    progress: Optional[Progress] = None,
    registry=None,
    **options: Any,
) -> VideoResult:
    """A silent MP4 that sets a still image in motion with Stable Video Diffusion XT.

    `image` is a path, bytes, an upload or an RGB array; `options` are the fields of
    `ImageToVideoOptions`. `motion_bucket` (0-255) asks for more or less motion,
    `noise_aug` lets the video stray further from the still, `fps` is both the
    model's conditioning and the file's rate, and `decode_chunk_size` frames are
    decoded at a time (lower it if a GPU runs out of memory). Raises InputError or
    ModelNotInstalled before writing anything.
    """
    import torch
    from PIL import Image

    from avatar.models.registry import get_registry

    chosen = ImageToVideoOptions(**options)
    check_image_to_video(chosen)
    width, height = SVD_SIZES[chosen.orientation]
    frames, steps, fps = chosen.frames, chosen.steps, chosen.fps
    still = load_image(image)
    registry = registry or get_registry()
    registry.require(IMAGE_TO_VIDEO_MODEL)  # before the job folder exists
    on_step = _step_reporter(progress, steps)

    def on_step_end(pipeline, step_index, timestep, tensors):
        on_step(step_index)
        return tensors

    with video_job("image-to-video", session, job_dir) as job:
        report(progress, "loading the model", 0.0)
        fitted = fit_image(still, width, height, chosen.fit)
        with registry.use(IMAGE_TO_VIDEO_MODEL, on_wait=waiting_in_line(progress)) as pipe:
            with job.timer.stage("generate"):
                result = pipe(
                    Image.fromarray(fitted),
                    height=height,
                    width=width,
                    num_frames=frames,
                    num_inference_steps=steps,
                    fps=fps,
                    motion_bucket_id=chosen.motion_bucket,
                    noise_aug_strength=chosen.noise_aug,
                    decode_chunk_size=chosen.decode_chunk_size,
                    generator=torch.Generator(device="cpu").manual_seed(chosen.seed),
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
                          method=IMAGE_TO_VIDEO_MODEL, options={**asdict(chosen), "width": width, "height": height},
                          inputs=inputs,
                          model=_model_record(IMAGE_TO_VIDEO_MODEL))
