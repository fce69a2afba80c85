"""`inpaint_video(...)`: fill a region of a video (a logo, a timestamp, an object).

The region is a still mask, a box, or a text description found in every frame by
CLIPSeg. Two ways to fill it:

- "propagation" (no model, `avatar.video.propagate`): pixels the other frames
  show, carried along the optical flow; only what no frame shows is invented,
  once, and carried on. Exact on pans and moving objects, and steady.
- an inpainting model ("sd2-inpaint", "dreamshaper8-inpaint"): Stable Diffusion
  paints every frame ("only the masked area": a crop around the hole at the
  model's resolution). A diffusion model run frame by frame shimmers, because
  each frame starts from other noise and the model has no idea of the last
  frame. So every frame starts from the same noise (the same seed), and from the
  same picture: the first frame's fill, carried along the optical flow into each
  later frame, is the starting image, and the model only re-paints it partly
  (img2img, `follow_strength`). The carried fill is the first fill moved frame to
  frame, not the previous *output*: re-noising outputs would let each frame's
  small change accumulate into a drift, whereas carrying the first fill makes
  identical frames come out identical and moving ones agree.

"auto" takes the first installed model, else propagation. Everything that can be
refused (the video, the mask, the box, the options, a missing model) is checked
before a frame is decoded, and a failed job leaves no folder behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Optional, Sequence

import numpy as np

from avatar.edit.diffusion import masked_region, working_size
from avatar.edit.inpaint import DIFFUSION_MODELS
from avatar.edit.masks import as_mask, check_box, fit_mask, load_mask, mask_blur, mask_pad, require_nonempty
from avatar.errors import InputError, quoted
from avatar.jobs import sha256_of
from avatar.progress import Progress, report, waiting_in_line
from avatar.video.io import Video, VideoLimits, VideoSource, open_video
from avatar.options import check
from avatar.video.job import VideoResult, video_job
from avatar.video.options import PROPAGATION, InpaintVideoOptions
from avatar.video.propagate import FlowEstimator, PropagationOptions, Propagator, warp
from avatar.video_writer import BackgroundWriter, Mp4Writer

CLIPSEG_ID = "clipseg"
Frames = Iterable[tuple[np.ndarray, np.ndarray]]  # (rgb, hole) pairs


@dataclass(frozen=True)
class VideoInpaintOptions:
    """Everything that decides the result; written to the manifest.

    The user's choices (`InpaintVideoOptions`, declared in avatar/video/options.py)
    with the method resolved and the region's kind, plus the settings the tool keeps
    to itself.

    The diffusion settings follow diffusers' names. `follow_strength` is how much
    of the carried first fill the model repaints on each frame (lower: steadier,
    higher: follows the scene more closely). `text_mask_padding` grows CLIPSeg's
    coarse masks so an object's edge is filled too.
    """

    method: str
    region: str  # "mask", "box" or "text"
    box: Optional[tuple[int, int, int, int]] = None
    mask_prompt: Optional[str] = None
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    steps: int = 25
    guidance: float = 7.5
    strength: float = 1.0
    follow_strength: float = 0.5
    only_masked: bool = True
    masked_padding: int = 32
    mask_blur: int = 4
    resolution: int = 512
    text_threshold: float = 0.4
    text_mask_padding: int = 3
    propagation: PropagationOptions = field(default_factory=PropagationOptions)


def _registry(registry):
    if registry is not None:
        return registry
    from avatar.models.registry import get_registry

    return get_registry()


def resolve_video_method(method: str, registry) -> str:
    """"propagation" or an installed model id; a missing model raises ModelNotInstalled now."""
    if method == PROPAGATION:
        return method
    if method == "auto":
        installed = [model_id for model_id in DIFFUSION_MODELS if registry.is_installed(model_id)]
        return installed[0] if installed else PROPAGATION
    if method in DIFFUSION_MODELS:
        registry.require(method)
        return method
    raise InputError(f"Unknown video inpainting method {quoted(method)}; use auto, {PROPAGATION} or one of "
                     f"{', '.join(DIFFUSION_MODELS)}.")


def _region_kind(mask: Any, box: Any, mask_prompt: Optional[str]) -> str:
    given = [name for name, value in (("mask", mask), ("box", box), ("text", mask_prompt)) if value is not None]
    if len(given) != 1:
        what = "nothing" if not given else " and ".join(given)
        raise InputError(f"Give exactly one of a mask, a box or a description of the area to fill (got {what}).")
    return given[0]


def still_mask(mask: Any, width: int, height: int) -> tuple[np.ndarray, Optional[str]]:
    """The user's still mask at the video's size (white = fill), and a notice if it was resized."""
    array = as_mask(mask) if isinstance(mask, np.ndarray) else load_mask(mask)
    frame_shape = np.broadcast_to(np.uint8(0), (height, width))  # fit_mask reads only the shape
    fitted, notice = fit_mask(array, frame_shape)
    return require_nonempty(fitted), notice


def box_mask(box: Sequence[float], width: int, height: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A mask of the box, clipped to the frame; a box outside the frame is refused."""
    if len(box) != 4:
        raise InputError(f"A box is four numbers x0, y0, x1, y1 (pixels), not {tuple(box)}.")
    x0, y0, x1, y1 = check_box(box, np.broadcast_to(np.uint8(0), (height, width)))
    mask = np.zeros((height, width), bool)
    mask[y0:y1, x0:x1] = True
    return require_nonempty(mask, "The box"), (x0, y0, x1, y1)


def check_inpaint_video(options: InpaintVideoOptions) -> None:
    """The declared ranges, and what they cannot say; one sentence naming the option to change."""
    check(options)
    if options.strength <= 0.0:
        raise InputError("strength must be above 0 (and at most 1), not 0.")
    if options.mask_prompt is not None and not options.mask_prompt.strip():
        raise InputError("Describe what to fill, for example 'the logo'.")
    if options.box is not None and len(options.box) != 4:
        raise InputError(f"A box is four numbers x0, y0, x1, y1 (pixels), not {tuple(options.box)}.")


def _validate(options: VideoInpaintOptions) -> None:
    if not 0.0 < options.follow_strength <= 1.0:
        raise InputError("The follow strength must be above 0 and at most 1.")


class _TextHoles:
    """Per-frame masks from a description, by CLIPSeg; frames where nothing matches are left alone."""

    def __init__(self, prompt: str, options: VideoInpaintOptions) -> None:
        self.prompt, self.options = prompt, options
        self.matched_frames = 0

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        from avatar.edit.text_mask import mask_from_text

        selection = mask_from_text(rgb, self.prompt, threshold=self.options.text_threshold)
        if not selection.matched:
            return np.zeros(rgb.shape[:2], bool)
        self.matched_frames += 1
        return mask_pad(selection.mask, self.options.text_mask_padding)


class DiffusionFiller:
    """Paints the holes of a stream of frames with an inpainting pipeline (see the module docstring)."""

    def __init__(self, pipe, options: VideoInpaintOptions, frames: int, progress: Optional[Progress] = None) -> None:
        self.pipe, self.options, self.frames, self.progress = pipe, options, frames, progress
        self.flows: Optional[FlowEstimator] = None
        self.model_runs = 0

    def run(self, pairs: Frames) -> Iterator[np.ndarray]:
        carried: Optional[np.ndarray] = None  # the last frame with its hole holding the carried first fill
        previous_grey: Optional[np.ndarray] = None
        for index, (rgb, hole) in enumerate(pairs):
            if self.flows is None:
                self.flows = FlowEstimator(rgb.shape[1], rgb.shape[0], self.options.propagation.flow_side)
            grey = self.flows.grey(rgb, self.flows.hole(hole, 1))
            if not hole.any():
                carried = None  # nothing to carry across a frame without a hole: the next one starts afresh
                output = rgb
            else:
                if carried is None:
                    first = self._paint(index, rgb, hole, self.options.strength, "first fill")
                    start = _composite(rgb, first, hole)
                else:
                    backward = self.flows.flow(grey, previous_grey,
                                               self.flows.hole(hole, self.options.propagation.flow_margin))
                    height, width = hole.shape
                    start = _composite(rgb, warp(carried, self.flows, backward, (0, 0, width, height)), hole)
                follow = min(self.options.strength, self.options.follow_strength)
                output = self._paint(index, start, hole, follow, "painting")
                carried = start
            previous_grey = grey
            report(self.progress, f"frame {index + 1}/{self.frames}", (index + 1) / self.frames)
            yield output

    def _paint(self, index: int, image: np.ndarray, hole: np.ndarray, strength: float, stage: str) -> np.ndarray:
        """One inpainting run on the crop around the hole; pixels away from it are the input's."""
        import torch
        from PIL import Image

        options = self.options
        height, width = hole.shape
        x0, y0, x1, y1 = masked_region(hole, options.masked_padding) if options.only_masked else (0, 0, width, height)
        crop, crop_hole = np.ascontiguousarray(image[y0:y1, x0:x1]), hole[y0:y1, x0:x1]
        size = working_size(x1 - x0, y1 - y0, options.resolution)
        soft = mask_blur(crop_hole, options.mask_blur)
        # At least one denoising step must run: diffusers runs int(steps * strength).
        strength = max(strength, 1.0 / options.steps)
        output = self.pipe(
            prompt=options.prompt,
            negative_prompt=options.negative_prompt or None,
            image=Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS),
            mask_image=Image.fromarray((soft * 255).astype(np.uint8)).resize(size, Image.Resampling.BILINEAR),
            height=size[1],
            width=size[0],
            num_inference_steps=options.steps,
            guidance_scale=options.guidance,
            strength=strength,
            # A fresh generator per run: every frame starts from the same noise.
            generator=torch.Generator("cpu").manual_seed(int(options.seed)),
            callback_on_step_end=self._on_step(index, stage),
        )
        self.model_runs += 1
        painted = np.asarray(output.images[0].convert("RGB").resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS),
                             dtype=np.float32)
        alpha = np.maximum(soft, crop_hole.astype(np.float32))[..., None]
        result = image.copy()
        result[y0:y1, x0:x1] = np.clip(np.round(crop * (1.0 - alpha) + painted * alpha), 0, 255).astype(np.uint8)
        return result

    def _on_step(self, index: int, stage: str):
        def on_step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
            total = int(getattr(pipe, "num_timesteps", 0) or step + 1)
            report(self.progress, f"frame {index + 1}/{self.frames}, {stage}, step {step + 1}/{total}",
                   (index + (step + 1) / total) / self.frames)
            return callback_kwargs

        return on_step_end


def _composite(rgb: np.ndarray, fill: np.ndarray, hole: np.ndarray) -> np.ndarray:
    out = rgb.copy()
    out[hole] = fill[hole]
    return out


def _writer_fps(fps: float) -> Fraction | int:
    """The frame rate as the encoder takes it: exact for 25, 30000/1001 for 29.97."""
    rate = Fraction(fps).limit_denominator(1001)
    return int(rate) if rate.denominator == 1 else rate


def inpaint_video(source: VideoSource, *, mask=None, limits: VideoLimits = VideoLimits(),
                  session: Optional[str] = None, job_dir=None, progress: Optional[Progress] = None, registry=None,
                  **options: Any) -> VideoResult:
    """Fill the masked region of every frame; the result keeps the video's frames, rate, size and sound.

    `options` are the fields of `InpaintVideoOptions`. Exactly one of `mask` (a
    still picture, white = fill, the video's size or shape), `box` (x0, y0, x1, y1
    in pixels) or `mask_prompt` (what to fill, found in each frame; needs the
    clipseg model). Raises InputError or ModelNotInstalled, before any frame is
    decoded, for what cannot be used.
    """
    chosen = InpaintVideoOptions(**options)
    box, mask_prompt = chosen.box, chosen.mask_prompt
    region = _region_kind(mask, box, mask_prompt)
    check_inpaint_video(chosen)
    registry = _registry(registry)
    resolved = resolve_video_method(chosen.method, registry)
    options = VideoInpaintOptions(method=resolved, region=region, mask_prompt=mask_prompt, prompt=chosen.prompt,
                                  negative_prompt=chosen.negative_prompt, seed=chosen.seed, steps=chosen.steps,
                                  guidance=float(chosen.guidance), strength=float(chosen.strength),
                                  only_masked=chosen.only_masked)
    _validate(options)
    if region == "text":
        from avatar.models.registry import get_registry

        get_registry().require(CLIPSEG_ID)  # text masks are made through the process registry
    report(progress, "checking the video", 0.0)
    video = open_video(source, limits)
    with video:
        info = video.info
        inputs: dict[str, Any] = {"video": {"name": info.name, "sha256": info.sha256}}
        notices: list[str] = []
        still: Optional[np.ndarray] = None
        if region == "mask":
            still, notice = still_mask(mask, info.width, info.height)
            notices += [notice] if notice else []
            inputs["mask_sha256"] = sha256_of(np.packbits(still).tobytes())
        elif region == "box":
            still, clipped = box_mask(box, info.width, info.height)
            options = replace(options, box=clipped)
        else:
            inputs["mask_prompt"] = mask_prompt.strip()
        return _run(video, still, options, inputs, notices, session, job_dir, progress, registry)


def _run(video: Video, still: Optional[np.ndarray], options: VideoInpaintOptions, inputs: dict[str, Any],
         notices: list[str], session, job_dir, progress: Optional[Progress], registry) -> VideoResult:
    """Decode, fill and encode frame by frame inside the job folder."""
    info = video.info
    # H.264 (yuv420p) needs even sides: an odd last row or column is dropped.
    width, height = info.width - info.width % 2, info.height - info.height % 2
    text_holes = _TextHoles(options.mask_prompt.strip(), options) if options.region == "text" else None

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for rgb in video.frames():
            rgb = np.ascontiguousarray(rgb[:height, :width])
            hole = still[:height, :width] if still is not None else text_holes(rgb)
            yield rgb, hole

    with video_job("inpaint_video", session, job_dir) as job:
        model: Optional[dict[str, Any]] = None
        speech = video.audio()
        with BackgroundWriter(Mp4Writer(job.video_path, width, height, fps=_writer_fps(info.fps),
                                        speech=speech)) as writer, job.timer.stage("inpainting"):
            if options.method == PROPAGATION:
                on_frame = lambda i: report(progress, f"frame {i + 1}/{info.frames}", (i + 1) / info.frames)
                filler = Propagator(options.propagation)
                frames = filler.run(pairs(), on_frame)
                written = _write_all(frames, writer)
                if filler.invented_frames:
                    notices.append("Part of the area is never shown by any frame; it was filled once by OpenCV "
                                   "inpainting and carried along.")
            else:
                from avatar.models.catalog import get_spec

                spec = get_spec(options.method)
                model = {"id": spec.id, "revision": spec.revision, "path": str(registry.require(spec.id))}
                report(progress, "loading model", 0.0)
                with registry.use(options.method, on_wait=waiting_in_line(progress)) as pipe:
                    filler = DiffusionFiller(pipe, options, info.frames, progress)
                    written = _write_all(filler.run(pairs()), writer)
                model["model_runs"] = filler.model_runs
        if text_holes is not None and text_holes.matched_frames == 0:
            raise InputError(f"Nothing in the video matched {options.mask_prompt.strip()!r}; try other words, "
                             "a box or a mask.")
        if text_holes is not None:
            model = {**(model or {}), "mask_model": CLIPSEG_ID, "masked_frames": text_holes.matched_frames}
        inputs["notices"] = notices
        result = job.finish(frames=written, fps=info.fps, width=width, height=height, method=options.method,
                            options=options, inputs=inputs, model=model)
    report(progress, "done", 1.0)
    return result


def _write_all(frames: Iterable[np.ndarray], writer) -> int:
    count = 0
    for frame in frames:
        writer.write(frame)
        count += 1
    return count

