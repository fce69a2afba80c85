"""The HTTP connections of `avatar serve`: slow and idle clients cut off, open connections bounded.

uvicorn (0.54, h11) arms its keep-alive timer only after a response, and any byte
received cancels it, so a client that sends half a request header and waits keeps
its connection, and a socket, forever; a thousand such clients exhaust the
process's file descriptors and nobody else is answered. `guarded_protocol` adds
to uvicorn's h11 protocol what nginx calls client_header_timeout:

- a request's header must be complete within `header_timeout_s` of the moment the
  connection started waiting for it (connect, or the end of the previous response),
  or the connection gets a 408 and is closed;
- at most `max_connections` are open at once; when one more arrives, the oldest
  connection still waiting for its header makes room (a client that sends its
  request at once is served even while slow ones crowd the server); when none is
  waiting, the newcomer gets a 503 and is closed.

Bodies have their own timeout where they are read (`avatar.service.uploads`). The
process's open-file limit is raised to its hard limit at start
(`raise_open_file_limit`), and the connection cap is kept below it.
"""

from __future__ import annotations

import json
import logging
import resource
from dataclasses import dataclass
from typing import Optional

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from avatar.config import env_number

_LOGGER = logging.getLogger(__name__)
FILES_KEPT_FREE = 256
"""Descriptors the connection cap leaves for everything else: the database, uploads being written, models, logs."""


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a request's header may take, and how many connections may be open at once."""

    header_timeout_s: float = 10.0
    max_connections: int = 1000
    keep_alive_s: int = 5

    @classmethod
    def from_env(cls, open_files: Optional[int] = None) -> "ConnectionLimits":
        """AVATAR_HEADER_TIMEOUT_S and AVATAR_MAX_CONNECTIONS, the cap kept below the open-file limit."""
        wanted = int(env_number("AVATAR_MAX_CONNECTIONS", 1000, minimum=1))
        limit = open_files if open_files is not None else resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        room = limit - FILES_KEPT_FREE if limit != resource.RLIM_INFINITY else wanted
        return cls(header_timeout_s=env_number("AVATAR_HEADER_TIMEOUT_S", 10, minimum=0.1),
                   max_connections=max(16, min(wanted, room)))


def raise_open_file_limit(ceiling: int = 1 << 20) -> int:
    """Raise this process's soft limit on open files to its hard limit (at most `ceiling`); the new soft limit.

    Many systems start processes with a soft limit of 1024 and a much higher hard
    limit; a server needs the headroom, and may take it without privileges."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = ceiling if hard == resource.RLIM_INFINITY else min(hard, ceiling)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # e.g. macOS refuses more than OPEN_MAX; keep what we have
            pass
    return soft


def _plain_response(status: int, reason: str, detail: str) -> bytes:
    """A complete HTTP/1.1 response that closes the connection (sent outside h11, on a connection we give up)."""
    body = json.dumps({"detail": detail}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode() + body


def guarded_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with header timeouts and a connection cap (see the module docstring); pass it to
    `uvicorn.Config(http=...)`. One class per server: it keeps that server's connections waiting for a header."""
    waiting: dict[GuardedProtocol, None] = {}  # insertion order: the longest waiting first
    timed_out = _plain_response(408, "Request Timeout", f"The request header did not arrive within "
                                                        f"{limits.header_timeout_s:g} s; send it again.")
    too_many = _plain_response(503, "Service Unavailable", "The server has too many open connections; try again "
                                                           "in a few seconds.")

    class GuardedProtocol(H11Protocol):
        _header_timer = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections and not self._make_room():
                self._give_up(too_many)
                return
            self._await_header()

        def connection_lost(self, exc: Optional[Exception]) -> None:
            self._header_arrived()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                self._header_arrived()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.transport.is_closing():
                return
            if self.conn.their_state is h11.IDLE:
                self._await_header()  # the next request's header gets its own deadline
            elif self.conn.their_state is h11.SEND_BODY:
                self._give_up(b"")  # answered before its body ended (a refusal): the rest is not worth waiting for

        def _await_header(self) -> None:
            self._header_arrived()
            self._header_timer = self.loop.call_later(limits.header_timeout_s, self._header_late)
            waiting[self] = None

        def _header_arrived(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            waiting.pop(self, None)

        def _header_late(self) -> None:
            self._header_timer = None
            started = bool(self.conn.trailing_data[0])  # part of a header came: say why; an idle one just closes
            self._give_up(timed_out if started else b"")

        def _make_room(self) -> bool:
            """Close the connection that has waited longest for its header; False when none is waiting."""
            oldest = next(iter(waiting), None)
            if oldest is None:
                return False
            oldest._give_up(b"")
            return True

        def _give_up(self, response: bytes) -> None:
            self._header_arrived()
            if self.transport.is_closing():
                return
            if response:
                self.transport.write(response)
            self.transport.close()

    return GuardedProtocol
