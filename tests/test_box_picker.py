"""The box picker (ui/box_picker.py) shared by Object Shift, Inpainting and video inpainting: canvas <-> picture
pixels, defaults, and the one sentence for a box that cannot be used; and the video frame it is drawn on
(ui/video_frame.py). The drag itself is in tests/browser/test_box_picker_browser.py."""

from __future__ import annotations

import io
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from avatar.service.jobs import get_service
from avatar.video.io import open_video
from avatar.video_writer import Mp4Writer
from tests.conftest import page_job_record
from tests.test_edit_scenes import disk_scene
from tests.test_talking_avatar_page import _patch_upload
from ui.box_picker import (MAX_CANVAS_HEIGHT, MAX_ENLARGEMENT, box_problem, box_to_rect, canvas_size, centred_box,
                           draw_box, drawn_box, rect_to_box)

PAGES = Path(__file__).resolve().parent.parent / "app_pages"
CORNERS = ("x0", "y0", "x1", "y1")


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


# Geometry ----------------------------------------------------------------------

def test_default_box_is_the_middle_half():
    assert centred_box(320, 240) == (80, 60, 240, 180)
    assert centred_box(160, 90) == (40, 22, 120, 67)
    assert centred_box(1, 1) == (0, 0, 1, 1)


def test_canvas_fits_the_column_and_a_tall_picture_fits_the_screen():
    assert canvas_size(320, 240, 358) == (358, 268)  # a phone's column
    assert canvas_size(1920, 1080, 704) == (704, 396)  # a desktop's column
    width, height = canvas_size(1000, 3000, 704)
    assert height == MAX_CANVAS_HEIGHT and width == round(1000 * MAX_CANVAS_HEIGHT / 3000)
    assert canvas_size(160, 90, 704) == (round(160 * MAX_ENLARGEMENT), round(90 * MAX_ENLARGEMENT))


@pytest.mark.parametrize("size, room", [((320, 240), 358), ((1920, 1080), 704), ((160, 90), 704), ((37, 1001), 390)])
def test_a_box_drawn_on_the_canvas_comes_back_in_picture_pixels(size, room):
    width, height = size
    canvas_width, canvas_height = canvas_size(width, height, room)
    scale_x, scale_y = canvas_width / width, canvas_height / height
    rng = np.random.default_rng(width)
    for _ in range(50):
        x0, x1 = sorted(int(v) for v in rng.integers(0, width + 1, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, height + 1, 2))
        rect = box_to_rect((x0, y0, x1, y1), scale_x, scale_y)
        # What the browser sends back has its numbers rounded (Fabric.js keeps a few decimals).
        sent = {**rect, **{k: round(rect[k], 2) for k in ("left", "top", "width", "height")}}
        assert rect_to_box(sent, scale_x, scale_y, width, height) == (x0, y0, x1, y1)


def test_a_moved_or_resized_box_and_one_past_the_edge():
    # Resized with the canvas's edit tool: width/height stay, scaleX/scaleY change.
    rect = {"type": "Rect", "left": 20, "top": 10, "width": 50, "height": 40, "scaleX": 2, "scaleY": 0.5}
    assert rect_to_box(rect, 2.0, 2.0, 320, 240) == (10, 5, 60, 15)
    # Centred origin (newer Fabric.js default).
    rect = {"type": "Rect", "left": 100, "top": 100, "width": 40, "height": 20, "originX": "center", "originY": "center"}
    assert rect_to_box(rect, 1.0, 1.0, 320, 240) == (80, 90, 120, 110)
    # Dragged past the picture's edge: clipped to it.
    rect = {"type": "Rect", "left": -30, "top": 200, "width": 100, "height": 100}
    assert rect_to_box(rect, 1.0, 1.0, 320, 240) == (0, 200, 70, 240)


def test_the_newest_rectangle_is_the_box():
    state = {"drawing": {"raw": {"objects": [
        {"type": "Rect", "left": 0, "top": 0, "width": 10, "height": 10},
        {"type": "Path", "left": 5, "top": 5},
        {"type": "Rect", "left": 20, "top": 30, "width": 40, "height": 50},
    ]}}}
    assert drawn_box(state, 1.0, 1.0, 320, 240) == (20, 30, 60, 80)
    assert drawn_box({"drawing": {"raw": {"objects": []}}}, 1.0, 1.0, 320, 240) is None
    assert drawn_box(None, 1.0, 1.0, 320, 240) is None


def test_one_sentence_for_a_box_that_cannot_be_used():
    assert box_problem((10, 10, 50, 50), 320, 240) is None
    assert box_problem((0, 0, 320, 240), 320, 240) is None
    assert box_problem((110, 80, 60, 160), 320, 240) == (
        "The box 110,80,60,160 is empty: x1 (60) must be greater than x0 (110); drag a box on the picture or correct "
        "the numbers.")
    assert "y1 (80) must be greater than y0 (80)" in box_problem((10, 80, 50, 80), 320, 240)
    assert box_problem((10, 10, 400, 50), 320, 240, noun="frame") == (
        "The box 10,10,400,50 reaches outside the 320x240 frame: keep x between 0 and 320 and y between 0 and 240.")


def test_where_the_canvas_cannot_be_the_box_is_drawn_on_the_picture():
    image = np.zeros((40, 60, 3), np.uint8)
    shown = draw_box(image, (10, 5, 30, 25))
    outline = np.any(shown != 0, axis=2)
    assert outline[5, 10:30].all() and outline[24, 10:30].all() and outline[5:25, 10].all() and outline[5:25, 29].all()
    assert not outline[6:24, 11:29].any() and not outline[:5].any()


# The image pages ---------------------------------------------------------------

def _fields(at: AppTest, key: str) -> tuple[int, ...]:
    return tuple(int(at.number_input(key=f"{key}_{c}").value) for c in CORNERS)


def _set_box(at: AppTest, key: str, box) -> None:
    for corner, value in zip(CORNERS, box):
        at.number_input(key=f"{key}_{corner}").set_value(value)
    at.run()


def test_object_shift_starts_with_the_middle_box_and_refuses_an_empty_one():
    image, _, _ = disk_scene(center=(150, 120), radius=30)
    at = AppTest.from_file(str(PAGES / "object_shift.py"), default_timeout=60).run()
    at.file_uploader(key="shift_upload").set_value(("scene.png", _png(image), "image/png")).run()
    assert not at.exception and not at.error
    assert _fields(at, "shift") == (80, 60, 240, 180)
    assert any(c.value.startswith("The picture is 320x240 pixels. Drag a box around the object") for c in at.caption)
    assert [n.label for n in at.number_input][:4] == ["Box left (x0)", "Box top (y0)", "Box right (x1)", "Box bottom (y1)"]
    assert any(caption.startswith("Selected: ") for element in at.image for caption in element.captions)

    _set_box(at, "shift", (110, 80, 60, 160))
    assert [e.value for e in at.error] == ["The box 110,80,60,160 is empty: x1 (60) must be greater than x0 (110); "
                                           "drag a box on the picture or correct the numbers."]
    assert not any(c.startswith("Selected: ") for e in at.image for c in e.captions)
    assert at.button[0].disabled and at.button[1].disabled  # nothing to shift or remove: no job can be queued

    # Another picture, of another size: the box starts again in its middle.
    other = np.full((100, 200, 3), 200, np.uint8)
    at.file_uploader(key="shift_upload").set_value(("other.png", _png(other), "image/png")).run()
    assert not at.exception and _fields(at, "shift") == (50, 25, 150, 75)


def test_inpainting_box_mode_uses_the_same_picker():
    image, _, _ = disk_scene(center=(150, 120), radius=30)
    at = AppTest.from_file(str(PAGES / "inpainting.py"), default_timeout=60).run()
    at.file_uploader(key="inpaint_upload").set_value(("scene.png", _png(image), "image/png")).run()
    at.radio(key="inpaint_mask_by").set_value("Box").run()
    assert not at.exception and not at.error
    assert _fields(at, "inpaint") == (80, 60, 240, 180)
    assert any(c.value.startswith("The picture is 320x240 pixels. Drag a box around the area to fill") for c in at.caption)
    at.checkbox(key="inpaint_grabcut").uncheck().run()
    assert any(c.startswith("Area to fill: 25.0% of the picture") for e in at.image for c in e.captions)

    _set_box(at, "inpaint", (100, 150, 200, 150))
    assert [e.value for e in at.error] == ["The box 100,150,200,150 is empty: y1 (150) must be greater than y0 (150); "
                                           "drag a box on the picture or correct the numbers."]
    assert next(b for b in at.button if b.label == "Fill").disabled


# Video inpainting ----------------------------------------------------------------

VIDEO_PAGE = str(PAGES / "video_tools.py")


@pytest.fixture
def clip(tmp_path):
    """A 160x90 clip of 8 frames at 10 fps, each frame a different shade, so a frame can be told apart."""
    path = tmp_path / "clip.mp4"
    ys, xs = np.mgrid[0:90, 0:160]
    with Mp4Writer(path, 160, 90, 10) as writer:
        for i in range(8):
            writer.write(np.stack([(xs * 2 + 6 * i) % 256, ys * 2, np.full_like(xs, 30 * i)], axis=2).astype(np.uint8))
    return path


def _video_page(monkeypatch, clip) -> AppTest:
    _patch_upload(monkeypatch, clip, "video/mp4")
    at = AppTest.from_file(VIDEO_PAGE, default_timeout=240).run()
    assert not at.exception
    return at


def _fill(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Fill the video").click().run()
    assert not at.exception


def test_video_inpainting_shows_the_frame_size_and_a_box_in_its_middle(monkeypatch, clip):
    at = _video_page(monkeypatch, clip)
    assert at.radio(key="vinpaint_by").value == "Box"
    assert "clip.mp4: 160x90 pixels, 8 frames at 10 fps (0.8 s)." in [c.value for c in at.caption]
    frame = next(s for s in at.slider if s.label == "Frame to look at")
    assert (frame.min, frame.max, frame.value) == (0, 7, 0)
    assert any(c.value.startswith("The frame is 160x90 pixels. Drag a box around the area to fill") for c in at.caption)
    assert _fields(at, "vinpaint_box") == (40, 22, 120, 67)  # the middle half of this video, not a fixed box

    frame.set_value(5).run()  # another frame to look at: the box stays
    assert not at.exception and _fields(at, "vinpaint_box") == (40, 22, 120, 67)
    _fill(at)
    assert not at.error
    job, manifest = page_job_record(at, "vinpaint_job")
    assert job.params["box"] == [40, 22, 120, 67] and manifest["method"] == "propagation"


def test_video_inpainting_refuses_a_box_outside_the_frame_before_any_job(monkeypatch, clip):
    at = _video_page(monkeypatch, clip)
    _set_box(at, "vinpaint_box", (100, 50, 100, 80))
    sentence = ("The box 100,50,100,80 is empty: x1 (100) must be greater than x0 (100); drag a box on the frame or "
                "correct the numbers.")
    assert [e.value for e in at.error] == [sentence]
    _fill(at)
    assert [e.value for e in at.error] == [sentence]  # said once, and nothing was queued
    assert "vinpaint_job" not in at.session_state
    assert get_service().list(f"session:{at.session_state['session_id']}") == []


def test_video_inpainting_without_a_video_says_to_upload_one():
    at = AppTest.from_file(VIDEO_PAGE, default_timeout=240).run()
    assert "Upload a video to draw the box on one of its frames." in [i.value for i in at.info]
    _fill(at)
    assert "Upload a video first." in [e.value for e in at.error]


def test_the_frame_shown_is_the_tools_frame(clip):
    """The frame the slider picks is the frame the job works on (upright, at the video's frame rate)."""
    from ui.video_frame import _frame

    data = clip.read_bytes()
    with open_video(data, name="clip.mp4") as video:
        expected = next(islice(video.frames(), 5, None))
    assert np.array_equal(_frame(data, "clip.mp4", 5), expected)


def test_the_box_is_kept_while_another_way_of_selecting_is_shown():
    image, _, _ = disk_scene(center=(150, 120), radius=30)
    at = AppTest.from_file(str(PAGES / "object_shift.py"), default_timeout=60).run()
    at.file_uploader(key="shift_upload").set_value(("scene.png", _png(image), "image/png")).run()
    _set_box(at, "shift", (110, 80, 190, 160))
    at.radio(key="shift_select_by").set_value("Describe it").run()
    assert not at.exception and not [n for n in at.number_input if n.key and n.key.startswith("shift_x")]
    at.radio(key="shift_select_by").set_value("Box").run()
    assert not at.exception and _fields(at, "shift") == (110, 80, 190, 160)
