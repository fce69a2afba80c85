"""The image tools as jobs: inpainting, moving or removing an object, and object masks, through the job service
(and one through the real API server)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from avatar.errors import InputError, ModelNotInstalled
from avatar.media import load_image
from avatar.service.jobs import JobService
from avatar.service.kinds import KINDS
from avatar.service.store import JobStore
from tests.conftest import wait_finished
from tests.test_edit_pages import _png
from tests.test_edit_scenes import centroid, disk_scene, iou, red_pixels
from tests.tiny_models import save_tiny_clipseg, save_tiny_sd_inpaint

OBJECT_BOX = [110, 80, 190, 160]


@pytest.fixture
def service(tmp_path) -> JobService:
    return JobService(JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}"), root=tmp_path / "jobs")


@pytest.fixture(scope="module")
def scene():
    return disk_scene(center=(150, 120), radius=30)


@pytest.fixture
def files(scene) -> dict[str, bytes]:
    image, _, mask = scene
    return {"image": _png(image), "mask": _png(mask.astype(np.uint8) * 255)}


def _done(service: JobService, job, timeout: float = 120.0):
    job = wait_finished(service, "alice", job.id, timeout)
    assert job.status == "done", job.message
    return job, json.loads(service.result_file("alice", job.id, "manifest.json").read_text())


def test_inpainting_fills_the_object_with_the_chosen_algorithm(service, files):
    job = service.submit("alice", "inpaint", {"method": "classical", "classical_algorithm": "ns"}, files)
    assert job.queue == "cpu"
    job, manifest = _done(service, job)
    assert job.results == ["result.png", "mask.png", "manifest.json"]
    assert manifest["engine"] == "classical:ns" and manifest["options"]["classical_algorithm"] == "ns"
    assert not red_pixels(load_image(service.result_file("alice", job.id, "result.png"))).any()


def test_diffusion_fills_go_to_the_gpu_queue_with_every_option(service, files, scene):
    """With a (tiny, untrained) diffusion inpainting model installed, "auto" picks it: the jobs wait for the gpu
    queue, and the manifest records the options the run was given."""
    save_tiny_sd_inpaint(Path(os.environ["AVATAR_CHECKPOINTS"]) / "dreamshaper8-inpaint")
    options = {"prompt": "a blue sky", "negative_prompt": "a cup", "seed": 7, "steps": 2, "guidance": 3.0,
               "strength": 0.9, "mask_blur": 0, "only_masked": True, "masked_padding": 8}
    fill = service.submit("alice", "inpaint", options, files)
    removed = service.submit("alice", "shift", {"remove": True, "steps": 2, "seed": 3}, files)
    assert (fill.queue, removed.queue) == ("gpu", "gpu")
    fill, manifest = _done(service, fill)
    assert manifest["engine"] == "dreamshaper8-inpaint" and manifest["task"] == "inpaint"
    assert {name: manifest["options"][name] for name in options} == options
    removed, manifest = _done(service, removed)
    assert manifest["engine"] == "dreamshaper8-inpaint" and manifest["task"] == "remove"
    assert (manifest["options"]["steps"], manifest["options"]["seed"]) == (2, 3)
    for job in (fill, removed):
        assert load_image(service.result_file("alice", job.id, "result.png")).shape == scene[0].shape


def test_shift_moves_and_remove_takes_out(service, files):
    moved = service.submit("alice", "shift", {"dx": 60, "dy": -30}, files)
    removed = service.submit("alice", "shift", {"remove": True}, files)
    moved, manifest = _done(service, moved)
    assert manifest["task"] == "shift" and (manifest["dx"], manifest["dy"]) == (60, -30)
    cx, cy = centroid(red_pixels(load_image(service.result_file("alice", moved.id, "result.png"))))
    assert abs(cx - 210) <= 2 and abs(cy - 90) <= 2
    removed, manifest = _done(service, removed)
    assert manifest["task"] == "remove"
    assert not red_pixels(load_image(service.result_file("alice", removed.id, "result.png"))).any()
    # A move by (0, 0) is a removal: the object leaves its place and goes nowhere.
    still, manifest = _done(service, service.submit("alice", "shift", {"dx": 0, "dy": 0}, files))
    assert manifest["task"] == "remove" and not red_pixels(load_image(service.result_file("alice", still.id, "result.png"))).any()
    assert [KINDS["shift"].describe(job.params) for job in (moved, removed, still)] == [
        "move the object by (60, -30) px", "remove the object", "remove the object"]


def test_masks_from_a_box_and_from_clicks(service, scene):
    image, _, truth = scene
    by_box = service.submit("alice", "mask", {"box": OBJECT_BOX}, {"image": _png(image)})
    by_clicks = service.submit("alice", "mask", {"points": [[150, 120]], "background_points": [[20, 20]]},
                               {"image": _png(image)})
    for job in (by_box, by_clicks):
        assert job.queue == "cpu"
        job, manifest = _done(service, job)
        assert job.results == ["mask.png", "manifest.json"] and manifest["task"] == "mask"
        mask = load_image(service.result_file("alice", job.id, "mask.png"))[..., 0] > 127
        assert iou(mask, truth) > 0.8


def test_a_mask_from_text_runs_the_installed_segmenter(service, scene, tmp_path):
    """A tiny untrained CLIPSeg runs through the job; the manifest says whether its scores passed the threshold and,
    when none did, that the mask is the best guess."""
    save_tiny_clipseg(Path(os.environ["AVATAR_CHECKPOINTS"]) / "clipseg")
    job = service.submit("alice", "mask", {"prompt": "the red disk", "threshold": 0.99}, {"image": _png(scene[0])})
    assert job.queue == "gpu"
    job, manifest = _done(service, job)
    assert manifest["matched"] == (manifest["best_score"] >= 0.99)
    assert [n.startswith("Nothing in the image matched") for n in manifest["notices"]] == (
        [] if manifest["matched"] else [True])
    assert job.results == ["mask.png", "manifest.json"]


def test_bad_requests_are_refused_at_submit_and_store_nothing(service, files, fixtures, tmp_path):
    empty = _png(np.zeros((240, 320), np.uint8))
    for kind, params, given, message in [
        ("inpaint", {"method": "magic"}, files, "method must be one of auto, sd, classical, dreamshaper8-inpaint, "
                                                "sd2-inpaint, not 'magic'."),
        ("inpaint", {"steps": "many"}, files, "steps must be a whole number"),
        ("inpaint", {"strength": 2}, files, "strength must be from 0 to 1, not 2."),
        ("inpaint", {"strength": 0}, files, "Strength 0 with 25 steps leaves no step to paint"),
        ("inpaint", {"seed": -1}, files, "seed must be from 0 to 4294967295, not -1."),
        ("inpaint", {}, {"image": files["image"]}, "needs a mask file"),
        ("inpaint", {}, {**files, "mask": empty}, "empty"),
        ("inpaint", {}, {**files, "image": (fixtures / "corrupt.jpg").read_bytes()}, "Cannot read image"),
        ("shift", {"dx": 5, "remove": True}, files, "Give either a move (dx, dy) or remove: true, not both"),
        ("shift", {"dx": 5, "pad": 999}, files, "pad must be from 0 to 200, not 999."),
        ("shift", {"dx": 5, "classical_algorithm": "blur"}, files, "classical_algorithm must be one of telea, ns"),
        ("shift", {"remove": "yes"}, files, "remove must be true or false"),
        ("mask", {}, {"image": files["image"]}, "exactly one way to select"),
        ("mask", {"box": [1, 2]}, {"image": files["image"]}, "box must be a list of 4 numbers, not [1, 2]."),
        ("mask", {"box": [1, 2, 3, 4], "points": [[5, 6]]}, {"image": files["image"]}, "exactly one way to select"),
        ("mask", {"prompt": "cup", "threshold": 1}, {"image": files["image"]}, "threshold must be between 0 and 1"),
        ("mask", {"points": [5, 6]}, {"image": files["image"]}, "a list of [x, y] pixel positions"),
        ("mask", {"prompt": " "}, {"image": files["image"]}, "Describe the object to select"),
    ]:
        with pytest.raises(InputError) as caught:
            service.submit("alice", kind, params, given)
        assert message in str(caught.value), (kind, params, str(caught.value))
    with pytest.raises(ModelNotInstalled, match="avatar models pull sd2-inpaint"):
        service.submit("alice", "inpaint", {"method": "sd2-inpaint"}, files)
    with pytest.raises(ModelNotInstalled, match="avatar models pull clipseg"):
        service.submit("alice", "mask", {"prompt": "the cup"}, {"image": files["image"]})
    assert service.list("alice") == [] and not list((tmp_path / "jobs").glob("*"))


def test_an_inpainting_job_through_the_api(tmp_path, files):
    from tests.test_api import Server, _follow, _submit

    server = Server(tmp_path).start()
    try:
        with server.client() as client:
            bad = _submit(client, {"method": "classical"}, files={"image": ("photo.png", files["image"], "image/png")},
                          kind="inpaint")
            assert bad.status_code == 422 and bad.json()["detail"] == "The inpainting job needs a mask file."
            response = _submit(client, {"method": "classical"}, kind="inpaint", files={
                "image": ("photo.png", files["image"], "image/png"), "mask": ("mask.png", files["mask"], "image/png")})
            assert response.status_code == 202
            job_id = response.json()["id"]
            assert _follow(client, job_id)[-1]["status"] == "done"
            result = client.get(f"/v1/jobs/{job_id}/files/result.png")
            assert result.status_code == 200 and result.content.startswith(b"\x89PNG")
    finally:
        server.stop()
