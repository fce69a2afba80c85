"""The Video Tools page through Streamlit's AppTest (no browser)."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from avatar.service.jobs import get_service
from avatar.video_writer import Mp4Writer
from tests.conftest import PROJECT_DIR, button_labelled, page_job_record, started_page
from tests.test_talking_avatar_page import _patch_upload

PAGE = str(PROJECT_DIR / "app_pages" / "video_tools.py")


@pytest.fixture
def app() -> AppTest:
    return started_page(PAGE)


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.mp4"
    ys, xs = np.mgrid[0:90, 0:160]
    with Mp4Writer(path, 160, 90, 10) as writer:
        for i in range(8):
            writer.write(np.stack([(xs * 2 + 6 * i) % 256, ys * 2, np.full_like(xs, 90)], axis=2).astype(np.uint8))
    return path



def test_generation_tabs_say_how_to_install_their_models(app):
    texts = " ".join(i.value for i in app.info)
    assert "avatar models pull text2video-ms" in texts and "avatar models pull svd-xt" in texts


def test_upscaling_tab_upscales_an_uploaded_video(app, clip, monkeypatch):
    _patch_upload(monkeypatch, clip, "video/mp4")
    app.run()
    app.radio(key="upscale_height").set_value(720)
    button_labelled(app, "Upscale").click().run()
    assert not app.exception and not app.error
    job, manifest = page_job_record(app, "upscale_job")
    assert manifest["video"] == {"width": 1280, "height": 720, "fps": 10.0, "frames": 8}
    assert manifest["method"] == "lanczos+unsharp" and manifest["inputs"]["video"]["name"] == "clip.mp4"
    assert job.kind == "upscale" and job.queue == "cpu"
    assert any(b.label == "Download MP4" for b in app.get("download_button"))
    assert any(c.value.startswith("8 frames, 1280x720 at 10 fps; made with lanczos+unsharp") for c in app.caption)

    reloaded = AppTest.from_file(PAGE, default_timeout=240)  # the same session after a reload: the result is back
    reloaded.query_params["s"] = app.session_state["session_id"]
    reloaded.run()
    assert reloaded.session_state["upscale_job"] == job.id  # found again: the session's newest upscaling job
    assert any(b.label == "Download MP4" for b in reloaded.get("download_button"))


def test_inpainting_tab_fills_a_box_without_a_model(app, clip, monkeypatch):
    _patch_upload(monkeypatch, clip, "video/mp4")
    app.run()
    app.radio(key="vinpaint_by").set_value("Box").run()
    for key, value in (("vinpaint_box_x0", 40), ("vinpaint_box_y0", 20), ("vinpaint_box_x1", 80), ("vinpaint_box_y1", 50)):
        app.number_input(key=key).set_value(value)
    button_labelled(app, "Fill the video").click().run()
    assert not app.exception and not app.error
    job, manifest = page_job_record(app, "vinpaint_job")
    assert manifest["method"] == "propagation" and manifest["video"]["frames"] == 8 and job.queue == "cpu"
    assert job.params["box"] == [40, 20, 80, 50]


def test_a_corrupt_video_shows_one_clear_error(app, fixtures, monkeypatch):
    _patch_upload(monkeypatch, fixtures / "corrupt.wav", "video/mp4")
    app.run()
    button_labelled(app, "Upscale").click().run()
    assert not app.exception
    # The patched uploader hands the file to both tabs that take a video: video inpainting refuses it on upload
    # (it reads a frame to draw on), upscaling at its button; each says the same one sentence.
    assert [e.value for e in app.error] == 2 * ["corrupt.wav is not a supported video type; use one of: .mp4, .mov, "
                                                ".webm, .mkv, .avi."]
    assert "upscale_job" not in app.session_state
    assert get_service().list(f"session:{app.session_state['session_id']}") == []  # refused at submit


def test_text_to_video_tab_estimates_the_time_then_runs_the_installed_model(tmp_path, monkeypatch):
    """With a (tiny) text2video-ms in the checkpoints folder the tab offers the tool and says how long it takes."""
    from tests.tiny_video_models import save_tiny_text_to_video

    checkpoints = tmp_path / "checkpoints"
    save_tiny_text_to_video(checkpoints / "text2video-ms")
    monkeypatch.setenv("AVATAR_CHECKPOINTS", str(checkpoints))
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.run()
    assert not at.exception
    assert any("A run takes roughly" in c.value for c in [*at.caption, *at.warning])
    at.text_area(key="t2v_prompt").input("a small red square")
    at.slider(key="t2v_frames").set_value(8)
    at.slider(key="t2v_steps").set_value(2)
    at.select_slider(key="t2v_size").set_value(128)
    button_labelled(at, "Generate clip").click().run()
    assert not at.exception and not at.error
    job, manifest = page_job_record(at, "t2v_job")
    assert manifest["video"]["frames"] == 8 and (manifest["video"]["width"], manifest["video"]["height"]) == (128, 128)
    assert manifest["method"] == "text2video-ms" and job.queue == "gpu"
