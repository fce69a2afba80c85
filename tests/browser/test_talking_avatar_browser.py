"""The Talking Avatar page in a real Chromium against `streamlit run`."""

from __future__ import annotations


import av
import pytest

from tests.browser.conftest import generate_and_fetch

pytestmark = pytest.mark.browser


def test_default_avatar_sentence_generate_and_fetch_video(page, streamlit_server, tmp_path):
    page.goto(streamlit_server)
    page.get_by_text("Pick a portrait, give it a voice").wait_for()
    page.get_by_text("Astronaut", exact=True).first.click()
    text = page.get_by_label("What should the avatar say?")
    text.fill("Hello from the browser test.")
    text.press("Control+Enter")
    path = generate_and_fetch(page, streamlit_server, tmp_path / "fetched.mp4")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        audio = container.streams.audio[0]
        video_seconds = float(stream.duration * stream.time_base)
        audio_seconds = float(audio.duration * audio.time_base)
    assert 1.0 < video_seconds < 6.0
    assert abs(video_seconds - audio_seconds) <= 1 / 25 + 0.03
    assert page.get_by_role("button", name="Download MP4").is_visible()
    assert page.get_by_role("button", name="Download captions (SRT)").is_visible()
    page.screenshot(path=str(tmp_path / "talking_avatar.png"), full_page=True)


@pytest.mark.parametrize("path,title", [("models", "Models"), ("inpainting", "Inpainting")])
def test_deep_links_open_inside_the_app(page, streamlit_server, path, title):
    page.goto(f"{streamlit_server}/{path}")
    page.get_by_role("heading", name=title).first.wait_for()
    sidebar = page.get_by_test_id("stSidebarNav")
    for name in ("Talking Avatar", "Inpainting", "Object Shift", "Models"):
        assert sidebar.get_by_text(name, exact=True).is_visible()


def test_a_tall_video_is_shown_at_its_own_size_capped_with_full_screen_and_labelled_after_a_reload(
        page, streamlit_server, fixtures):
    """A 614x768 result is shown whole (scaled to fit 720x540), not stretched across the page; the browser's
    controls offer full screen; on a phone it fits the screen's width; after a reload it says what it is."""
    page.goto(streamlit_server)
    page.get_by_text("Pick a portrait, give it a voice").wait_for()
    page.get_by_text("Upload a portrait", exact=True).click()
    page.locator("input[type=file]").first.set_input_files(str(fixtures / "obama.jpg"))
    page.get_by_text("obama.jpg", exact=True).wait_for()
    page.get_by_test_id("stImage").first.wait_for()  # the portrait with its face box: the upload was checked
    text = page.get_by_label("What should the avatar say?")
    text.fill("A tall video.")
    text.press("Control+Enter")
    page.get_by_role("button", name="Generate", exact=True).click()
    video = page.locator("video")
    video.wait_for(timeout=240_000)
    page.wait_for_function("document.querySelector('video').videoWidth > 0")
    own = video.evaluate("v => ({width: v.videoWidth, height: v.videoHeight, controls: v.controls, "
                         "list: v.getAttribute('controlslist') || '', fullscreen: document.fullscreenEnabled})")
    assert (own["width"], own["height"]) == (614, 768)
    box = video.bounding_box()
    expected = min(own["width"], 720, own["width"] * 540 / own["height"])  # its own size, fitted into 720x540
    assert abs(box["width"] - expected) <= 2 and box["height"] <= 541
    main_width = page.get_by_test_id("stMainBlockContainer").bounding_box()["width"]
    assert box["width"] < main_width / 2  # not stretched across the page any more
    assert own["controls"] and "nofullscreen" not in own["list"] and own["fullscreen"]
    video.scroll_into_view_if_needed()
    video.dblclick()  # the browser's player goes full screen (as its full-screen button does)
    page.wait_for_function("document.fullscreenElement && document.fullscreenElement.tagName === 'VIDEO'")
    page.evaluate("document.exitFullscreen()")
    page.wait_for_function("document.fullscreenElement === null")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the player fits the screen's width
    page.wait_for_function("document.querySelector('video').getBoundingClientRect().width <= 390 - 16")
    box = video.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] <= 844
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.get_by_role("button", name="Download MP4").bounding_box()["x"] + 1 >= box["x"]

    page.set_viewport_size({"width": 1400, "height": 1000})
    page.reload()  # the last video comes back, saying what it is; other inputs drop it
    label = page.get_by_test_id("stMarkdownContainer").filter(has_text="Your last video")
    label.wait_for()
    assert "made from the portrait obama.jpg saying “A tall video.”" in label.inner_text()
    page.locator("video").wait_for()
    assert page.locator("video").count() == 1
    page.get_by_text("Maya", exact=True).last.click()
    label.wait_for(state="detached")
    page.locator("video").wait_for(state="detached")
