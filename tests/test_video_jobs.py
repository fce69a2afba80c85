"""The video tools as jobs: text to video, image to video, video inpainting, upscaling through the job service.

The models are the tiny real pipelines of tests/tiny_video_models.py, installed in
this test's checkpoints folder, which the jobs find through the process registry.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from avatar.errors import InputError, ModelNotInstalled
from avatar.service.jobs import JobService
from avatar.service.store import JobStore
from tests.conftest import wait_finished
from avatar.video import generate
from tests.test_video_generate import SMALL_SIZES, read_video
from tests.test_video_io import tone, write_clip
from tests.test_video_upscale import edge_frame
from tests.tiny_video_models import save_tiny_svd, save_tiny_text_to_video


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("video-models")
    save_tiny_text_to_video(folder / "text2video-ms")
    save_tiny_svd(folder / "svd-xt")
    return folder


@pytest.fixture
def installed(tiny_models):
    """Install the tiny text-to-video and image-to-video models where this test's registry looks."""
    for name in ("text2video-ms", "svd-xt"):
        (Path(os.environ["AVATAR_CHECKPOINTS"]) / name).symlink_to(tiny_models / name, target_is_directory=True)


@pytest.fixture
def service(tmp_path) -> JobService:
    return JobService(JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}"), root=tmp_path / "jobs")


@pytest.fixture
def clip(tmp_path) -> bytes:
    return write_clip(tmp_path / "clip.mp4", [edge_frame(i) for i in range(10)], fps=10, audio=tone(1.0)).read_bytes()


def _done(service: JobService, job, timeout: float = 180.0):
    job = wait_finished(service, "alice", job.id, timeout)
    assert job.status == "done", job.message
    assert job.results == ["manifest.json", "video.mp4"]
    return job, json.loads(service.result_file("alice", job.id, "manifest.json").read_text())


def _refused(service: JobService, kind: str, params: dict, files: dict, message: str, error=InputError) -> None:
    names = {"video": "my_video.mp4", "image": "my_image.jpg", "mask": "my_mask.png"}
    with pytest.raises(error) as caught:
        service.submit("alice", kind, params, files, {field: names[field] for field in files})
    assert message in str(caught.value)


def test_text_to_video(service, installed):
    job = service.submit("alice", "text_to_video", {"prompt": "a red cat", "frames": 8, "steps": 2, "width": 96,
                                                    "height": 64, "fps": 8}, {})
    assert job.queue == "gpu"
    job, manifest = _done(service, job)
    frames, fps, _ = read_video(service.result_file("alice", job.id, "video.mp4"))
    assert len(frames) == 8 and frames[0].shape == (64, 96, 3) and fps == 8.0
    assert manifest["method"] == "text2video-ms" and manifest["options"]["steps"] == 2


def test_image_to_video_from_a_file_or_a_default_avatar(service, installed, fixtures, monkeypatch):
    monkeypatch.setattr(generate, "SVD_SIZES", dict(SMALL_SIZES))
    upload = service.submit("alice", "image_to_video", {"steps": 1, "seed": 3},
                            {"image": (fixtures / "obama_small.jpg").read_bytes()})
    avatar = service.submit("alice", "image_to_video", {"avatar": "maya", "steps": 1, "orientation": "portrait"}, {})
    upload, manifest = _done(service, upload)
    assert manifest["method"] == "svd-xt" and manifest["options"]["seed"] == 3
    frames, fps, _ = read_video(service.result_file("alice", upload.id, "video.mp4"))
    assert len(frames) == 14 and frames[0].shape == (32, 64, 3) and fps == 7.0
    avatar, manifest = _done(service, avatar)
    assert (manifest["options"]["width"], manifest["options"]["height"]) == (32, 64)


def test_video_inpainting_by_box_and_by_mask_file_without_a_model(service, clip, tmp_path):
    import numpy as np
    from PIL import Image

    box = service.submit("alice", "video_inpaint", {"box": [40, 20, 80, 60], "method": "propagation"},
                         {"video": clip})
    assert box.queue == "cpu"
    mask = np.zeros((90, 160), np.uint8)
    mask[20:60, 40:80] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    masked = service.submit("alice", "video_inpaint", {}, {"video": clip, "mask": (tmp_path / "mask.png").read_bytes()})
    for job in (box, masked):
        job, manifest = _done(service, job)
        frames, fps, audio = read_video(service.result_file("alice", job.id, "video.mp4"))
        assert len(frames) == 10 and frames[0].shape == (90, 160, 3) and fps == 10.0 and audio == 1
        assert manifest["method"] == "propagation"


def test_upscaling(service, clip):
    job = service.submit("alice", "upscale", {"target_height": 180}, {"video": clip})
    assert job.queue == "cpu"
    job, manifest = _done(service, job)
    frames, _, audio = read_video(service.result_file("alice", job.id, "video.mp4"))
    assert frames[0].shape == (180, 320, 3) and audio == 1 and manifest["method"] == "lanczos+unsharp"


def test_bad_requests_are_refused_at_submit_and_store_nothing(service, clip, fixtures, tmp_path):
    _refused(service, "text_to_video", {"prompt": "a cat"}, {}, "avatar models pull text2video-ms", ModelNotInstalled)
    _refused(service, "image_to_video", {"avatar": "maya"}, {}, "svd-xt", ModelNotInstalled)
    _refused(service, "text_to_video", {"prompt": "a cat", "frames": "many"}, {}, "frames must be a whole number")
    _refused(service, "image_to_video", {}, {}, "either an image file or the name of a default avatar")
    _refused(service, "image_to_video", {"avatar": "nobody"}, {}, "nobody")
    _refused(service, "image_to_video", {}, {"image": (fixtures / "corrupt.jpg").read_bytes()},
             "Cannot read image my_image.jpg: the file is corrupt or not an image")
    _refused(service, "video_inpaint", {}, {"video": clip}, "exactly one of a mask file, a box")
    _refused(service, "video_inpaint", {"box": [1, 2, 3]}, {"video": clip},
             "box must be a list of 4 numbers, not [1, 2, 3].")
    _refused(service, "video_inpaint", {"mask_prompt": "the logo"}, {"video": clip}, "clipseg", ModelNotInstalled)
    _refused(service, "video_inpaint", {"box": [0, 0, 9, 9], "method": "sd2-inpaint"}, {"video": clip},
             "sd2-inpaint", ModelNotInstalled)
    _refused(service, "video_inpaint", {"box": [0, 0, 9, 9]}, {"video": b"not a video"},
             "Cannot read video my_video.mp4; it may be damaged or not a video.")
    _refused(service, "upscale", {"target_height": 60}, {"video": clip}, "target_height must be from 144 to 2160, not 60.")
    _refused(service, "upscale", {"method": "magic"}, {"video": clip},
             "method must be one of auto, lanczos, sd-x4-upscaler, not 'magic'.")
    _refused(service, "upscale", {"method": "sd-x4-upscaler"}, {"video": clip}, "sd-x4-upscaler", ModelNotInstalled)
    _refused(service, "upscale", {"colour": 1}, {"video": clip}, "Unknown parameter 'colour'")
    with pytest.raises(InputError, match="clip.webp is not a supported video type"):
        service.submit("alice", "upscale", {}, {"video": clip}, {"video": "../clip.webp"})
    assert service.list("alice") == [] and not list((tmp_path / "jobs").glob("*"))
