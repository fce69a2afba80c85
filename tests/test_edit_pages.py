"""The Inpainting and Object Shift pages through Streamlit's AppTest (no browser)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from avatar.edit.masks import mask_pad
from avatar.media import load_image
from avatar.service.jobs import job_folder
from tests.conftest import page_job_record, wait_finished
from tests.test_edit_scenes import centroid, disk_scene, red_pixels
from tests.tiny_models import save_tiny_sd_inpaint

PAGES = Path(__file__).resolve().parent.parent / "app_pages"


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _shown(at: AppTest, key: str):
    """The page's finished job, its manifest and its result picture."""
    job, manifest = page_job_record(at, key)
    assert job.results == ["result.png", "mask.png", "manifest.json"]
    return job, manifest, job_folder(job.id) / "results" / "result.png"


def _opened_again(page: str, key: str, at: AppTest, session: str | None = None) -> AppTest:
    """The page opened again in the same browser session (the upload box is empty, the session state is kept)."""
    again = AppTest.from_file(str(PAGES / page), default_timeout=60)
    again.query_params["s"] = session or at.session_state["session_id"]
    again.session_state[key] = at.session_state[key]
    again.run()
    _no_exceptions(again)
    assert again.info[0].value == "Upload a picture to start."
    return again


@pytest.fixture
def scene():
    return disk_scene(center=(150, 120), radius=30)


def _shift_page(image: np.ndarray) -> AppTest:
    at = AppTest.from_file(str(PAGES / "object_shift.py"), default_timeout=60).run()
    assert at.info[0].value == "Upload a picture to start."
    at.file_uploader(key="shift_upload").set_value(("scene.png", _png(image), "image/png")).run()
    _no_exceptions(at)
    return at


def _select_box(at: AppTest, box) -> None:
    for key, value in zip(("shift_x0", "shift_y0", "shift_x1", "shift_y1"), box):
        at.number_input(key=key).set_value(value)


def test_object_shift_page_moves_the_object(scene):
    image, _, mask = scene
    at = _shift_page(image)
    _select_box(at, (110, 80, 190, 160))
    at.number_input(key="shift_dx").set_value(60)
    at.number_input(key="shift_dy").set_value(-30).run()
    assert any(caption.startswith("Selected: ") for element in at.image for caption in element.captions)
    at.button[0].click().run()
    _no_exceptions(at)
    assert not at.error
    job, manifest, path = _shown(at, "shift_job")
    assert manifest["task"] == "shift" and manifest["engine"] == "classical:telea" and job.queue == "cpu"
    assert (manifest["dx"], manifest["dy"]) == (60, -30) and job.kind == "shift"
    result = load_image(path)
    cx, cy = centroid(red_pixels(result))
    assert abs(cx - 210) <= 2 and abs(cy - 90) <= 2
    assert at.get("download_button")
    captions = [caption for element in at.image for caption in element.captions]
    assert "Original" in captions and any(c.startswith("Shift (filled with") for c in captions)

    # Back on the page later: the same result, drawn from the job (its picture, its result, its download).
    again = _opened_again("object_shift.py", "shift_job", at)
    assert [h.value for h in again.subheader] == ["Your last result"] and not again.error
    assert [c for e in again.image for c in e.captions] == captions[-2:]
    assert again.get("download_button")
    # Another browser session holding the id sees nothing of it.
    stranger = _opened_again("object_shift.py", "shift_job", at, session="f" * 32)
    assert not stranger.subheader and not stranger.get("download_button") and not stranger.error


def test_object_shift_page_removes_the_object(scene):
    image, _, _ = scene
    at = _shift_page(image)
    _select_box(at, (110, 80, 190, 160))
    at.run()
    assert at.button[0].disabled and not at.button[1].disabled  # no move set: only removal
    at.number_input(key="shift_dx").set_value(40).run()  # a move set on the page is not part of a removal
    at.button[1].click().run()
    _no_exceptions(at)
    job, manifest, path = _shown(at, "shift_job")
    assert manifest["task"] == "remove" and job.params["remove"] is True and "dx" not in job.params
    assert not red_pixels(load_image(path)).any()


def test_image_pages_find_their_last_job_again_after_a_reload(scene):
    """A reload is a new browser session on the same address: the page remembers nothing, and finds the session's
    newest job of its kind (not a failed one) to show again."""
    from avatar.service.jobs import get_service

    image, _, mask = scene
    at = _shift_page(image)
    _select_box(at, (110, 80, 190, 160))
    at.number_input(key="shift_dx").set_value(60).run()
    at.button[0].click().run()
    job, _, _ = _shown(at, "shift_job")
    session = at.session_state["session_id"]
    owner = f"session:{session}"
    files = {"image": _png(image), "mask": _png(mask.astype(np.uint8) * 255)}
    inpainted = wait_finished(get_service(), owner, get_service().submit(
        owner, "inpaint", {"method": "classical"}, files).id)
    failed = wait_finished(get_service(), owner, get_service().submit(  # newer, but failed: not shown
        owner, "shift", {"dx": 320}, files).id)
    assert failed.status == "failed"

    for page, key, found in (("object_shift.py", "shift_job", job), ("inpainting.py", "inpaint_job", inpainted)):
        reloaded = AppTest.from_file(str(PAGES / page), default_timeout=60)
        reloaded.query_params["s"] = session
        reloaded.run()
        _no_exceptions(reloaded)
        assert reloaded.session_state[key] == found.id and not reloaded.error
        assert [h.value for h in reloaded.subheader] == ["Your last result"] and reloaded.get("download_button")
    # Another session's address finds none of them.
    stranger = AppTest.from_file(str(PAGES / "object_shift.py"), default_timeout=60)
    stranger.query_params["s"] = "f" * 32
    stranger.run()
    assert not stranger.subheader and not stranger.get("download_button")


def test_object_shift_page_explains_bad_input(scene, fixtures):
    image, _, _ = scene
    at = _shift_page(image)
    _select_box(at, (110, 80, 190, 160))
    at.number_input(key="shift_dx").set_value(320).run()
    at.button[0].click().run()
    assert "entirely outside" in at.error[0].value
    # Text selection without CLIPSeg says how to install it and offers the box.
    at.radio(key="shift_select_by").set_value("Describe it").run()
    at.text_input(key="shift_prompt").set_value("the red disk").run()
    assert "avatar models pull clipseg" in at.error[0].value and "box" in at.error[0].value
    # An unreadable picture is one sentence, not a traceback.
    at = AppTest.from_file(str(PAGES / "object_shift.py"), default_timeout=60).run()
    at.file_uploader(key="shift_upload").set_value(("corrupt.jpg", (fixtures / "corrupt.jpg").read_bytes(), "image/jpeg")).run()
    _no_exceptions(at)
    assert "Cannot read image" in at.error[0].value


def _inpaint_page(image: np.ndarray) -> AppTest:
    at = AppTest.from_file(str(PAGES / "inpainting.py"), default_timeout=60).run()
    at.file_uploader(key="inpaint_upload").set_value(("scene.png", _png(image), "image/png")).run()
    _no_exceptions(at)
    return at


def test_inpainting_page_with_an_uploaded_mask_of_another_size(scene):
    image, background, mask = scene
    at = _inpaint_page(image)
    at.radio(key="inpaint_mask_by").set_value("Upload a mask").run()
    grown = mask_pad(mask, 4)  # so the half-size copy still covers the rim
    half = np.asarray(Image.fromarray(grown.astype(np.uint8) * 255).resize((160, 120), Image.Resampling.NEAREST))
    at.file_uploader(key="inpaint_mask_upload").set_value(("mask.png", _png(half), "image/png")).run()
    assert "resized" in at.info[0].value
    # Nothing installed: the diffusion models are listed as missing, classical is chosen.
    method = at.selectbox(key="inpaint_method")
    assert method.value == "Classical (no model: OpenCV)"
    assert any("not installed" in option for option in method.options)
    classical = at.selectbox(key="inpaint_classical")
    assert "Navier-Stokes (fluid-style; fast, smooth)" in classical.options and classical.value == "telea"
    classical.set_value("ns").run()
    at.button[0].click().run()
    _no_exceptions(at)
    job, manifest, path = _shown(at, "inpaint_job")
    assert manifest["engine"] == "classical:ns" and job.params["classical_algorithm"] == "ns" and job.queue == "cpu"
    assert not red_pixels(load_image(path)).any()
    assert any(c.startswith("After (classical:ns") for e in at.image for c in e.captions)
    again = _opened_again("inpainting.py", "inpaint_job", at)
    assert [h.value for h in again.subheader] == ["Your last result"] and again.get("download_button")
    assert [c for e in again.image for c in e.captions][:1] == ["Before"]


def test_inpainting_page_missing_model_is_explained_and_cannot_run(scene):
    image, _, _ = scene
    at = _inpaint_page(image)
    at.radio(key="inpaint_mask_by").set_value("Box").run()
    at.selectbox(key="inpaint_method").set_value("Stable Diffusion 2 inpainting (sd2-inpaint, not installed)").run()
    assert "avatar models pull sd2-inpaint" in at.warning[0].value
    assert at.button[0].disabled


def test_inpainting_page_with_a_diffusion_model(scene, tmp_path, monkeypatch):
    save_tiny_sd_inpaint(tmp_path / "checkpoints" / "dreamshaper8-inpaint")
    monkeypatch.setenv("AVATAR_CHECKPOINTS", str(tmp_path / "checkpoints"))
    image, _, _ = scene
    at = _inpaint_page(image)
    at.radio(key="inpaint_mask_by").set_value("Box").run()
    assert at.selectbox(key="inpaint_method").value.startswith("DreamShaper 8 inpainting")
    at.text_input(key="inpaint_prompt").set_value("a blue sky")
    at.slider(key="inpaint_steps").set_value(5)
    at.run()
    at.button[0].click().run()
    _no_exceptions(at)
    job, manifest, path = _shown(at, "inpaint_job")
    assert manifest["engine"] == "dreamshaper8-inpaint" and job.queue == "gpu" and job.params["prompt"] == "a blue sky"
    assert load_image(path).shape == image.shape


def test_inpainting_page_empty_mask(scene):
    image, _, _ = scene
    at = _inpaint_page(image)
    at.radio(key="inpaint_mask_by").set_value("Upload a mask").run()
    at.file_uploader(key="inpaint_mask_upload").set_value(("m.png", _png(np.zeros((240, 320), np.uint8)), "image/png")).run()
    assert any("empty" in info.value for info in at.info)
    assert at.button[0].disabled
