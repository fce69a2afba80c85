"""The Live page's player: a small Streamlit component (static HTML and JavaScript in `static/`, no build step).

In the browser it opens a receive-only WebRTC connection (one video and one audio
track, plus a data channel) and holds the sentence box and Stop, which go over the
data channel straight to the server's session (`ui.live_transport`), so a sentence
never waits for a rerun of the page. It hands the page one value: the connection's
offer, `{"offer": {"sdp", "type"}, "nonce"}`, which the page answers through the
`answer` argument; or a problem, `{"problem": "no-webrtc" | "failed"}`, when this
browser has no WebRTC or the connection did not come up (or dropped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import streamlit.components.v1 as components

STATIC = Path(__file__).resolve().parent / "static"
CONNECT_WAIT_S = 12.0
"""A connection not up this long after its offer was made is reported: WebRTC is blocked on the way."""
PLAYOUT_DELAY_MS = 0
"""The jitter buffer the player asks the browser for (receiver.jitterBufferTarget): none beyond what it needs."""

_player = components.declare_component("live_player", path=str(STATIC))


def live_player(key: str, answer: Optional[dict[str, str]] = None, connect_wait: float = CONNECT_WAIT_S,
                playout_delay_ms: int = PLAYOUT_DELAY_MS) -> Optional[dict[str, Any]]:
    """Draw the player (one per live session: `key` names the session) and return its value: None until it made
    its offer, then the offer, or the problem it reported."""
    return _player(key=key, answer=answer, connect_wait_ms=int(connect_wait * 1000),
                   playout_delay_ms=playout_delay_ms, default=None)
