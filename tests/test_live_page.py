"""The Live page through Streamlit's AppTest (no browser): its connection, its data channel and what it refuses.

The player is a component that needs a browser (tests/browser/test_live_browser.py);
here it is replaced by one that records what the page hands it, and an aiortc client
plays the browser: it makes the offer the player would, takes the page's answer,
receives frames and talks to the session over the data channel. The page runs its
real sessions, transport and capacity.
"""

from __future__ import annotations

import asyncio
import gc
import json
import queue
import time

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from avatar.errors import NoFaceError
from avatar.live.session import LiveSession
from tests.conftest import PROJECT_DIR, button_labelled, started_page
from tests.test_talking_avatar_page import _patch_uploads
from ui.live_players import IDLE_ENV, live_players
from ui.live_transport import LiveTransport, channel_reply

PAGE = str(PROJECT_DIR / "app_pages" / "live.py")
PLAYED: list[dict] = []  # the arguments the page gave the player component, one entry per page run


@pytest.fixture
def players(monkeypatch):
    """The page's sessions, counted under a limit of one, and all ended after the test; the player component
    replaced by one that records its arguments."""
    import ui.live_component

    def player(**kwargs):
        PLAYED.append(kwargs)
        return None

    monkeypatch.setattr(ui.live_component, "_player", player)
    PLAYED.clear()
    monkeypatch.setenv("AVATAR_LIVE_SESSIONS", "1")
    live_players.clear()
    players = live_players()
    yield players
    for player_id in list(players.players):
        players.close(player_id)
    live_players.clear()


def _started(players):
    """The page with a session of the default avatar open, its player drawn and waiting for its offer."""
    at = started_page(PAGE)
    button_labelled(at, "Start").click().run()
    assert not at.exception and not at.error
    [player] = players.players.values()
    assert PLAYED[-1]["key"] == f"live_player_{player.id}" and PLAYED[-1]["answer"] is None
    assert {"Save as MP4", "End session"} <= {b.label for b in at.button}
    return at


def _say(session: LiveSession, message: dict) -> dict:
    return channel_reply(session, json.dumps(message))


def test_the_data_channel_refuses_empty_over_long_and_unknown_messages_and_queues_nothing(players):
    _started(players)
    [player] = players.players.values()
    session = player.session
    assert _say(session, {"id": 1, "say": "   "}) == {"id": 1, "error": "The text is empty; type what the avatar "
                                                                    "should say."}
    refusal = _say(session, {"id": 2, "say": "Words. " * 200})
    assert refusal["id"] == 2 and refusal["error"].startswith("The text has 1,399 characters, more than the 1,000")
    assert channel_reply(session, "not json")["error"].startswith("The player sent something other than")
    assert channel_reply(session, json.dumps([1, 2]))["error"].startswith("The player sent something other than")
    assert _say(session, {"stop": "yes"})["error"].startswith("The player sent something other than")
    assert channel_reply(session, "x" * 10_000)["error"].startswith("The player sent something other than")
    assert not session.speaking and session.placed == []


def test_sentences_sent_on_the_channel_are_queued_stop_cuts_and_end_session_frees_its_place(players):
    at = _started(players)
    [player] = players.players.values()
    session = player.session
    assert gc.get_freeze_count() > 0  # the app's objects out of full collections while a session streams
    assert _say(session, {"id": 7, "say": "Hello. How are you today?"}) == {
        "id": 7, "said": ["Hello.", "How are you today?"]}
    assert session.wait_placed(60)
    assert [line.text for line in session.placed] == ["Hello.", "How are you today?"]
    assert _say(session, {"id": 8, "stop": True}) == {"id": 8, "stopped": True}
    said = session.placed
    assert len(said) < 2 or said[-1].interrupted  # the second sentence was dropped, or cut where it was
    deadline = time.monotonic() + 10
    while session.speaking:  # the mouth closes over a few frames, then nothing more is said
        assert time.monotonic() < deadline
        time.sleep(0.05)
    button_labelled(at, "End session").click().run()
    assert not at.exception and session.closed
    assert _say(session, {"say": "Too late."}) == {"error": "This live session has ended; start a new one."}
    assert players.capacity.in_use == 0 and "Start" in {b.label for b in at.button}
    assert gc.get_freeze_count() == 0  # the last session ended: collected as usual again


async def _offer() -> tuple[RTCPeerConnection, object, "queue.Queue[str]", "queue.Queue[object]"]:
    """What the page's player does in a browser: a receive-only offer with a data channel."""
    peer = RTCPeerConnection()
    peer.addTransceiver("video", direction="recvonly")
    peer.addTransceiver("audio", direction="recvonly")
    channel = peer.createDataChannel("live")
    replies: queue.Queue[str] = queue.Queue()
    tracks: queue.Queue[object] = queue.Queue()
    channel.on("message", replies.put)
    peer.on("track", tracks.put)
    await peer.setLocalDescription(await peer.createOffer())
    return peer, channel, replies, tracks


async def _open(channel, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while channel.readyState != "open":
        assert time.monotonic() < deadline, "the data channel never opened"
        await asyncio.sleep(0.05)


async def _send(channel, message: dict) -> None:
    channel.send(json.dumps(message))


def test_the_players_offer_is_answered_once_and_the_connection_carries_frames_and_the_channel(players):
    at = _started(players)
    [player] = players.players.values()
    browser = LiveTransport()  # the client's own loop, as a browser has its own
    peer, channel, replies, tracks = browser.call(_offer(), 30)
    try:
        key = f"live_player_{player.id}"
        at.session_state[key] = {"offer": {"sdp": peer.localDescription.sdp, "type": "offer"}, "nonce": "a"}
        at.run()
        assert not at.exception and not at.error
        answer = PLAYED[-1]["answer"]
        assert answer["type"] == "answer" and "m=video" in answer["sdp"] and "m=application" in answer["sdp"]
        connection = player.peer
        assert connection is not None
        at.run()  # a rerun hands the player the same answer and keeps the connection
        assert PLAYED[-1]["answer"] == answer and player.peer is connection

        browser.call(peer.setRemoteDescription(RTCSessionDescription(**answer)), 30)
        browser.call(_open(channel), 40)
        video = next(t for t in (tracks.get(timeout=30), tracks.get(timeout=30)) if t.kind == "video")
        frame = browser.call(video.recv(), 30)
        assert max(frame.width, frame.height) == 512
        browser.call(_send(channel, {"id": 1, "say": "Hello there."}), 10)
        assert json.loads(replies.get(timeout=30)) == {"id": 1, "said": ["Hello there."]}
        assert player.session.wait_placed(60) and [s.text for s in player.session.placed] == ["Hello there."]

        button_labelled(at, "End session").click().run()
        assert player.peer is None and player.session.closed and players.capacity.in_use == 0
    finally:
        browser.call(peer.close(), 30)


def test_a_browser_without_webrtc_ends_the_session_with_one_sentence(players):
    at = _started(players)
    [player] = players.players.values()
    at.session_state[f"live_player_{player.id}"] = {"problem": "no-webrtc"}
    at.run()
    [error] = [e.value for e in at.error]
    assert error.startswith("The live video is not playing: this browser has no WebRTC") and ". " not in error
    assert player.session.closed and players.capacity.in_use == 0 and "Start" in {b.label for b in at.button}


def test_an_unusable_offer_is_refused_in_one_sentence(players):
    at = _started(players)
    [player] = players.players.values()
    at.session_state[f"live_player_{player.id}"] = {"offer": {"sdp": 5, "type": "offer"}, "nonce": "b"}
    at.run()
    assert [e.value for e in at.error] == ["The live player sent no usable WebRTC offer; reload the page and press "
                                           "Start again."]
    assert not at.exception and PLAYED[-1]["answer"] is None


def test_an_offer_aiortc_cannot_read_is_refused_in_one_sentence_and_the_session_stays(players):
    from avatar.errors import InputError
    from ui.live_transport import live_transport

    _started(players)
    [player] = players.players.values()
    with pytest.raises(InputError, match="^The browser's WebRTC offer cannot be used: .*[.]$"):
        live_transport().connect(player, {"sdp": "v=0\r\nnot an offer", "type": "offer"})
    assert player.peer is None and not player.session.closed
    assert _say(player.session, {"say": "Still here."}) == {"said": ["Still here."]}


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
    assert _say(player.session, {"say": "Save me."}) == {"said": ["Save me."]}
    assert player.session.wait_placed(60)
    while player.session.now() < player.session.placed[-1].end + 0.2:
        time.sleep(0.05)
    button_labelled(at, "Save as MP4").click().run()
    assert not at.exception and not at.error
    job = wait_finished(get_service(), session_owner(at), at.session_state["live_saved_job"], timeout=240)
    assert job.kind == "live" and job.status == "done", job
    assert "video.mp4" in job.results and job.params["said"] == "Save me."
