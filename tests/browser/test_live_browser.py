"""The Live page in a real Chromium against `streamlit run`: a session starts, idles, says two sentences (typed into
the player, sent over its data channel), Stop cuts the second, and Save makes an MP4 listed on History; frames and
sound are counted where the browser received them (its RTCPeerConnection's statistics), not where the server sent
them."""

from __future__ import annotations

import time
from urllib.parse import urljoin, urlparse

import av
import numpy as np
import pytest

from benchmarks.live_browser import PLAYER, RECORD_PEERS

pytestmark = pytest.mark.browser

# Every RTCPeerConnection a frame of the page makes is kept in window.__livePeers (RECORD_PEERS, shared with the
# benchmark), so the test can read what the browser received (getStats) from the player's frame.
INBOUND = """
async () => {
  const found = {video: {}, audio: {}};
  for (const peer of window.__livePeers || []) {
    (await peer.getStats()).forEach(s => {
      if (s.type === 'inbound-rtp') found[s.kind] = {
        packets: s.packetsReceived || 0, frames: s.framesDecoded || 0, width: s.frameWidth || 0,
        samples: s.totalSamplesReceived || 0, energy: s.totalAudioEnergy || 0};
    });
  }
  return found;
}
"""
FIRST = "Hello from the live page."
SECOND = ("This second sentence is long on purpose, so that it is still being spoken when Stop is pressed, "
          "and everything after that moment is never heard at all.")


def _open_live_page(page, streamlit_server) -> None:
    page.context.add_init_script(RECORD_PEERS)
    page.goto(streamlit_server)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Live").click()
    page.get_by_role("heading", name="Live").wait_for()
    assert urlparse(page.url).path.rstrip("/").endswith("/live")


def _player_frame(page, timeout: float = 60.0):
    """The player's frame (the component whose <video> plays the session), once it shows frames."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            if PLAYER in frame.url and frame.locator("video").count():
                frame.wait_for_function("() => { const v = document.querySelector('video');"
                                        " return v.videoWidth > 0 && v.currentTime > 0.2 && !v.paused; }")
                return frame
        page.wait_for_timeout(250)
    raise AssertionError("the live video never appeared")


def _say(player, text: str) -> None:
    box = player.get_by_label("Say", exact=True)
    box.fill(text)
    box.press("Enter")


def _transcript_line(page, text: str):
    return page.get_by_test_id("stMarkdownContainer").filter(has_text=text)


def test_a_session_speaks_two_sentences_stop_cuts_the_second_and_save_makes_an_mp4(page, streamlit_server,
                                                                                  tmp_path):
    _open_live_page(page, streamlit_server)
    page.get_by_role("button", name="Start", exact=True).click()
    player = _player_frame(page)
    idle = player.evaluate(INBOUND)
    assert idle["video"]["frames"] > 0 and idle["video"]["width"] == 512 and idle["audio"]["packets"] > 0
    page.get_by_text("Nothing said yet.").wait_for()

    player.get_by_text("Live.").wait_for()  # the data channel is open
    _say(player, "   ")
    player.get_by_text("The text is empty; type what the avatar should say.").wait_for()  # refused, on the channel
    _say(player, FIRST)
    _transcript_line(page, FIRST).wait_for()  # its sound started
    _say(player, SECOND)
    _transcript_line(page, SECOND).wait_for()  # the second started where the first ended
    player.get_by_role("button", name="Stop", exact=True).click()
    _transcript_line(page, SECOND).filter(has_text="(interrupted)").wait_for()
    assert "(interrupted)" not in _transcript_line(page, FIRST).inner_text()

    spoken = player.evaluate(INBOUND)
    assert spoken["video"]["frames"] > idle["video"]["frames"] + 25  # more than a second of frames meanwhile
    assert spoken["audio"]["samples"] > idle["audio"]["samples"]
    # Idle sound is silence (no energy); the two sentences were heard in the browser.
    assert spoken["audio"]["energy"] > idle["audio"]["energy"] + 0.01
    assert page.get_by_test_id("stException").count() == 0 and page.get_by_test_id("stAlertContentError").count() == 0

    page.get_by_role("button", name="Save as MP4").click()
    saving = page.get_by_text("Saving the session as an MP4")
    saved, refused = page.get_by_text("Saved as job"), page.get_by_test_id("stAlertContentError")
    saving.or_(saved).or_(refused).first.wait_for()  # the click was taken
    saved.or_(refused).first.wait_for(timeout=180_000)
    assert refused.count() == 0, refused.first.inner_text()
    video = page.locator("video").first  # the saved MP4 (the live player is in the component's frame)
    source = video.get_attribute("src")
    assert source
    response = page.request.get(urljoin(streamlit_server + "/", source))
    assert response.ok
    saved = tmp_path / "live.mp4"
    saved.write_bytes(response.body())
    with av.open(str(saved)) as container:
        assert container.streams.audio
        frames = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    assert frames[0].shape[1] == 512 and len(frames) > 50
    motion = [float(np.abs(a.astype(np.int16) - b).mean()) for a, b in zip(frames, frames[1:])]
    assert max(motion) > 0  # the face moved (it idles and spoke), not a still picture
    page.screenshot(path=str(tmp_path / "live.png"), full_page=True)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="History").click()
    page.get_by_role("heading", name="History").wait_for()
    page.get_by_text("A live session of").first.wait_for()
    assert page.get_by_text(FIRST).first.is_visible()


def test_a_portrait_without_a_face_is_refused_in_one_sentence(page, streamlit_server, fixtures):
    from avatar.errors import NoFaceError
    from avatar.live.session import open_session

    with pytest.raises(NoFaceError) as refused:
        open_session((fixtures / "no_face.png").read_bytes())
    _open_live_page(page, streamlit_server)
    page.get_by_text("Upload a portrait").click()
    page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(fixtures / "no_face.png"))
    page.get_by_text("no_face.png").wait_for()
    page.get_by_role("button", name="Start", exact=True).click()
    error = page.get_by_test_id("stAlertContentError")
    error.first.wait_for()
    assert error.first.inner_text().strip() == str(refused.value)
    assert page.get_by_test_id("stException").count() == 0 and not any(PLAYER in f.url for f in page.frames)


def _sessions_in_use(page) -> int:
    caption = page.get_by_text("Live sessions on this server:")
    caption.wait_for()
    return int(caption.inner_text().split(":")[1].split("of")[0])


def _wait_for_sessions(page, count: int, seconds: float = 30.0) -> None:
    """Reload the Live page until the server counts `count` sessions open (tabs closed earlier end within seconds)."""
    deadline = time.monotonic() + seconds
    while _sessions_in_use(page) != count:
        assert time.monotonic() < deadline, f"the server did not come to {count} live sessions"
        page.wait_for_timeout(500)
        page.reload()


def test_a_closed_tab_frees_its_session(browser, streamlit_server):
    speaking = browser.new_context(viewport={"width": 1400, "height": 1000})
    watching = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        other = watching.new_page()
        other.set_default_timeout(60_000)
        other.goto(f"{streamlit_server}/live")
        _wait_for_sessions(other, 0)  # earlier tests' tabs are gone
        tab = speaking.new_page()
        tab.set_default_timeout(60_000)
        _open_live_page(tab, streamlit_server)
        tab.get_by_role("button", name="Start", exact=True).click()
        _player_frame(tab)
        _wait_for_sessions(other, 1, seconds=5)
        speaking.close()  # the tab goes away without pressing anything
        _wait_for_sessions(other, 0)
    finally:
        watching.close()


def test_a_browser_without_webrtc_is_told_so_in_one_sentence(page, streamlit_server):
    page.context.add_init_script("delete window.RTCPeerConnection; delete window.webkitRTCPeerConnection;")
    page.goto(f"{streamlit_server}/live")
    page.get_by_role("button", name="Start", exact=True).click()
    error = page.get_by_test_id("stAlertContentError").filter(has_text="WebRTC")
    error.wait_for(timeout=60_000)
    assert error.inner_text().strip().count(". ") == 0 and "is not playing" in error.inner_text()
    page.get_by_role("button", name="Start", exact=True).wait_for()  # the session was ended, not left open
    assert page.get_by_test_id("stException").count() == 0
