"""The live API: a portrait that speaks in the client's page over WebRTC, what is typed, as it is typed.

- `POST /v1/live`: JSON `{"sdp": OFFER, "type": "offer", "avatar": "maya"}`, or
  multipart with the same as a JSON field `params` and a `portrait` image file;
  answers `{"id", "sdp": ANSWER, "type": "answer"}`. The connection carries one
  video and one audio track. 503 when the server already runs as many sessions as
  it keeps in real time (`avatar.live.capacity`); 422 for an unusable offer,
  avatar or portrait (no face), in one sentence.
- `POST /v1/live/{id}/say` `{"text": ..., "interrupt": false}`: the sentences
  queued; `POST /v1/live/{id}/stop`; `GET /v1/live/{id}`: the transcript so far;
  `DELETE /v1/live/{id}`.
- `POST /v1/live/{id}/save`: 202 `{"job": ID, "links": {"job": "/v1/jobs/ID"}}`, a
  `live` job that renders what the session said so far as `video.mp4` (with
  `audio.wav`, `captions.srt`, `manifest.json`), the key's like any job; the session
  goes on (`avatar.live.recording`).
- A key sees only its own sessions: another key's id is a 404, like one that does
  not exist. A session ends on its own after its idle time.

`live_router(owner, jobs=...)` takes the dependency that names a request's owner (the
API's key check) and the job service saved sessions go to, so the jobs API includes
it in one line.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, Callable, Optional

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from avatar.errors import AvatarError, InputError, ServiceUnavailable, quoted
from avatar.live.manager import LiveEntry, LiveSessions

if TYPE_CHECKING:
    from avatar.service.jobs import JobService

MAX_PORTRAIT_BYTES = 20 * 1024**2
"""Largest portrait upload (and request body) a live session takes."""

_OPEN_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "required": ["sdp", "type"], "properties": {
        "sdp": {"type": "string", "description": "The browser's WebRTC offer (RTCPeerConnection.createOffer)."},
        "type": {"type": "string", "enum": ["offer"]},
        "avatar": {"type": "string", "description": "A default avatar's name, e.g. maya (the default)."}}}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "params": {"type": "string", "description": 'The same JSON object, e.g. {"sdp": ..., "type": "offer"}.'},
        "portrait": {"type": "string", "format": "binary", "description": "A portrait with one face."}}}}}}}
"""The open endpoint reads its body itself (JSON or multipart), so /docs learns its shape here."""


def live_router(owner: Callable[..., str], sessions: Optional[LiveSessions] = None,
                jobs: Optional[Callable[[], "JobService"]] = None) -> APIRouter:
    """The live endpoints, each request's owner given by the `owner` dependency; `sessions` default: a new set;
    `jobs` gives the job service a saved session is submitted to (default: the process's)."""
    live = sessions or LiveSessions()
    # The server's shutdown ends every session (their connections and threads); ending twice is harmless.
    router = APIRouter(prefix="/v1/live", tags=["live"], on_shutdown=[live.close_all])
    router.live_sessions = live  # type: ignore[attr-defined]  # for shutdown and tests

    def found(session_id: str, who: str) -> LiveEntry:
        entry = live.get(who, session_id)
        if entry is None:
            raise HTTPException(404, "There is no such live session for this key.")
        entry.session.touch()
        return entry

    @router.post("", openapi_extra=_OPEN_BODY)
    async def open_live(request: Request, who: str = Depends(owner)) -> dict[str, Any]:
        """Start a session: the avatar idles on the returned connection until told what to say."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_PORTRAIT_BYTES:
            raise HTTPException(413, f"The request is larger than {MAX_PORTRAIT_BYTES // 1024**2} MB; send a smaller "
                                     "portrait.")
        with refusals():
            params, portrait = await _read_open(request)
            entry, answer = await live.open(who, portrait, params)
        return {"id": entry.id, "sdp": answer.sdp, "type": answer.type,
                "links": {"say": f"/v1/live/{entry.id}/say", "stop": f"/v1/live/{entry.id}/stop",
                          "save": f"/v1/live/{entry.id}/save",
                          "self": f"/v1/live/{entry.id}"}}

    @router.post("/{session_id}/say")
    async def say(session_id: str, body: dict[str, Any], who: str = Depends(owner)) -> dict[str, Any]:
        """Queue text after what is being said (`interrupt`: instead of it); the sentences it was split into."""
        entry = found(session_id, who)
        interrupt = body.get("interrupt", False)
        if not isinstance(interrupt, bool):
            raise HTTPException(422, f"interrupt must be true or false, not {quoted(interrupt)}.")
        with refusals():
            sentences = entry.session.say(body.get("text"), interrupt=interrupt)
        return {"id": session_id, "sentences": sentences}

    @router.post("/{session_id}/stop")
    async def stop(session_id: str, who: str = Depends(owner)) -> dict[str, Any]:
        """Stop speaking now and forget what was queued; the avatar idles."""
        entry = found(session_id, who)
        with refusals():
            entry.session.stop()
        return {"id": session_id, "speaking": False}

    @router.post("/{session_id}/save", status_code=202)
    async def save(session_id: str, who: str = Depends(owner)) -> dict[str, Any]:
        """Save what the session said so far as a video: a `live` job (on `/v1/jobs` and History like any other)
        that renders `video.mp4` with `audio.wav`, `captions.srt` and `manifest.json`; the session goes on."""
        from avatar.service.live_kind import submit_saved_session
        from avatar.service.jobs import get_service

        entry = found(session_id, who)
        with refusals():
            job_id = await asyncio.to_thread(submit_saved_session, entry.session, who, (jobs or get_service)())
        return {"id": session_id, "job": job_id, "links": {"job": f"/v1/jobs/{job_id}"}}

    @router.get("/{session_id}")
    async def state(session_id: str, who: str = Depends(owner)) -> dict[str, Any]:
        """Whether the avatar is speaking, and what it has said so far."""
        entry = found(session_id, who)
        session = entry.session
        return {"id": session_id, "speaking": session.speaking, "seconds": round(session.now(), 3),
                "transcript": [{"text": line.text, "start": round(line.start, 3), "end": round(line.end, 3),
                                "interrupted": line.interrupted} for line in session.transcript],
                "errors": list(session.errors)}

    @router.delete("/{session_id}", status_code=204)
    async def end(session_id: str, who: str = Depends(owner)) -> Response:
        """End the session and free it."""
        found(session_id, who)
        await live.close(session_id)
        return Response(status_code=204)

    return router


class refusals:
    """Turn a user's problem into its HTTP answer: 503 when the server is full, else 422, with the one sentence."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, trace) -> bool:
        if isinstance(exc, AvatarError):
            raise HTTPException(503 if isinstance(exc, ServiceUnavailable) else 422, str(exc)) from None
        return False


async def _read_open(request: Request) -> tuple[dict[str, Any], Any]:
    """The offer and the portrait (an avatar's name, or the uploaded image's bytes) of `POST /v1/live`."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=4, max_part_size=MAX_PORTRAIT_BYTES)
        params = _params(form.get("params") or "{}")
        upload = form.get("portrait")
        if upload is None or isinstance(upload, str):
            return params, params.get("avatar", "maya")
        data = await upload.read(MAX_PORTRAIT_BYTES + 1)
        if len(data) > MAX_PORTRAIT_BYTES:
            raise InputError(f"The portrait is larger than {MAX_PORTRAIT_BYTES // 1024**2} MB; send a smaller one.")
        return params, data
    params = _params(await request.body())
    avatar = params.get("avatar", "maya")
    if not isinstance(avatar, str):
        raise InputError(f"avatar must be a default avatar's name, not {quoted(avatar)}.")
    return params, avatar


def _params(raw: Any) -> dict[str, Any]:
    try:
        params = json.loads(raw)
    except (TypeError, ValueError):
        params = None
    if not isinstance(params, dict):
        raise InputError('The body must be one JSON object: {"sdp": OFFER, "type": "offer", "avatar": NAME}.')
    return params
