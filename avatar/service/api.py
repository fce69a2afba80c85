"""The HTTP API (`avatar serve`): the same jobs as the pages and the CLI, for scripts.

- Keys: `AVATAR_API_KEYS` (comma separated) are hashed (SHA-256) when the app is
  made and only the hashes are kept; a request sends `Authorization: Bearer KEY`
  (or `X-API-Key: KEY`). A key sees only its own jobs: another key's job id is a
  404, exactly like an id that does not exist.
- Submitting: `POST /v1/jobs/{kind}` (talk, inpaint, upscale), multipart, with the
  parameters as one JSON form field `params` and the files under the kind's field
  names. 202 with the job id; 422 with the one-sentence message for bad input (the
  same checks as the CLI); 413 for a body over `AVATAR_MAX_UPLOAD_MB` (checked on
  Content-Length and while reading); 429 when the key already has
  `AVATAR_MAX_ACTIVE_JOBS` queued or running.
- Following: `GET /v1/jobs`, `GET /v1/jobs/{id}` (with the place in line),
  `GET /v1/jobs/{id}/events` (server-sent events until the job ends),
  `GET /v1/jobs/{id}/files/{name}` (only a listed result), `POST .../cancel`, `DELETE`.
- `GET /v1/models`, `GET /v1/health`; OpenAPI documentation at `/docs`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
from typing import Any, Optional

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from avatar.errors import AvatarError
from avatar.service.jobs import JobService, get_service
from avatar.service.kinds import KINDS
from avatar.service.store import JobRecord

LOCAL_OWNER = "local"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def keys_from_env() -> list[str]:
    return [key.strip() for key in os.environ.get("AVATAR_API_KEYS", "").split(",") if key.strip()]


class _TooLarge(Exception):
    pass


def create_app(service: Optional[JobService] = None, keys: Optional[list[str]] = None, auth: bool = True) -> FastAPI:
    """The API over `service` (default: the process's job service), accepting `keys` (default: AVATAR_API_KEYS)."""
    hashes = [hash_key(key) for key in (keys_from_env() if keys is None else keys)]
    if auth and not hashes:
        raise AvatarError("No API keys are set; put them in AVATAR_API_KEYS (comma separated), "
                          "or start with --no-auth on a machine only you can reach.")
    max_upload = int(float(os.environ.get("AVATAR_MAX_UPLOAD_MB", "200")) * 1024**2)
    max_active = int(os.environ.get("AVATAR_MAX_ACTIVE_JOBS", "2"))
    app = FastAPI(title="Avatar Studio API", version="1",
                  description="Talking videos, image and video tools as jobs: submit, follow, download.")

    def jobs() -> JobService:
        return service or get_service()

    def owner(request: Request) -> str:
        if not auth:
            return LOCAL_OWNER
        header = request.headers.get("authorization", "")
        key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
        digest = hash_key(key) if key else ""
        if not digest or not any(hmac.compare_digest(digest, known) for known in hashes):
            raise HTTPException(401, "A valid API key is needed: send it as 'Authorization: Bearer KEY'.")
        return f"key:{digest[:16]}"

    def found(job: Optional[JobRecord]) -> JobRecord:
        if job is None:
            raise HTTPException(404, "There is no such job for this key.")
        return job

    def described(job: JobRecord) -> dict[str, Any]:
        record = job.public()
        record["place_in_line"] = jobs().place_in_line(job)
        record["links"] = {"self": f"/v1/jobs/{job.id}", "events": f"/v1/jobs/{job.id}/events",
                           "files": {name: f"/v1/jobs/{job.id}/files/{name}" for name in job.results}}
        return record

    @app.exception_handler(AvatarError)
    async def _avatar_error(request: Request, exc: AvatarError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.get("/v1/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models(who: str = Depends(owner)) -> list[dict[str, Any]]:
        from avatar.registry import get_registry

        return [{"id": s.id, "name": s.name, "task": s.task, "state": s.state, "install": s.install_command,
                 "license": s.license} for s in get_registry().statuses()]

    @app.post("/v1/jobs/{kind}", status_code=202)
    async def submit(kind: str, request: Request, who: str = Depends(owner)) -> dict[str, Any]:
        if kind not in KINDS:
            raise HTTPException(404, f"There is no job kind {kind!r}; use one of: {', '.join(KINDS)}.")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_upload:
            raise HTTPException(413, f"The upload is larger than {max_upload // 1024**2} MB; send smaller files.")
        try:
            body = await _read_limited(request, max_upload)
        except _TooLarge:
            raise HTTPException(413, f"The upload is larger than {max_upload // 1024**2} MB; send smaller files.")
        params, files = await _form(request, body)
        if jobs().store.count_active(who) >= max_active:
            raise HTTPException(429, f"This key already has {max_active} jobs queued or running; "
                                     "wait for one to finish.")
        job = await asyncio.to_thread(jobs().submit, who, kind, params, files)
        return described(job)

    @app.get("/v1/jobs")
    async def listing(who: str = Depends(owner)) -> list[dict[str, Any]]:
        return [described(job) for job in jobs().list(who)]

    @app.get("/v1/jobs/{job_id}")
    async def status(job_id: str, who: str = Depends(owner)) -> dict[str, Any]:
        return described(found(jobs().get(who, job_id)))

    @app.get("/v1/jobs/{job_id}/events")
    async def events(job_id: str, who: str = Depends(owner)) -> StreamingResponse:
        found(jobs().get(who, job_id))

        async def stream():
            last = None
            while True:
                job = jobs().get(who, job_id)
                if job is None:
                    yield f"event: gone\ndata: {json.dumps({'id': job_id})}\n\n"
                    return
                state = (job.status, job.stage, round(job.progress, 3))
                if state != last:
                    last = state
                    yield f"data: {json.dumps(described(job))}\n\n"
                if job.finished_state:
                    return
                await asyncio.sleep(0.2)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/v1/jobs/{job_id}/files/{name}")
    async def result(job_id: str, name: str, who: str = Depends(owner)) -> FileResponse:
        path = jobs().result_file(who, job_id, name)
        if path is None:
            raise HTTPException(404, "There is no such result for this key.")
        return FileResponse(path, filename=name)

    @app.post("/v1/jobs/{job_id}/cancel")
    async def cancel(job_id: str, who: str = Depends(owner)) -> dict[str, Any]:
        return described(found(jobs().cancel(who, job_id)))

    @app.delete("/v1/jobs/{job_id}", status_code=204)
    async def remove(job_id: str, who: str = Depends(owner)) -> None:
        if not jobs().delete(who, job_id):
            raise HTTPException(404, "There is no such job for this key.")

    return app


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing it as soon as it passes `limit` bytes (chunked uploads have no Content-Length)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


async def _form(request: Request, body: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Parse the multipart body already read: `params` (JSON) and the files, by field name."""
    from starlette.datastructures import UploadFile
    from starlette.requests import Request as BodyRequest

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    form = await BodyRequest(request.scope, receive).form()
    try:
        params = json.loads(form.get("params") or "{}")
    except (TypeError, ValueError):
        raise HTTPException(422, "The params field must be a JSON object, e.g. {\"text\": \"Hello\"}.") from None
    if not isinstance(params, dict):
        raise HTTPException(422, "The params field must be a JSON object, e.g. {\"text\": \"Hello\"}.")
    files = {}
    for field, value in form.multi_items():
        if isinstance(value, UploadFile):
            files[field] = await value.read()
    return params, files
