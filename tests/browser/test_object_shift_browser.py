"""The Object Shift page in a real browser: upload, box, move as a job, find it on History, come back to the
result, download it (classical fill)."""

from __future__ import annotations

from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from avatar.media import load_image
from tests.test_edit_scenes import centroid, disk_scene, red_pixels

pytestmark = pytest.mark.browser


def _wait_until_idle(page) -> None:
    """Wait for Streamlit's rerun to finish (the "Running..." status widget goes away)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden")


def _set_number(page, label: str, value: int) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")
    _wait_until_idle(page)


def test_object_shift_page_moves_an_object(page, streamlit_server, tmp_path):
    image, _, _ = disk_scene(center=(150, 120), radius=30)
    Image.fromarray(image).save(tmp_path / "scene.png")

    # Open the app and go to the page through its navigation, as a person would.
    page.goto(streamlit_server)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Object Shift").click()
    page.get_by_text("Upload a picture to start.").wait_for()
    assert page.get_by_role("heading", name="Object Shift").is_visible()
    assert urlparse(page.url).path.rstrip("/").endswith("/object_shift")  # the query keeps the session id
    page.locator('input[type="file"]').first.set_input_files(str(tmp_path / "scene.png"))
    page.get_by_label("Box left (x0)", exact=True).wait_for()
    _wait_until_idle(page)

    for label, value in (("Box left (x0)", 110), ("Box top (y0)", 80), ("Box right (x1)", 190), ("Box bottom (y1)", 160)):
        _set_number(page, label, value)
    page.get_by_text("Selected:").first.wait_for()
    _set_number(page, "Move right by (x, pixels; negative = left)", 50)
    _set_number(page, "Move down by (y, pixels; negative = up)", -20)

    page.get_by_role("button", name="Shift object").click()
    page.get_by_role("button", name="Download result (PNG)").wait_for()
    assert page.get_by_text("Original").first.is_visible()
    assert page.get_by_text("filled with classical:telea").first.is_visible()
    page.screenshot(path=str(tmp_path / "object_shift.png"), full_page=True)

    # The move was a job: History lists it with a thumbnail and its downloads.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="History").click()
    page.get_by_role("heading", name="History").wait_for()
    page.get_by_text("move the object by (50, -20) px").wait_for()
    # The job's box: the innermost block holding both its description and its downloads.
    row = page.get_by_test_id("stVerticalBlock").filter(
        has_text="move the object by (50, -20) px", has=page.get_by_role("button", name="result.png")).last
    row.get_by_role("button", name="mask.png").wait_for()
    row.get_by_test_id("stImage").locator("img").wait_for()  # the thumbnail
    assert row.get_by_text("Object shift").is_visible() and row.get_by_text("Done", exact=True).is_visible()
    page.screenshot(path=str(tmp_path / "history.png"), full_page=True)

    # Back on the page, the upload box is empty but the result is still there.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Object Shift").click()
    page.get_by_text("Your last result").wait_for()
    page.get_by_text("Upload a picture to start.").wait_for()
    download_button = page.get_by_role("button", name="Download result (PNG)")
    download_button.wait_for()
    page.get_by_text("filled with classical:telea").first.wait_for()
    page.screenshot(path=str(tmp_path / "object_shift_again.png"), full_page=True)

    with page.expect_download() as download_info:
        download_button.click()
    saved = tmp_path / "downloaded.png"
    download_info.value.save_as(str(saved))
    result = load_image(saved)
    assert result.shape == image.shape
    cx, cy = centroid(red_pixels(result))
    assert abs(cx - 200) <= 2 and abs(cy - 100) <= 2
    assert not red_pixels(result)[110:150, 100:140].any()  # the old place is empty
    assert np.array_equal(result[:20, :20], image[:20, :20])
