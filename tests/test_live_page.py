"""The Live page through Streamlit's AppTest (no browser): what it refuses, each in one sentence.

The video itself needs a browser (tests/browser/test_live_browser.py); here the
page runs its real sessions and its real capacity, without a connection.
"""

from __future__ import annotations

import time

import pytest

from avatar.errors import NoFaceError
from avatar.live.session import LiveSession
from tests.conftest import PROJECT_DIR, button_labelled, started_page
from tests.test_talking_avatar_page import _patch_uploads
from ui.live_players import IDLE_ENV, live_players

PAGE = str(PROJECT_DIR / "app_pages" / "live.py")
PLAYED: list[dict] = []  # the arguments the page gave the WebRTC component, one entry per page run


@pytest.fixture
def players(monkeypatch):
    """The page's sessions, counted under a limit of one, and all ended after the test.

    The WebRTC component needs a server and a browser; here it is replaced by one that records what the page
    hands it, so the tests see that the player plays the session's own tracks."""
    import streamlit_webrtc

    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", lambda **kwargs: PLAYED.append(kwargs))
    PLAYED.clear()
    monkeypatch.setenv("AVATAR_LIVE_SESSIONS", "1")
    live_players.clear()
    players = live_players()
    yield players
    for player_id in list(players.players):
        players.close(player_id)
    live_players.clear()


def _started(players):
    """The page with a session of the default avatar open."""
    at = started_page(PAGE)
    button_labelled(at, "Start").click().run()
    assert not at.exception and not at.error
    [player] = players.players.values()
    played = PLAYED[-1]
    assert played["source_video_track"] is player.video and played["source_audio_track"] is player.audio
    assert played["mode"].name == "RECVONLY" and played["rtc_configuration"] == {"iceServers": []}
    return at


def test_empty_and_over_long_text_are_refused_and_nothing_is_queued(players):
    at = _started(players)
    [player] = players.players.values()
    assert {"Stop", "Save as MP4", "End session"} <= {b.label for b in at.button}
    at.text_input(key="live_text").input("   ")
    button_labelled(at, "Say").click().run()
    assert [e.value for e in at.error] == ["The text is empty; type what the avatar should say."]
    at.text_input(key="live_text").input("Words. " * 200)
    button_labelled(at, "Say").click().run()
    [refusal] = [e.value for e in at.error]
    assert refusal.startswith("The text has 1,399 characters, more than the 1,000") and not at.exception
    assert not player.session.speaking and player.session.placed == []


def test_a_sentence_is_queued_and_end_session_frees_its_place(players):
    at = _started(players)
    [player] = players.players.values()
    at.text_input(key="live_text").input("Hello. How are you today?")
    button_labelled(at, "Say").click().run()
    assert not at.error and not at.exception
    assert player.session.wait_placed(60)
    assert [line.text for line in player.session.placed] == ["Hello.", "How are you today?"]
    button_labelled(at, "End session").click().run()
    assert not at.exception and player.session.closed
    assert players.capacity.in_use == 0 and "Start" in {b.label for b in at.button}


def test_a_full_server_is_refused_in_one_sentence(players):
    first = _started(players)
    second = started_page(PAGE)
    button_labelled(second, "Start").click().run()
    assert [e.value for e in second.error] == [
        "This server already runs 1 live session, as many as it keeps in real time; try again when one ends."]
    assert not second.exception and len(players.players) == 1
    assert "End session" in {b.label for b in first.button}


def test_a_portrait_without_a_face_is_refused_in_one_sentence(players, fixtures, monkeypatch):
    with pytest.raises(NoFaceError) as refused:
        players.opener((fixtures / "no_face.png").read_bytes())
    _patch_uploads(monkeypatch, {"Portrait": (fixtures / "no_face.png", "image/png")})
    at = started_page(PAGE)
    at.radio(key="live_source").set_value("Upload a portrait").run()
    button_labelled(at, "Start").click().run()
    assert [e.value for e in at.error] == [str(refused.value)]
    assert not at.exception and players.capacity.in_use == 0


def test_a_silent_session_ends_after_the_configured_idle_time(players, monkeypatch):
    monkeypatch.setenv(IDLE_ENV, "0.5")
    at = _started(players)
    [player] = players.players.values()
    assert isinstance(player.session, LiveSession) and player.session.settings.idle_timeout == 0.5
    time.sleep(0.8)
    assert players.reap() == [player.id]
    assert player.session.closed and players.capacity.in_use == 0
    at.run()
    assert "Start" in {b.label for b in at.button} and not at.exception
    assert [i.value for i in at.info] == ["The live session ended after 0.5 s without a word; press Start for a new "
                                          "one."]


def test_a_bad_idle_time_is_named(monkeypatch):
    from avatar.errors import InputError
    from ui.live_players import idle_timeout

    monkeypatch.setenv(IDLE_ENV, "soon")
    with pytest.raises(InputError, match="AVATAR_LIVE_IDLE_SECONDS must be a positive number of seconds"):
        idle_timeout()


def test_save_submits_the_session_so_far_as_a_job_of_this_browser_session(players):
    from avatar.service.jobs import get_service
    from tests.conftest import session_owner, wait_finished

    at = _started(players)
    [player] = players.players.values()
    at.text_input(key="live_text").input("Save me.")
    button_labelled(at, "Say").click().run()
    assert player.session.wait_placed(60)
    while player.session.now() < player.session.placed[-1].end + 0.2:
        time.sleep(0.05)
    button_labelled(at, "Save as MP4").click().run()
    assert not at.exception and not at.error
    job = wait_finished(get_service(), session_owner(at), at.session_state["live_saved_job"], timeout=240)
    assert job.kind == "live" and job.status == "done", job
    assert "video.mp4" in job.results and job.params["said"] == "Save me."
