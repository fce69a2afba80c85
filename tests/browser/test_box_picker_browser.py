"""Boxes dragged on the picture in a real browser: Object Shift (the job's mask comes from the box, in the picture's
pixels), video inpainting on a frame of the video (the job is given the box, in the video's pixels), and the canvas
on a phone's width."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from avatar.media import load_image
from avatar.video_writer import Mp4Writer
from tests.test_edit_scenes import disk_scene, red_pixels

pytestmark = pytest.mark.browser
FIELDS = ("Box left (x0)", "Box top (y0)", "Box right (x1)", "Box bottom (y1)")


def _wait_until_idle(page) -> None:
    """Wait for Streamlit's rerun to finish (the "Running..." status widget goes away)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden")


def _canvas(page, picture_width: int, picture_height: int):
    """The drawing canvas once it has settled at its size for this column (the browser measures the column and the
    page draws the canvas again to fit it); its box on the screen and its scale to the picture."""
    canvas = page.locator("canvas.dc-canvas").first
    canvas.wait_for()
    box = None
    for _ in range(60):
        _wait_until_idle(page)
        page.wait_for_timeout(500)
        canvas.scroll_into_view_if_needed()  # the whole canvas on the screen, to drag on it
        settled, box = box, canvas.bounding_box()
        if settled == box:
            break
    assert abs(box["width"] / picture_width - box["height"] / picture_height) < 0.02  # not stretched
    return box, box["width"] / picture_width


def _drag_box(page, canvas_box, scale: float, box) -> None:
    """Press at the box's top-left corner (in picture pixels), drag to its bottom-right, let go."""
    x0, y0, x1, y1 = box
    left, top = canvas_box["x"], canvas_box["y"]
    page.mouse.move(left + x0 * scale, top + y0 * scale)
    page.mouse.down()
    page.mouse.move(left + (x0 + x1) / 2 * scale, top + (y0 + y1) / 2 * scale, steps=5)
    page.mouse.move(left + x1 * scale, top + y1 * scale, steps=5)
    page.mouse.up()


def _expect_fields(page, box, before, tolerance: int = 0) -> None:
    """Wait until the typed fields have taken the dragged box (they showed `before`), then compare."""
    expect(page.get_by_label(FIELDS[0], exact=True)).not_to_have_value(str(before[0]), timeout=30_000)
    _wait_until_idle(page)
    shown = tuple(int(page.get_by_label(label, exact=True).input_value()) for label in FIELDS)
    assert all(abs(a - b) <= tolerance for a, b in zip(shown, box)), (shown, box)


def _expect_box(page, box) -> None:
    """Wait until the typed fields show `box`."""
    for label, value in zip(FIELDS, box):
        expect(page.get_by_label(label, exact=True)).to_have_value(str(value), timeout=30_000)


def _download(page, button, path) -> None:
    with page.expect_download() as download_info:
        button.click()
    download_info.value.save_as(str(path))


def _open_with_picture(page, base_url: str, link: str, picture) -> None:
    page.goto(base_url)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
    page.get_by_text("Upload a picture to start.").wait_for()
    page.locator('input[type="file"]').first.set_input_files(str(picture))


def test_a_box_dragged_on_the_picture_selects_the_object(page, streamlit_server, tmp_path):
    image, _, _ = disk_scene(center=(150, 120), radius=30)
    Image.fromarray(image).save(tmp_path / "scene.png")
    _open_with_picture(page, streamlit_server, "Object Shift", tmp_path / "scene.png")
    page.get_by_text("The picture is 320x240 pixels.").wait_for()
    _expect_box(page, (80, 60, 240, 180))  # the middle half of the picture

    canvas_box, scale = _canvas(page, 320, 240)
    _drag_box(page, canvas_box, scale, (110, 80, 190, 160))
    _expect_fields(page, (110, 80, 190, 160), before=(80, 60, 240, 180))  # the canvas is 2x the picture here
    page.get_by_text("Selected:").first.wait_for()
    page.screenshot(path=str(tmp_path / "object_shift_box.png"), full_page=True)

    # A box typed in the fields is drawn and used too; an empty one is refused in one sentence, with no job.
    field = page.get_by_label("Box right (x1)", exact=True)
    field.fill("60")
    field.press("Enter")
    page.get_by_text("The box 110,80,60,160 is empty: x1 (60) must be greater than x0 (110)").wait_for()
    expect(page.get_by_role("button", name="Remove object")).to_be_disabled()
    field.fill("190")
    field.press("Enter")
    page.get_by_text("Selected:").first.wait_for()
    _wait_until_idle(page)

    page.get_by_role("button", name="Remove object").click()
    download_button = page.get_by_role("button", name="Download result (PNG)")
    download_button.wait_for()
    _download(page, download_button, tmp_path / "removed.png")
    removed = load_image(tmp_path / "removed.png")
    assert removed.shape == image.shape and not red_pixels(removed).any()  # the disk in the box is gone


def test_a_box_dragged_on_the_picture_is_the_inpainting_jobs_mask(page, streamlit_server, tmp_path):
    image, _, _ = disk_scene(center=(150, 120), radius=30)
    Image.fromarray(image).save(tmp_path / "scene.png")
    _open_with_picture(page, streamlit_server, "Inpainting", tmp_path / "scene.png")
    page.get_by_test_id("stRadio").first.get_by_text("Box", exact=True).click()
    page.get_by_text("The picture is 320x240 pixels.").wait_for()
    page.get_by_text("Only the object inside the box (GrabCut)").click()  # the whole box, so its edges are exact
    _wait_until_idle(page)

    canvas_box, scale = _canvas(page, 320, 240)
    _drag_box(page, canvas_box, scale, (40, 30, 200, 130))
    _expect_fields(page, (40, 30, 200, 130), before=(80, 60, 240, 180))
    page.get_by_text("Area to fill:").first.wait_for()
    page.get_by_role("button", name="Fill", exact=True).click()
    page.get_by_text("After (classical").first.wait_for(timeout=120_000)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="History").click()
    page.get_by_role("heading", name="History").wait_for()
    mask_button = page.get_by_role("button", name="mask.png")
    mask_button.wait_for()
    _download(page, mask_button, tmp_path / "mask.png")
    mask = load_image(tmp_path / "mask.png")[..., 0] > 127
    expected = np.zeros((240, 320), bool)
    expected[30:130, 40:200] = True
    assert np.array_equal(mask, expected)  # the job filled the dragged box, in the picture's own pixels


def _clip(path) -> None:
    """A 320x180 clip, 24 frames at 12 fps, with a white 'logo' at x 240-300, y 20-50."""
    ys, xs = np.mgrid[0:180, 0:320]
    with Mp4Writer(path, 320, 180, 12) as writer:
        for i in range(24):
            frame = np.stack([(xs + 8 * i) % 256, ys, np.full_like(xs, 128)], axis=2).astype(np.uint8)
            frame[20:50, 240:300] = 255
            writer.write(frame)


def test_a_box_dragged_on_a_video_frame_is_the_jobs_box(page, streamlit_server, tmp_path):
    _clip(tmp_path / "clip.mp4")
    page.goto(streamlit_server)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Video Tools").click()
    page.get_by_role("heading", name="Video Tools").wait_for()
    page.get_by_role("tab", name="Video inpainting").click()
    page.get_by_text("Upload a video to draw the box on one of its frames.").wait_for()
    page.get_by_role("tabpanel", name="Video inpainting").get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        str(tmp_path / "clip.mp4"))
    page.get_by_text("clip.mp4: 320x180 pixels, 24 frames at 12 fps (2.0 s).").wait_for()
    page.get_by_text("The frame is 320x180 pixels.").wait_for()
    _expect_box(page, (80, 45, 240, 135))  # the middle half of this video

    # Another frame to look at: the slider's keyboard steps, as a person would nudge it.
    slider = page.get_by_role("slider", name="Frame to look at")
    slider.wait_for()
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    expect(slider).to_have_value("5", timeout=30_000)
    _wait_until_idle(page)

    canvas_box, scale = _canvas(page, 320, 180)
    _drag_box(page, canvas_box, scale, (236, 16, 304, 54))
    _expect_fields(page, (236, 16, 304, 54), before=(80, 45, 240, 135))
    page.screenshot(path=str(tmp_path / "video_inpainting_box.png"), full_page=True)
    page.get_by_role("button", name="Fill the video").click()
    page.get_by_role("button", name="Download MP4").wait_for(timeout=120_000)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="History").click()
    page.get_by_role("heading", name="History").wait_for()
    manifest_button = page.get_by_role("button", name="manifest.json")
    manifest_button.wait_for()
    _download(page, manifest_button, tmp_path / "manifest.json")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["options"]["region"] == "box" and manifest["options"]["box"] == [236, 16, 304, 54]


def test_on_a_phone_the_canvas_fits_the_screen(browser, streamlit_server, tmp_path):
    image, _, _ = disk_scene(center=(150, 120), radius=30)
    Image.fromarray(image).save(tmp_path / "scene.png")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{streamlit_server}/object_shift")
        page.get_by_text("Upload a picture to start.").wait_for()
        page.locator('input[type="file"]').first.set_input_files(str(tmp_path / "scene.png"))
        page.get_by_text("The picture is 320x240 pixels.").wait_for()
        page.locator("canvas.dc-canvas").first.wait_for()
        # The column is measured in the browser and the canvas made to fit it (the desktop canvas is 640 px wide).
        canvas_box, scale = _canvas(page, 320, 240)
        assert canvas_box["x"] >= 0 and canvas_box["x"] + canvas_box["width"] <= 390
        _drag_box(page, canvas_box, scale, (110, 80, 190, 160))
        # A CSS pixel is not a whole number of picture pixels here: the mouse lands within one.
        _expect_fields(page, (110, 80, 190, 160), before=(80, 60, 240, 180), tolerance=1)
        page.screenshot(path=str(tmp_path / "object_shift_phone.png"), full_page=True)
    finally:
        context.close()
