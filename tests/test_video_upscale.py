"""Video upscaling: the classical path on a real clip, the x4 diffusion path with a tiny model."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from avatar import config
from avatar.errors import InputError, ModelNotInstalled
from avatar.models.registry import Registry
from avatar.video.io import open_video
from avatar.video.upscale import (
    CLASSICAL,
    MODEL_ID,
    low_res_size,
    plan_tiles,
    upscale_lanczos,
    upscale_video,
)
from avatar.video_writer import Mp4Writer
from tests.test_video_io import tone, write_clip
from tests.tiny_video_models import save_tiny_sd_upscaler


def edge_frame(index: int, width: int = 160, height: int = 90) -> np.ndarray:
    """Dark left, bright right, the edge moving one px per frame; a grey square for texture."""
    frame = np.full((height, width, 3), 40, np.uint8)
    frame[:, width // 2 + index:] = 210
    frame[10:30, 10:30] = 128
    return frame


def edge_energy(row: np.ndarray) -> float:
    """Sum of squared neighbour differences: the same step spread over fewer pixels scores higher."""
    return float((np.diff(row.astype(np.float64)) ** 2).sum())


def outputs_empty() -> bool:
    """No file and no job folder under outputs/ (a session's own folder may stay)."""
    root = config.outputs_dir()
    return not root.exists() or not any(p.is_file() or "-upscale-" in p.name for p in root.rglob("*"))


@pytest.fixture
def clip(tmp_path) -> Path:
    return write_clip(tmp_path / "clip.mp4", [edge_frame(i) for i in range(12)], fps=10, audio=tone(1.2))


@pytest.fixture
def empty_registry(tmp_path) -> Registry:
    return Registry(checkpoints=tmp_path / "no-checkpoints")


def test_unsharp_lanczos_makes_an_edge_steeper_than_plain_lanczos():
    frame = edge_frame(0)
    plain = cv2.resize(frame, (640, 360), interpolation=cv2.INTER_LANCZOS4)
    sharp = upscale_lanczos(frame, (640, 360))
    assert sharp.shape == plain.shape == (360, 640, 3)
    assert edge_energy(sharp[200, :, 0]) > 1.05 * edge_energy(plain[200, :, 0])
    # Flat areas are left alone: only edges are touched.
    assert np.array_equal(sharp[200:300, 400:600], plain[200:300, 400:600])


def test_classical_upscaling_keeps_frames_rate_and_sound(clip, empty_registry):
    stages: list[tuple[str, float]] = []
    result = upscale_video(clip, target_height=360, registry=empty_registry, session="s1",
                           progress=lambda stage, fraction: stages.append((stage, fraction)))
    assert result.method == CLASSICAL == "lanczos+unsharp"
    assert (result.width, result.height, result.frames, result.fps) == (640, 360, 12, 10.0)
    assert result.video_path.is_file() and result.job_dir.parent.name == "s1"

    with open_video(clip) as source, open_video(result.video_path) as video:
        assert (video.info.width, video.info.height, video.info.frames, video.info.fps) == (640, 360, 12, 10.0)
        before, after = source.audio(), video.audio()
        assert after.sample_rate == before.sample_rate
        assert abs(len(after.samples) - len(before.samples)) <= 1024  # one AAC frame
        frames = list(video.frames())
        first_input = next(source.frames())
    # Still sharper than plain Lanczos after H.264, on the same decoded input.
    plain = cv2.resize(first_input, (640, 360), interpolation=cv2.INTER_LANCZOS4)
    assert edge_energy(frames[0][200, 100:, 0]) > edge_energy(plain[200, 100:, 0])
    # The edge moves as in the input: frame 11 has it 11 input px (44 output px) further right.
    columns = [int(np.argmax(np.diff(frame[200, :, 0].astype(int)))) for frame in (frames[0], frames[11])]
    assert columns[1] - columns[0] == pytest.approx(44, abs=2)

    manifest = json.loads((result.job_dir / "manifest.json").read_text())
    assert manifest["method"] == "lanczos+unsharp" and manifest["model"] is None
    assert manifest["inputs"]["video"] == {"name": "clip.mp4", "sha256": source.info.sha256}
    assert manifest["options"]["target_height"] == 360 and manifest["options"]["method"] == "auto"
    assert [stage for stage, _ in stages if stage.startswith("frame")][-1] == "frame 12/12"
    assert [f for _, f in stages] == sorted(f for _, f in stages) and stages[-1] == ("done", 1.0)


def test_a_failure_mid_way_leaves_no_folder(clip, empty_registry, monkeypatch):
    real_write = Mp4Writer.write

    def failing_write(self, rgb):
        if self.frames_written == 5:
            raise OSError("disk full")
        real_write(self, rgb)

    monkeypatch.setattr(Mp4Writer, "write", failing_write)
    with pytest.raises(OSError, match="disk full"):
        upscale_video(clip, target_height=360, method="lanczos", registry=empty_registry, session="s1")
    assert outputs_empty()


@pytest.mark.parametrize("target, words", [(90, "already 90 lines high"), (80, "above 90"),
                                           (361, "even number"), (4000, "from 144 to 2160")])
def test_a_target_the_tool_cannot_make_is_refused_before_any_work(clip, empty_registry, target, words):
    with pytest.raises(InputError, match=words):
        upscale_video(clip, target_height=target, registry=empty_registry)
    assert outputs_empty()


def test_bad_options_are_refused(clip, empty_registry):
    for options, words in [(dict(method="bicubic"), "method must be one of auto, lanczos, sd-x4-upscaler, not 'bicubic'"),
                           (dict(noise_level=400), "noise_level must be from 0 to 350, not 400"),
                           (dict(tile=100), "multiple of 8"), (dict(steps=0), "steps must be from 1 to 200, not 0"),
                           (dict(tile=16), "tile must be from 32 to 512, not 16")]:
        with pytest.raises(InputError, match=words):
            upscale_video(clip, target_height=360, registry=empty_registry, **options)
    assert outputs_empty()


def test_asking_for_the_missing_diffusion_upscaler_says_how_to_install_it(clip, empty_registry):
    with pytest.raises(ModelNotInstalled, match="avatar models pull sd-x4-upscaler"):
        upscale_video(clip, target_height=360, method="sd-x4-upscaler", registry=empty_registry)
    assert outputs_empty()


# -- sizes and tiles -----------------------------------------------------------------


def test_low_res_size_is_a_quarter_of_the_target_or_the_input():
    assert low_res_size(854, 480, (1920, 1080)) == (480, 272)  # input shrunk: x4 would overshoot
    assert low_res_size(256, 144, (1920, 1080)) == (256, 144)  # x4 falls short: enlarged after
    assert low_res_size(160, 90, (640, 360)) == (160, 96)  # exactly x4, sides to multiples of 8


def test_tiles_cover_the_frame_and_blend_with_weights_that_never_vanish():
    width, height, tile = 480, 272, 128
    tiles = plan_tiles(width, height, tile)
    covered = np.zeros((height * 4, width * 4), np.float32)
    for t in tiles:
        assert t.x % 8 == t.y % 8 == 0 and t.x + t.width <= width and t.y + t.height <= height
        covered[t.y * 4:(t.y + t.height) * 4, t.x * 4:(t.x + t.width) * 4] += t.weight[..., 0]
    assert len(tiles) == 5 * 3 and covered.min() > 0
    # Inside a tile's own area the weights are full; they fade only towards a neighbour.
    assert tiles[0].weight[0, 0, 0] == 1.0 and tiles[0].weight[-1, -1, 0] < 0.01


# -- the diffusion upscaler, with a tiny model -----------------------------------------


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny-upscaler")
    save_tiny_sd_upscaler(root / MODEL_ID)
    return root


@pytest.fixture
def tiny_clip(tmp_path) -> Path:
    """Three 64x36 frames, the first two the same picture, encoded losslessly so they decode the same."""
    path = tmp_path / "tiny.mp4"
    with Mp4Writer(path, 64, 36, fps=10, speech=tone(0.3), crf=0) as writer:
        for frame in (edge_frame(0, 64, 36), edge_frame(0, 64, 36), edge_frame(5, 64, 36)):
            writer.write(frame)
    return path


@pytest.fixture
def written_frames(monkeypatch) -> list[np.ndarray]:
    """Every frame handed to the encoder, before H.264 touches it."""
    frames: list[np.ndarray] = []
    real_write = Mp4Writer.write

    def recording_write(self, rgb):
        frames.append(rgb.copy())
        real_write(self, rgb)

    monkeypatch.setattr(Mp4Writer, "write", recording_write)
    return frames


def test_diffusion_upscaling_runs_the_pipeline_seed_stable(tiny_checkpoints, tiny_clip, written_frames):
    registry = Registry(checkpoints=tiny_checkpoints)
    stages: list[tuple[str, float]] = []
    result = upscale_video(tiny_clip, target_height=144, steps=2, tile=32, registry=registry,
                           progress=lambda stage, fraction: stages.append((stage, fraction)))
    assert result.method == MODEL_ID  # "auto" takes the installed model
    assert result.manifest["model"] == {"id": MODEL_ID, "revision": "572c99286543a273bfd17fac263db5a77be12c4c"}
    assert (result.width, result.height, result.frames) == (256, 144, 3)
    with open_video(result.video_path) as video:
        assert (video.info.width, video.info.height, video.info.frames) == (256, 144, 3)
        assert video.info.has_audio

    assert len(written_frames) == 3 and written_frames[0].shape == (144, 256, 3)
    # The same input frame gives the same output frame: the noise does not change between frames.
    assert np.array_equal(written_frames[0], written_frames[1])
    assert not np.array_equal(written_frames[0], written_frames[2])
    # 64x40 low-res in 32 px tiles: 3 across, 2 down, 2 steps each, for each frame.
    steps = [stage for stage, _ in stages if stage.startswith("frame")]
    assert len(steps) == 3 * 6 * 2 and steps[:2] == ["frame 1/3: step 1/2", "frame 1/3: step 2/2"]
    assert steps[-1] == "frame 3/3: step 2/2"
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_diffusion_output_follows_the_seed(tiny_checkpoints, tiny_clip, written_frames):
    registry = Registry(checkpoints=tiny_checkpoints)
    upscale_video(tiny_clip, target_height=144, steps=2, tile=32, seed=3, registry=registry)
    upscale_video(tiny_clip, target_height=144, steps=2, tile=32, seed=3, registry=registry)
    upscale_video(tiny_clip, target_height=144, steps=2, tile=32, seed=4, registry=registry)
    assert np.array_equal(written_frames[0], written_frames[3])
    assert not np.array_equal(written_frames[0], written_frames[6])


def test_a_job_waiting_for_the_model_shows_its_place_in_line(tiny_checkpoints, tiny_clip):
    registry = Registry(checkpoints=tiny_checkpoints, max_jobs=1)
    waiting = threading.Event()
    stages: list[str] = []

    def progress(stage: str, fraction: float) -> None:
        stages.append(stage)
        if stage.startswith("waiting"):
            waiting.set()

    outcome: dict = {}

    def job() -> None:
        outcome["result"] = upscale_video(tiny_clip, target_height=144, method=MODEL_ID, steps=1, tile=32,
                                          registry=registry, progress=progress)

    with registry.use(MODEL_ID):  # another job holds the only slot
        worker = threading.Thread(target=job)
        worker.start()
        assert waiting.wait(60), "the job never reported waiting"
    worker.join(120)
    assert "waiting for another job to finish (1 in line)" in stages
    assert outcome["result"].frames == 3
