"""The live sessions of a server: who owns which, their WebRTC connections, and their end.

A session ends when its owner deletes it, when its connection fails or closes (a
browser tab closed), or when it has been idle for its `idle_timeout` (a client
that vanished without a word); a reaper looks every second. Ending frees the
session's place under the capacity, its render thread and its connection.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

from aiortc import RTCPeerConnection, RTCSessionDescription

from avatar.errors import InputError
from avatar.live.capacity import LiveCapacity
from avatar.live.heap import release_heap, settle_heap
from avatar.live.session import LiveSession, LiveSettings, open_session
from avatar.live.tracks import LiveAudioTrack, LiveVideoTrack

_LOGGER = logging.getLogger(__name__)
REAP_EVERY_S = 1.0


@dataclass
class LiveEntry:
    """One open session: its owner (an API key's owner), the session, its connection and its render lane."""

    id: str
    owner: str
    session: LiveSession
    peer: RTCPeerConnection
    lane: ThreadPoolExecutor
    video: LiveVideoTrack
    audio: LiveAudioTrack


@dataclass
class LiveSessions:
    """Every live session of this server; `capacity` is measured (or read from the environment) on first use."""

    capacity: Optional[LiveCapacity] = None
    settings: LiveSettings = field(default_factory=LiveSettings)
    entries: dict[str, LiveEntry] = field(default_factory=dict)
    _reaper: Optional[asyncio.Task] = None

    async def gate(self) -> LiveCapacity:
        if self.capacity is None:
            self.capacity = await asyncio.to_thread(LiveCapacity.from_env)
        return self.capacity

    async def open(self, owner: str, portrait: Any, offer: dict[str, Any]) -> tuple[LiveEntry, RTCSessionDescription]:
        """A session for `portrait` answering the browser's `offer`; refused when the server is full (503) or the
        offer or portrait cannot be used (422)."""
        sdp, kind = offer.get("sdp"), offer.get("type", "offer")
        if not isinstance(sdp, str) or not sdp.strip() or kind != "offer":
            raise InputError('Send the browser\'s WebRTC offer as {"sdp": ..., "type": "offer"}.')
        gate = await self.gate()
        session_id = secrets.token_urlsafe(12)
        gate.acquire(session_id)
        session: Optional[LiveSession] = None
        entry: Optional[LiveEntry] = None
        try:
            session = await _open_session(portrait, self.settings)
            lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-render")
            peer = RTCPeerConnection()
            entry = LiveEntry(session_id, owner, session, peer, lane, LiveVideoTrack(session, lane),
                              LiveAudioTrack(session))
            self.entries[session_id] = entry
            await asyncio.to_thread(settle_heap)  # as the page does (see avatar.live.heap); `close` releases it
            peer.addTrack(entry.video)
            peer.addTrack(entry.audio)

            @peer.on("connectionstatechange")
            async def _changed() -> None:
                if peer.connectionState in ("failed", "closed"):
                    await self.close(session_id)

            try:
                await peer.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except ValueError as exc:
                raise InputError(f"The WebRTC offer cannot be used: {str(exc)[:80]}.") from None
            await peer.setLocalDescription(await peer.createAnswer())
            self._start_reaper()
            return entry, peer.localDescription
        except BaseException:
            if entry is not None:
                await self.close(session_id)
            else:
                gate.release(session_id)
                if session is not None:  # its voice thread and rig would live on with nothing to end them
                    await asyncio.to_thread(session.close)
            raise

    def get(self, owner: str, session_id: str) -> Optional[LiveEntry]:
        """The session `session_id` when `owner` opened it; None otherwise (another key's session does not exist)."""
        entry = self.entries.get(session_id)
        return entry if entry is not None and entry.owner == owner else None

    async def close(self, session_id: str) -> bool:
        """End a session and free all it holds; False when there was none."""
        entry = self.entries.pop(session_id, None)
        if entry is None:
            return False
        if self.capacity is not None:
            self.capacity.release(session_id)
        entry.video.stop()
        entry.audio.stop()
        await entry.peer.close()
        await asyncio.to_thread(entry.session.close)
        entry.lane.shutdown(wait=False)
        release_heap()
        return True

    async def close_all(self) -> None:
        for session_id in list(self.entries):
            await self.close(session_id)
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        while self.entries:
            await asyncio.sleep(REAP_EVERY_S)
            for session_id, entry in list(self.entries.items()):
                if entry.session.expired:
                    _LOGGER.info("live session %s ended after %.0f s idle", session_id,
                                 entry.session.settings.idle_timeout)
                    await self.close(session_id)


async def _open_session(portrait: Any, settings: LiveSettings) -> LiveSession:
    """`open_session` on a thread. A caller cancelled meanwhile (a client that hung up) cannot stop the thread, so
    the session it opens is closed when it is ready, not left running with nobody to end it."""
    opening = asyncio.ensure_future(asyncio.to_thread(open_session, portrait, settings))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_close_if_opened)
        raise


def _close_if_opened(opening: asyncio.Future) -> None:
    if not opening.cancelled() and opening.exception() is None:
        asyncio.get_running_loop().run_in_executor(None, opening.result().close)  # it joins a thread: not here
