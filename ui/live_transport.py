"""The Live page's WebRTC: the browser's offer answered by aiortc in this process, and a data channel for typing.

Streamlit runs every page script on threads of its own, while a WebRTC connection
(aiortc) lives on an asyncio event loop for as long as it is open. This process
keeps one such loop on one thread (`LiveTransport`, started on first use), and
every connection of the page runs on it, with the session's own tracks
(`avatar.live.tracks`), as the API's connections do.

What is typed and Stop do not go through a Streamlit rerun (which would add the
page's round trip to every sentence): the page's player sends them over the
connection's data channel, `{"id": n, "say": text}` and `{"id": n, "stop": true}`,
straight to the session here; each is answered on the channel with what it did
(`channel_reply`): the sentences queued, that the avatar stopped, or the one
sentence that refuses the text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Coroutine, Optional, TypeVar

from aiortc import RTCPeerConnection, RTCSessionDescription

from avatar.errors import AvatarError, InputError
from avatar.live.session import LiveSession
from avatar.live.tracks import LiveAudioTrack, LiveVideoTrack

if TYPE_CHECKING:
    from ui.live_players import LivePlayer

_LOGGER = logging.getLogger(__name__)
ANSWER_TIMEOUT_S = 20.0
"""Longest wait for aiortc to answer an offer (it gathers its own ICE candidates first, about a second)."""
MAX_MESSAGE_CHARS = 8000
"""A data-channel message longer than this is refused before it is parsed (a sentence is at most 1,000 characters)."""
T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    """aiortc's answer to the browser's offer, as the page hands it to its player."""

    sdp: str
    type: str = "answer"

    def as_dict(self) -> dict[str, str]:
        return {"sdp": self.sdp, "type": self.type}


def channel_reply(session: LiveSession, raw: Any) -> dict[str, Any]:
    """What the session does for one data-channel message, and the reply the player gets.

    `{"say": text}` queues the text's sentences (`{"said": [...]}`), `{"stop": true}`
    cuts the speech (`{"stopped": true}`); the message's `id`, if any, comes back
    with the reply. Anything the session refuses is answered `{"error": sentence}`.
    """
    message: Any = None
    if isinstance(raw, str) and len(raw) <= MAX_MESSAGE_CHARS:
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
    if not isinstance(message, dict):
        return {"error": 'The player sent something other than {"say": text} or {"stop": true}.'}
    reply: dict[str, Any] = {"id": message["id"]} if isinstance(message.get("id"), (int, str)) else {}
    try:
        if "say" in message:
            reply["said"] = session.say(message["say"])
        elif message.get("stop") is True:
            session.stop()
            reply["stopped"] = True
        else:
            raise InputError('The player sent something other than {"say": text} or {"stop": true}.')
    except AvatarError as exc:
        reply["error"] = str(exc)
    return reply


class LiveTransport:
    """One asyncio loop on one daemon thread that every live connection of this process runs on."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="live-webrtc", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, work: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `work` on the loop and wait for its result (from any thread but the loop's own)."""
        future = asyncio.run_coroutine_threadsafe(work, self.loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise InputError("The live connection could not be set up in time; press Start again.") from None

    def connect(self, player: "LivePlayer", offer: Any) -> Answer:
        """Answer the player's offer with a connection that carries the session's video and audio tracks and takes
        its data channel; a connection made before for the same session (its page was drawn again) is closed, and
        the session gets fresh tracks for the new one."""
        if not isinstance(offer, dict) or not isinstance(offer.get("sdp"), str) or offer.get("type") != "offer":
            raise InputError("The live player sent no usable WebRTC offer; reload the page and press Start again.")
        if player.peer is not None or player.video.readyState != "live" or player.audio.readyState != "live":
            self.close(player)
            player.video.stop()
            player.audio.stop()
            player.video, player.audio = LiveVideoTrack(player.session), LiveAudioTrack(player.session)
        peer, answer = self.call(self._answer(player, offer["sdp"]), ANSWER_TIMEOUT_S)
        player.peer = peer
        return answer

    async def _answer(self, player: "LivePlayer", sdp: str) -> tuple[RTCPeerConnection, Answer]:
        peer = RTCPeerConnection()  # no STUN server: the browser reaches this server directly
        peer.addTrack(player.video)
        peer.addTrack(player.audio)

        @peer.on("datachannel")
        def _channel(channel) -> None:
            @channel.on("message")
            def _message(raw) -> None:
                reply = channel_reply(player.session, raw)
                if channel.readyState == "open":
                    channel.send(json.dumps(reply))

        @peer.on("connectionstatechange")
        async def _changed() -> None:
            _LOGGER.debug("live connection of %s: %s", player.id, peer.connectionState)

        try:
            await peer.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await peer.setLocalDescription(await peer.createAnswer())
        except Exception as exc:  # aiortc refuses an offer it cannot use with several kinds of error
            await peer.close()
            raise InputError(f"The browser's WebRTC offer cannot be used: {str(exc)[:80] or type(exc).__name__}."
                             ) from None
        return peer, Answer(peer.localDescription.sdp, peer.localDescription.type)

    def close(self, player: "LivePlayer") -> None:
        """Close the player's connection, if it has one (without waiting: the loop does it)."""
        peer: Optional[RTCPeerConnection] = getattr(player, "peer", None)
        player.peer = None
        if peer is not None and not self.loop.is_closed():
            asyncio.run_coroutine_threadsafe(peer.close(), self.loop)


_TRANSPORT: Optional[LiveTransport] = None
_TRANSPORT_LOCK = threading.Lock()


def live_transport() -> LiveTransport:
    """This process's one loop for the page's live connections, started on first use."""
    global _TRANSPORT
    with _TRANSPORT_LOCK:
        if _TRANSPORT is None:
            _TRANSPORT = LiveTransport()
        return _TRANSPORT
