"""Text-to-video and image-to-video: tiny real pipelines through the registry, the MP4 they write, and refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import numpy as np
import pytest
from diffusers import StableVideoDiffusionPipeline

from avatar import config
from avatar.models.catalog import get_spec
from avatar.errors import InputError, ModelNotInstalled
from avatar.jobs import sha256_of
from avatar.models.registry import Registry
from avatar.video import generate
from avatar.video.generate import (
    fit_image,
    image_to_video,
    image_to_video_seconds_estimate,
    text_to_video,
    text_to_video_seconds_estimate,
)
from tests.tiny_video_models import save_tiny_svd, save_tiny_text_to_video

# SVD's real 1024x576 frame takes the tiny pipeline over a minute to decode; the
# tool's sizes are swapped for small ones of the same shape (wider than high, or
# the reverse). `fit_image` is tested at the real size below.
SMALL_SIZES = {"landscape": (64, 32), "portrait": (32, 64)}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("checkpoints")
    save_tiny_text_to_video(folder / "text2video-ms")
    save_tiny_svd(folder / "svd-xt")
    return folder


@pytest.fixture(scope="module")
def registry(checkpoints, tmp_path_factory) -> Registry:
    return Registry(checkpoints=checkpoints, hf_cache=tmp_path_factory.mktemp("hub"))


@pytest.fixture
def small_svd(monkeypatch):
    monkeypatch.setattr(generate, "SVD_SIZES", dict(SMALL_SIZES))


def read_video(path: Path) -> tuple[list[np.ndarray], float, int]:
    """Decoded RGB frames, the frame rate and the number of audio streams."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return frames, float(stream.average_rate), len(container.streams.audio)


def outputs_empty() -> bool:
    root = config.outputs_dir()
    return not root.exists() or not any(root.rglob("*"))


@pytest.fixture
def made_frames(monkeypatch) -> list[np.ndarray]:
    """The uint8 frames each run decoded from the model's latents, before the encoder.

    Reproducibility is checked on these: x264 fed from the writer's encoder thread
    does not always give the same bitstream for the same frames (seen here under
    load), so identical MP4s are not something a seed can promise.
    """
    made: list[np.ndarray] = []
    original = generate.to_uint8_frames

    def keep(frames):
        video = original(frames)
        made.append(video)
        return video

    monkeypatch.setattr(generate, "to_uint8_frames", keep)
    return made


def recorder():
    calls: list[tuple[str, float]] = []
    return calls, lambda stage, fraction: calls.append((stage, fraction))


# -- text to video ------------------------------------------------------------------------


def test_text_to_video_writes_the_mp4_and_manifest(registry):
    calls, progress = recorder()
    result = text_to_video("a red cat", negative_prompt="blue sky", frames=8, steps=3, width=96, height=64, fps=8,
                           session="s1", progress=progress, registry=registry)
    frames, fps, audio = read_video(result.video_path)
    assert len(frames) == result.frames == 8 and fps == 8.0 and audio == 0
    assert frames[0].shape == (64, 96, 3) and (result.width, result.height) == (96, 64)
    assert result.job_dir.parent.name == "s1"
    assert [stage for stage, _ in calls if stage.startswith("step")] == ["step 1/3", "step 2/3", "step 3/3"]
    fractions = [fraction for _, fraction in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    manifest = json.loads((result.job_dir / "manifest.json").read_text())
    assert manifest["method"] == "text2video-ms"
    assert manifest["model"] == {"id": "text2video-ms", "revision": get_spec("text2video-ms").revision}
    assert manifest["inputs"] == {"prompt_sha256": sha256_of(b"a red cat"), "negative_prompt_sha256": sha256_of(b"blue sky")}
    assert manifest["options"] == {"frames": 8, "steps": 3, "guidance": 9.0, "seed": 0, "width": 96, "height": 64, "fps": 8}
    assert "a red cat" not in (result.job_dir / "manifest.json").read_text()


def test_text_to_video_same_seed_same_frames(registry, made_frames):
    written = []
    for seed in (3, 3, 4):
        result = text_to_video("a cat", frames=8, steps=2, width=64, height=64, seed=seed, registry=registry)
        written.append(np.stack(read_video(result.video_path)[0]).astype(float))
    first, again, other = made_frames
    assert first.shape == (8, 64, 64, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    # Each file holds its own run's frames, up to H.264's loss (the tiny model's noise compresses poorly).
    correlation = lambda a, b: np.corrcoef(a.ravel(), b.astype(float).ravel())[0, 1]
    assert correlation(written[0], first) > 0.6 and correlation(written[2], other) > 0.6
    assert correlation(written[2], first) < 0.3


@pytest.mark.parametrize("kwargs, message", [
    (dict(prompt="  "), "prompt is empty"),
    (dict(frames=7), "frames must be from 8 to 64, not 7."),
    (dict(frames=65), "frames must be from 8 to 64, not 65."),
    (dict(width=100), "multiple of 8"),
    (dict(height=2048), "height must be from 64 to 1024, not 2048."),
    (dict(steps=0), "steps must be from 1 to 150, not 0."),
    (dict(guidance=-1.0), "guidance must be from 0 to 30, not -1."),
    (dict(fps=0), "fps must be from 1 to 60, not 0."),
])
def test_text_to_video_refuses_bad_options(registry, kwargs, message):
    kwargs = {"prompt": "a cat", **kwargs}
    with pytest.raises(InputError, match=re.escape(message)):
        text_to_video(kwargs.pop("prompt"), registry=registry, **kwargs)
    assert outputs_empty()


def test_failure_mid_run_leaves_nothing(registry):
    def progress(stage: str, fraction: float) -> None:
        if stage == "step 2/2":
            raise KeyboardInterrupt  # what a cancelled job looks like

    with pytest.raises(KeyboardInterrupt):
        text_to_video("a cat", frames=8, steps=2, width=64, height=64, progress=progress, registry=registry)
    assert outputs_empty()


def test_missing_models_name_the_install_command(tmp_path, fixtures):
    empty = Registry(checkpoints=tmp_path / "none", hf_cache=tmp_path / "hub")
    with pytest.raises(ModelNotInstalled, match="`avatar models pull text2video-ms`"):
        text_to_video("a cat", registry=empty)
    with pytest.raises(ModelNotInstalled, match="`avatar models pull svd-xt`"):
        image_to_video(fixtures / "obama_small.jpg", registry=empty)
    assert outputs_empty()


# -- image to video -----------------------------------------------------------------------


def test_image_to_video_writes_the_mp4_and_manifest(registry, small_svd, fixtures):
    calls, progress = recorder()
    path = fixtures / "obama_small.jpg"
    result = image_to_video(path, steps=2, fps=7, progress=progress, registry=registry)
    frames, fps, audio = read_video(result.video_path)
    assert len(frames) == result.frames == 14 and fps == 7.0 and audio == 0
    assert frames[0].shape == (32, 64, 3)
    assert [stage for stage, _ in calls if stage.startswith("step")] == ["step 1/2", "step 2/2"]
    fractions = [fraction for _, fraction in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    manifest = json.loads((result.job_dir / "manifest.json").read_text())
    assert manifest["method"] == "svd-xt"
    assert manifest["model"] == {"id": "svd-xt", "revision": get_spec("svd-xt").revision}
    from avatar.media import load_image

    still = load_image(path)
    assert manifest["inputs"]["image"]["sha256"] == sha256_of(still.tobytes())
    assert manifest["options"]["orientation"] == "landscape" and manifest["options"]["frames"] == 14
    assert (manifest["options"]["width"], manifest["options"]["height"]) == (64, 32)
    # The same picture given as bytes is the same input.
    again = image_to_video(path.read_bytes(), steps=1, registry=registry)
    assert again.manifest["inputs"]["image"]["sha256"] == manifest["inputs"]["image"]["sha256"]


def test_image_to_video_portrait_25_frames_and_seed(registry, small_svd, made_frames):
    rng = np.random.default_rng(0)
    still = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)

    def run(seed: int, frames: int = 14) -> list[np.ndarray]:
        result = image_to_video(still, frames=frames, steps=1, seed=seed, orientation="portrait",
                                decode_chunk_size=5, fps=6, registry=registry)
        decoded, fps, _ = read_video(result.video_path)
        assert fps == 6.0 and decoded[0].shape == (64, 32, 3)
        return decoded

    assert len(run(1, frames=25)) == 25
    run(1), run(1), run(2)
    _, first, again, other = made_frames
    assert first.shape == (14, 64, 32, 3)
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_image_to_video_hands_the_fitted_image_to_the_model(registry, small_svd, monkeypatch):
    seen = []
    original = StableVideoDiffusionPipeline.__call__

    def spy(self, image, *args, **kwargs):
        seen.append((np.asarray(image), kwargs["height"], kwargs["width"], kwargs["motion_bucket_id"],
                     kwargs["noise_aug_strength"], kwargs["decode_chunk_size"], kwargs["fps"]))
        return original(self, image, *args, **kwargs)

    monkeypatch.setattr(StableVideoDiffusionPipeline, "__call__", spy)
    square = np.full((40, 40, 3), 200, np.uint8)
    image_to_video(square, steps=1, fit="crop", motion_bucket=30, noise_aug=0.1, decode_chunk_size=3,
                   registry=registry)
    image_to_video(square, steps=1, fit="pad", registry=registry)
    (cropped, h, w, bucket, noise, chunk, fps), (padded, *_) = seen
    assert (h, w, bucket, noise, chunk, fps) == (32, 64, 30, 0.1, 3, 7)
    assert cropped.shape == padded.shape == (32, 64, 3)
    assert (cropped == 200).all()  # the square fills the frame, its top and bottom cut
    assert (padded[:, 16:48] == 200).all() and (padded[:, :16] == 0).all() and (padded[:, 48:] == 0).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(frames=16), "frames must be one of 14, 25, not 16."),
    (dict(orientation="square"), "orientation must be one of landscape, portrait, not 'square'."),
    (dict(fit="stretch"), "fit must be one of crop, pad, not 'stretch'."),
    (dict(motion_bucket=300), "motion_bucket must be from 0 to 255, not 300."),
    (dict(noise_aug=2.0), "noise_aug must be from 0 to 1, not 2."),
    (dict(decode_chunk_size=0), "decode_chunk_size must be from 1 to 25, not 0."),
    (dict(decode_chunk_size=20), "A decode chunk of 20 frames is longer than the clip; use 1 to 14"),
    (dict(steps=151), "steps must be from 1 to 150, not 151."),
])
def test_image_to_video_refuses_bad_options(registry, fixtures, kwargs, message):
    with pytest.raises(InputError, match=re.escape(message)):
        image_to_video(fixtures / "obama_small.jpg", registry=registry, **kwargs)
    assert outputs_empty()


def test_image_to_video_refuses_a_broken_image(registry, fixtures):
    with pytest.raises(InputError):
        image_to_video(fixtures / "corrupt.jpg", registry=registry)
    assert outputs_empty()


# -- fitting at the model's real size, and the estimates -------------------------------------


def test_fit_image_crop_and_pad_at_the_real_size():
    # A 4:3 picture: left half red, right half blue, a green band across the top sixth.
    image = np.zeros((600, 800, 3), np.uint8)
    image[:, :400] = (255, 0, 0)
    image[:, 400:] = (0, 0, 255)
    image[:100] = (0, 255, 0)
    cropped = fit_image(image, 1024, 576, "crop")
    padded = fit_image(image, 1024, 576, "pad")
    assert cropped.shape == padded.shape == (576, 1024, 3)
    # Crop: scaled to 1024x768, 96 rows cut from the top and bottom: 32 of the band's 128 rows stay.
    assert (cropped[40:, 10:500, 0] > 240).all() and (cropped[40:, 524:, 2] > 240).all()
    assert (cropped[:28, 10:1014, 1] > 240).all() and (cropped[36:, :, 1] < 15).all()
    # Pad: scaled to 768x576 and centred, 128 black columns each side, nothing cut.
    assert (padded[:, :128] == 0).all() and (padded[:, 896:] == 0).all()
    assert (padded[:92, 140:880, 1] > 240).all() and (padded[100:, 140:500, 0] > 240).all()
    portrait = fit_image(image, 576, 1024, "pad")
    assert portrait.shape == (1024, 576, 3) and (portrait[:296] == 0).all() and (portrait[-296:] == 0).all()


def test_seconds_estimates_follow_the_work():
    base = text_to_video_seconds_estimate(frames=16, steps=25, width=256, height=256, device="cpu", cpu_cores=2)
    assert text_to_video_seconds_estimate(frames=32, steps=25, width=256, height=256, cpu_cores=2) == pytest.approx(2 * base)
    assert text_to_video_seconds_estimate(frames=16, steps=25, width=256, height=256, cpu_cores=4) == pytest.approx(base / 2)
    assert text_to_video_seconds_estimate(guidance=1.0, cpu_cores=2) < base
    assert text_to_video_seconds_estimate(device="cuda") < base / 50
    svd = image_to_video_seconds_estimate(frames=14, steps=25, cpu_cores=2)
    assert image_to_video_seconds_estimate(frames=25, steps=25, cpu_cores=2) == pytest.approx(svd * 25 / 14)
    assert image_to_video_seconds_estimate(orientation="portrait", cpu_cores=2) == pytest.approx(svd)
    assert svd > base  # a 1024x576 video is far more work than a 256x256 one
