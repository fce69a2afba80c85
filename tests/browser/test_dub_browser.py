"""The Dub a video page in a real Chromium against `streamlit run`: a real clip dubbed to a typed sentence, and a
file that is not a video refused in one sentence."""

from __future__ import annotations

from urllib.parse import urlparse

import av
import pytest

from avatar.errors import InputError
from avatar.video.dub import faces_at_start
from tests.browser.conftest import generate_and_fetch
from tests.dub_clips import short_talk_clip

pytestmark = pytest.mark.browser


def _open_dub_page(page, streamlit_server) -> None:
    """Go to the page the way a person does: from the app's menu."""
    page.goto(streamlit_server)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Dub a video").click()
    page.get_by_role("heading", name="Dub a video").wait_for()
    assert urlparse(page.url).path.rstrip("/").endswith("/dub")


def test_a_real_clip_is_dubbed_to_a_typed_sentence(page, streamlit_server, tmp_path):
    clip = short_talk_clip(tmp_path / "speaker.mp4")  # 30 frames at 320 px: a few seconds of work
    _open_dub_page(page, streamlit_server)
    page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(clip))
    page.get_by_text("speaker.mp4: 320x320 pixels").wait_for()
    page.get_by_test_id("stImage").first.wait_for()  # the first frame with the face's numbered box
    text = page.get_by_label("What should the person say?")
    text.fill("Hello from the dubbing test.")
    text.press("Control+Enter")
    fetched = generate_and_fetch(page, streamlit_server, tmp_path / "fetched.mp4")
    with av.open(str(fetched)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 320)
        assert container.streams.audio
    assert page.get_by_role("button", name="Download MP4").is_visible()
    assert page.get_by_role("button", name="Download captions (SRT)").is_visible()
    assert page.get_by_test_id("stException").count() == 0
    page.locator("video").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "dub.png"), full_page=True)


def test_a_file_that_is_not_a_video_is_refused_in_one_sentence(page, streamlit_server, tmp_path):
    not_video = tmp_path / "holiday.mp4"
    not_video.write_bytes(b"this is a text file, not a video\n" * 64)
    with pytest.raises(InputError) as refused:
        faces_at_start(not_video.read_bytes(), not_video.name)
    _open_dub_page(page, streamlit_server)
    page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(not_video))
    error = page.get_by_test_id("stAlertContentError")
    error.first.wait_for()
    assert error.first.inner_text().strip() == str(refused.value)
    page.get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_function("document.querySelectorAll('[data-testid=stAlertContentError]').length >= 2")
    assert page.get_by_test_id("stException").count() == 0 and page.locator("video").count() == 0
