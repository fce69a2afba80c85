"""Portraits from a prompt: the real tiny pipeline, the real face detector, the retry and its message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from avatar.cli import main
from avatar.errors import InputError, ModelNotInstalled, NoFaceError
from avatar.portrait.generate import generate_portrait
from avatar.models.registry import Registry
from tests.tiny_models import save_tiny_sd



@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory) -> Path:
    return save_tiny_sd(tmp_path_factory.mktemp("sd") / "sd")


@pytest.fixture
def registry(tiny_sd, tmp_path) -> Registry:
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "sd21-base").symlink_to(tiny_sd, target_is_directory=True)
    return Registry(checkpoints=tmp_path / "ckpt", hf_cache=tmp_path / "hub")


@pytest.fixture
def face_from_seed(monkeypatch, fixtures):
    """Run the real pipeline, then swap in a real photo for one seed (a tiny UNet draws no faces)."""
    from diffusers import StableDiffusionPipeline  # after avatar's import (it makes torchaudio safe to load)

    photo = np.asarray(Image.open(fixtures / "obama.jpg").convert("RGB")).astype(np.float32) / 255.0
    original = StableDiffusionPipeline.__call__

    def install(face_seed: int):
        def call(self, *args, **kwargs):
            output = original(self, *args, **kwargs)
            if kwargs["generator"].initial_seed() == face_seed:
                output.images = photo[None]
            return output

        monkeypatch.setattr(StableDiffusionPipeline, "__call__", call)

    return install


def test_no_face_tries_next_seeds_then_says_so(registry):
    stages = []
    with pytest.raises(NoFaceError) as caught:
        generate_portrait("a portrait of a face", seed=5, steps=2, size=64, max_attempts=2,
                          progress=lambda stage, fraction: stages.append((stage, fraction)), registry=registry)
    message = str(caught.value)
    assert "2 generated image(s) (seeds 5-6)" in message and "from the front" in message and "7" in message
    assert any(s.startswith("seed 5: step 2/2") for s, _ in stages) and any(s.startswith("seed 6") for s, _ in stages)
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and max(fractions) <= 1.0


def test_face_found_on_second_seed(registry, face_from_seed):
    face_from_seed(11)
    result = generate_portrait("a portrait of a face", seed=10, steps=2, size=64, max_attempts=3, registry=registry)
    assert (result.seed, result.attempts) == (11, 2)
    assert result.image.dtype == np.uint8 and result.image.ndim == 3
    x0, y0, x1, y1 = result.face.box
    assert 0 <= x0 < x1 <= result.image.shape[1] and 0 <= y0 < y1 <= result.image.shape[0]
    assert result.face.landmarks.shape == (68, 2)


def test_same_seed_same_image(registry):
    def run():
        with registry.use("sd21-base") as pipe:
            generator = torch.Generator().manual_seed(3)
            return pipe("a face", num_inference_steps=2, height=64, width=64, generator=generator, output_type="np").images[0]

    assert np.array_equal(run(), run())


def test_missing_model_and_bad_options(tmp_path, registry):
    empty = Registry(checkpoints=tmp_path / "none", hf_cache=tmp_path / "hub")
    with pytest.raises(ModelNotInstalled, match="avatar models pull sd21-base"):
        generate_portrait("a face", registry=empty)
    with pytest.raises(InputError, match="prompt is empty"):
        generate_portrait("  ", registry=registry)
    with pytest.raises(InputError, match="multiple of 8"):
        generate_portrait("a face", size=100, registry=registry)
    with pytest.raises(InputError, match="steps must be from 1 to 150, not 0."):
        generate_portrait("a face", steps=0, registry=registry)
    with pytest.raises(InputError, match="max_attempts must be from 1 to 20, not 0."):
        generate_portrait("a face", max_attempts=0, registry=registry)


def test_cli_generate_avatar(tmp_path, tiny_sd, monkeypatch, capsys, face_from_seed):
    checkpoints = Path(__import__("os").environ["AVATAR_CHECKPOINTS"])
    (checkpoints / "sd21-base").symlink_to(tiny_sd, target_is_directory=True)
    out = tmp_path / "face.png"
    args = ["generate-avatar", "--prompt", "a face", "--seed", "4", "--steps", "2", "--size", "64", "-o", str(out)]
    assert main(args + ["--attempts", "1"]) == 2
    assert "No face" in capsys.readouterr().err and not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []
    face_from_seed(5)
    assert main(args + ["--attempts", "2"]) == 0
    assert "seed 5, attempt 2 of 2" in capsys.readouterr().out
    assert Image.open(out).size[0] > 64
    # Both runs were portrait jobs of the job service, as the page's are: listed, newest first.
    assert main(["jobs", "list"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert [(row[1], row[2]) for row in rows] == [("portrait", "done"), ("portrait", "failed")]


def test_cli_generate_avatar_missing_model(tmp_path, capsys):
    assert main(["generate-avatar", "--prompt", "a face", "-o", str(tmp_path / "f.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "avatar models pull sd21-base" in err


def test_a_portrait_job_runs_through_the_job_service(tmp_path, tiny_sd, face_from_seed):
    """The page's way: a `portrait` job; bad options and a missing model are refused at submit, nothing stored."""
    import json
    import os
    import time

    from avatar.service.jobs import JobService
    from avatar.service.store import JobStore

    service = JobService(JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}"), root=tmp_path / "jobs")
    with pytest.raises(ModelNotInstalled, match="avatar models pull sd21-base"):
        service.submit("alice", "portrait", {"prompt": "a face"}, {})
    (Path(os.environ["AVATAR_CHECKPOINTS"]) / "sd21-base").symlink_to(tiny_sd, target_is_directory=True)
    with pytest.raises(InputError, match="prompt is empty"):
        service.submit("alice", "portrait", {"prompt": " "}, {})
    with pytest.raises(InputError, match="steps must be a whole number"):
        service.submit("alice", "portrait", {"prompt": "a face", "steps": "many"}, {})
    assert service.list("alice") == [] and not list((tmp_path / "jobs").glob("*/inputs"))

    face_from_seed(8)
    job = service.submit("alice", "portrait", {"prompt": "a face", "seed": 7, "steps": 2, "size": 64}, {})
    assert job.queue == "gpu"
    deadline = time.monotonic() + 120
    while not (job := service.get("alice", job.id)).finished_state:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert job.status == "done" and job.results == ["portrait.png", "manifest.json"], job.message
    manifest = json.loads(service.result_file("alice", job.id, "manifest.json").read_text())
    assert (manifest["seed"], manifest["attempts"], manifest["options"]["steps"]) == (8, 2, 2)
    assert Image.open(service.result_file("alice", job.id, "portrait.png")).size[0] > 64  # the photo that has a face


def test_the_page_generates_a_portrait_as_a_job_and_shows_it(tiny_sd, face_from_seed):
    import os

    from streamlit.testing.v1 import AppTest

    from avatar.service import jobs
    from tests.test_models_page import _widget_app

    (Path(os.environ["AVATAR_CHECKPOINTS"]) / "sd21-base").symlink_to(tiny_sd, target_is_directory=True)
    face_from_seed(1)
    at = AppTest.from_function(_widget_app, default_timeout=120).run()
    at.slider[0].set_value(1)  # steps
    at.select_slider[0].set_value(256)  # size
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert at.image[0].proto.imgs[0].caption == "Generated portrait (seed 1, attempt 2)"
    assert at.markdown[-1].value.startswith("portrait ")
    made = jobs.get_service().list(f"session:{at.session_state['session_id']}")
    assert [(job.kind, job.status) for job in made] == [("portrait", "done")]  # on the History page too
