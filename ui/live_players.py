"""The Live page's sessions: one `LiveSession` per browser session, counted under the server's live capacity.

A live session renders frames every 40 ms for as long as it is open, so the page
must never leave one behind: a session ends when its page ends it, when its
browser session is gone (the tab closed: Streamlit drops the session, the reaper
notices within a second), or after `AVATAR_LIVE_IDLE_SECONDS` without a word
(default five minutes). Ending frees its place under `avatar.live.capacity`, so
the next visitor can start one.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

import streamlit as st

from avatar.errors import InputError
from avatar.live.capacity import LiveCapacity
from avatar.live.heap import release_heap, settle_heap
from avatar.live.session import LiveSession, LiveSettings, open_session
from avatar.live.tracks import LiveAudioTrack, LiveVideoTrack

_LOGGER = logging.getLogger(__name__)

IDLE_ENV = "AVATAR_LIVE_IDLE_SECONDS"
REAP_EVERY_S = 1.0


def idle_timeout() -> float:
    """Seconds a page's live session may stay silent before it ends: AVATAR_LIVE_IDLE_SECONDS, else the session's
    default; one sentence when the variable is not a positive number."""
    value = os.environ.get(IDLE_ENV, "").strip()
    if not value:
        return LiveSettings().idle_timeout
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise InputError(f"{IDLE_ENV} must be a positive number of seconds, not {value[:40]!r}.")
    return seconds


@dataclass
class LivePlayer:
    """One page's live session: the session, the two tracks that carry it, and the browser session that owns it."""

    id: str
    browser_session: Optional[str]  # Streamlit's session id; None outside a server (a test's script run)
    session: LiveSession
    video: LiveVideoTrack
    audio: LiveAudioTrack
    peer: Optional[Any] = None  # its WebRTC connection (ui.live_transport), once the page's player has connected

    def close(self) -> None:
        if self.peer is not None:
            from ui.live_transport import live_transport

            live_transport().close(self)
        self.video.stop()
        self.audio.stop()
        self.session.close()


def _browser_session_alive(browser_session: Optional[str]) -> bool:
    """False once Streamlit has dropped the browser session (its tab closed long enough); True when unknown."""
    if browser_session is None:
        return True
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return True
    return Runtime.instance().is_active_session(browser_session)


@dataclass
class LivePlayers:
    """The live sessions of this Streamlit server, and the reaper thread that ends abandoned ones."""

    capacity: LiveCapacity
    opener: Callable[..., LiveSession] = open_session
    players: dict[str, LivePlayer] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reaper: Optional[threading.Thread] = None

    def open(self, source: Any, browser_session: Optional[str], settings: Optional[LiveSettings] = None) -> LivePlayer:
        """A session for `source` (a default avatar's name, image bytes or an RGB array), counted in; refused in one
        sentence when the server is full or the portrait has no face."""
        player_id = secrets.token_urlsafe(9)
        self.capacity.acquire(player_id)
        try:
            settle_heap()  # the app's long-lived objects out of later full collections (see avatar.live.heap)
            session = self.opener(source, replace(settings or LiveSettings(), idle_timeout=idle_timeout()))
        except BaseException:
            self.capacity.release(player_id)
            release_heap()
            raise
        player = LivePlayer(player_id, browser_session, session, LiveVideoTrack(session), LiveAudioTrack(session))
        with self._lock:
            self.players[player_id] = player
        self._start_reaper()
        return player

    def get(self, player_id: Optional[str]) -> Optional[LivePlayer]:
        """The open session `player_id`; None once it ended (by its page, its tab closing or its idle time)."""
        with self._lock:
            player = self.players.get(player_id) if player_id else None
        if player is not None and player.session.expired:
            self.close(player.id)
            return None
        return player

    def close(self, player_id: str) -> bool:
        """End a session and free its place; False when it had already ended."""
        with self._lock:
            player = self.players.pop(player_id, None)
        if player is None:
            return False
        try:
            player.close()
        finally:
            self.capacity.release(player_id)
            release_heap()  # after the last session, what was frozen is collected as usual again
        return True

    def reap(self) -> list[str]:
        """End the sessions whose tab is gone or that stayed silent too long; their ids."""
        with self._lock:
            players = list(self.players.values())
        ended = [p.id for p in players if p.session.expired or not _browser_session_alive(p.browser_session)]
        for player_id in ended:
            _LOGGER.info("live session %s ended (idle, or its page closed)", player_id)
            self.close(player_id)
        return ended

    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is not None and self._reaper.is_alive():
                return
            self._reaper = threading.Thread(target=self._reap_forever, name="live-page-reaper", daemon=True)
            self._reaper.start()

    def _reap_forever(self) -> None:
        while True:
            time.sleep(REAP_EVERY_S)
            try:
                self.reap()
            except Exception:  # noqa: BLE001 - the reaper must outlive one bad close
                _LOGGER.exception("ending an abandoned live session failed")
            with self._lock:
                if not self.players:
                    self._reaper = None
                    return


@st.cache_resource(show_spinner="Measuring how many live sessions this machine keeps in real time...")
def live_players() -> LivePlayers:
    """The server's one set of page sessions; its capacity from AVATAR_LIVE_SESSIONS, else measured once (~1 s)."""
    return LivePlayers(LiveCapacity.from_env())
