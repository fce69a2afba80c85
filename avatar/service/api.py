"""The HTTP API (`avatar serve`): the same jobs as the pages and the CLI, for scripts.

- Keys: `AVATAR_API_KEYS` (comma separated) are hashed (SHA-256) when the app is
  made and only the hashes are kept; a request sends `Authorization: Bearer KEY`
  (or `X-API-Key: KEY`). A key sees only its own jobs: another key's job id is a
  404, exactly like an id that does not exist.
- Submitting: `POST /v1/jobs/{kind}` (any kind of `avatar.service.kinds`), multipart, with the
  parameters as one JSON form field `params` and the files under the kind's field
  names. 202 with the job id; 422 with the one-sentence message for bad input (the
  same checks as the CLI); 503 when the job queue (Redis) cannot be reached;
  413 for a body over `AVATAR_MAX_UPLOAD_MB` (checked on
  Content-Length and while reading); 429 when the key already has
  `AVATAR_MAX_ACTIVE_JOBS` queued or running. The body is written to disk as it
  arrives (`avatar.service.uploads`), never held whole in memory: 408 when it stalls
  for `AVATAR_BODY_TIMEOUT_S`, 503 when `AVATAR_MAX_UPLOADS` others are arriving
  for longer than `AVATAR_UPLOAD_WAIT_S`,
  507 when the disk is full (`avatar.service.disk`). 429 as well when the key
  keeps `AVATAR_MAX_STORED_JOBS` jobs (default 1000) or its jobs' files would pass
  `AVATAR_MAX_STORED_MB` (default 10000; 0 turns either off): deleting old jobs
  makes room (`avatar.service.quotas`). Every kind checks all its files and values
  here (decoded, measured, faces found; numbers finite and in range; text at most
  5,000 characters), and a refusal quotes at most 40 characters of what it refuses.
- Listing: `GET /v1/jobs?limit=N&cursor=CURSOR&status=S` is a JSON list of the
  key's jobs, newest first, `limit` of them (default 100, at most 1000). When older
  jobs remain, the `Link` header names the next page, `</v1/jobs?limit=N&cursor=...>;
  rel="next"`; the cursor is the last job's creation time and id, so jobs submitted
  meanwhile never shift or repeat a page. Follow `next` until it is absent.
- Following: `GET /v1/jobs/{id}` (with the place in line),
  `GET /v1/jobs/{id}/events` (server-sent events until the job ends),
  `GET /v1/jobs/{id}/files/{name}` (only a listed result), `POST .../cancel`, `DELETE`.
- Live sessions (`avatar.live.routes`): `POST /v1/live` (a WebRTC offer -> answer),
  `.../say`, `.../stop`, `DELETE`.
- `GET /v1/models`, `GET /v1/models/{id}` (state, size, install command),
  `GET /v1/health`; OpenAPI documentation at `/docs`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from typing import Any, Optional
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from avatar.config import env_number
from avatar.errors import AvatarError, ServiceUnavailable, quoted
from avatar.service.disk import DiskFull, require_free_space
from avatar.service.jobs import JobService, get_service
from avatar.service.keys import LOCAL_OWNER, hash_key, key_owner, keys_from_env
from avatar.service.kinds import KINDS
from avatar.service.runs import jobs_root
from avatar.service.quotas import StorageLimitReached, StorageLimits
from avatar.service.store import FINISHED, STATES, Cursor, JobRecord
from avatar.service.store_health import DatabaseDamaged
from avatar.service.uploads import ClientGone, UploadLimits, UploadRefused, UploadSlots, receive_upload

PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
"""Jobs per page of `GET /v1/jobs`: by default, and at most."""
_LOGGER = logging.getLogger(__name__)
EVENTS_EVERY_S = 0.2
KEEP_ALIVE_S = 15.0
"""A comment line on an events stream that has had nothing to say this long: proxies and clients time out streams
that stay silent (a job waiting in line, or a long stage without progress, sends no event)."""
"""How often the event stream looks at the job record (a store read is cheap; SQLite in WAL mode never waits)."""


_CLOSE = {"Connection": "close"}
"""On a refusal sent before the body was read to its end: the rest of it is not worth reading."""


_SUBMIT_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object",
    "properties": {
        "params": {"type": "string", "description": 'The parameters as one JSON object, e.g. {"text": "Hello!", '
                                                    '"avatar": "maya"}; each kind\'s are the schema '
                                                    '`params_<kind>` below.'},
        **{field: {"type": "string", "format": "binary",
                   "description": "A file for " + " and ".join(k.name for k in KINDS.values() if field in k.files)
                   + " jobs."}
           for field in dict.fromkeys(f for k in KINDS.values() for f in k.files)},
    }}}}}}
"""The submit endpoint reads its body itself (to enforce the size limit while reading), so /docs learns its shape here."""


def cors_origins_from_env() -> list[str]:
    """`AVATAR_CORS_ORIGINS`: the web pages (scheme://host[:port], comma separated) whose scripts may call the API.

    None by default: a browser then lets only pages served by the API's own origin
    read its answers. A page elsewhere that embeds a live session needs its origin here."""
    origins = [origin.strip().rstrip("/") for origin in os.environ.get("AVATAR_CORS_ORIGINS", "").split(",")]
    for origin in origins:
        if origin and origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
            raise AvatarError(f"AVATAR_CORS_ORIGINS holds {quoted(origin)}, which is not an origin; give "
                              "scheme://host[:port] values such as https://example.com, comma separated.")
    return [origin for origin in origins if origin]


def allow_cross_origin(app: FastAPI, origins: list[str]) -> None:
    """Let scripts of `origins` call the API with a key in the Authorization header (no cookies are ever used)."""
    if not origins:
        return
    from fastapi.middleware.cors import CORSMiddleware

    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "DELETE"],
                       allow_headers=["Authorization", "Content-Type", "X-API-Key"], expose_headers=["Link"],
                       max_age=600)


def create_app(service: Optional[JobService] = None, keys: Optional[list[str]] = None, auth: bool = True) -> FastAPI:
    """The API over `service` (default: the process's job service), accepting `keys` (default: AVATAR_API_KEYS)."""
    hashes = [hash_key(key) for key in (keys_from_env() if keys is None else keys)]
    if auth and not hashes:
        raise AvatarError("No API keys are set; put them in AVATAR_API_KEYS (comma separated), "
                          "or start with --no-auth on a machine only you can reach.")
    limits = UploadLimits.from_env()
    max_active = int(env_number("AVATAR_MAX_ACTIVE_JOBS", 2, minimum=1))
    storage = StorageLimits.from_env()
    app = FastAPI(title="Avatar Studio API", version="1",
                  description="Talking videos, image and video tools as jobs: submit, follow, download.")
    allow_cross_origin(app, cors_origins_from_env())

    def jobs() -> JobService:
        return service or get_service()

    def owner(request: Request) -> str:
        if not auth:
            return LOCAL_OWNER
        header = request.headers.get("authorization", "")
        key = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
        who = key_owner(key, hashes)
        if who is None:
            raise HTTPException(401, "A valid API key is needed: send it as 'Authorization: Bearer KEY'.")
        return who

    from avatar.live.routes import live_router  # aiortc loads with the server, not with every import of this module

    app.include_router(live_router(owner, jobs=jobs))

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
        if isinstance(exc, DatabaseDamaged):  # the operator's to repair: the sentence (with the path) goes to the log
            _LOGGER.error("%s", exc)
            return JSONResponse({"detail": "The server's job database is damaged; its operator has to repair it "
                                           "(the server's log says how). Try again later."}, status_code=503)
        code = (503 if isinstance(exc, ServiceUnavailable) else 507 if isinstance(exc, DiskFull)
                else 429 if isinstance(exc, StorageLimitReached) else 422)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.get("/v1/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    def model_record(status) -> dict[str, Any]:
        return {"id": status.id, "name": status.name, "task": status.task, "state": status.state,
                "installed": status.installed, "size_bytes": status.size_bytes,
                "download_size": status.download_size, "install": status.install_command, "license": status.license,
                "loaded": status.loaded, "device": status.device}

    @app.get("/v1/models")
    def models(who: str = Depends(owner)) -> list[dict[str, Any]]:
        """Every model the studio knows, with its state: bundled, installed or missing (and how to install it)."""
        from avatar.models.registry import get_registry

        return [model_record(status) for status in get_registry().statuses()]

    @app.get("/v1/models/{model_id}")
    def model(model_id: str, who: str = Depends(owner)) -> dict[str, Any]:
        """One model's state; whether it is loaded and where is this server's view (workers load their own)."""
        from avatar.models.catalog import CATALOG
        from avatar.models.registry import get_registry

        if model_id not in CATALOG:
            raise HTTPException(404, f"There is no model {quoted(model_id)}; GET /v1/models lists them.")
        return model_record(get_registry().status(model_id))

    submitting: dict[str, asyncio.Lock] = {}
    slots = UploadSlots.from_env()

    @app.post("/v1/jobs/{kind}", status_code=202, openapi_extra=_SUBMIT_BODY)
    async def submit(kind: str, request: Request, who: str = Depends(owner)) -> dict[str, Any]:
        """Multipart: `params` (one JSON object) and files under the kind's field names; 202 with the job id."""
        if kind not in KINDS:
            raise HTTPException(404, f"There is no job kind {quoted(kind)}; use one of: {', '.join(KINDS)}.")
        declared = request.headers.get("content-length", "")
        declared_size = int(declared) if declared.isdigit() else 0
        if declared_size > limits.max_bytes:  # refused before a byte of the body is read
            raise HTTPException(413, f"The upload is larger than {limits.max_bytes / 1024**2:g} MB; send smaller "
                                     "files.", headers=_CLOSE)
        held = False
        try:
            await slots.take()
            held = True
            root = jobs().root or jobs_root()
            await asyncio.to_thread(require_free_space, root, declared_size)
            async with receive_upload(request.receive, request.headers.get("content-type", ""), limits,
                                      root) as upload:
                slots.give_back()  # the body is in: the next upload may come
                held = False
                params = upload.params()
                # One submission per key at a time in this process, so two quick requests cannot both pass the count.
                async with submitting.setdefault(who, asyncio.Lock()):
                    active = await asyncio.to_thread(jobs().store.count_active, who)
                    if active >= max_active:
                        raise HTTPException(429, f"This key already has {max_active} job"
                                                 f"{'s' if max_active != 1 else ''} queued or running; wait for one "
                                                 "to finish.")
                    await asyncio.to_thread(storage.require_room, jobs().store, root, who, upload.size)
                    job = await asyncio.to_thread(jobs().submit, who, kind, params, upload.files, upload.names,
                                                  move=True)
        except UploadRefused as exc:
            retry = {"Retry-After": "5"} if exc.status == 503 else {}
            raise HTTPException(exc.status, str(exc), headers={**_CLOSE, **retry}) from None
        except ClientGone:  # nobody is left to answer, and nothing was stored: no traceback, no log line
            return JSONResponse({"detail": "The client disconnected."}, status_code=400)
        finally:
            if held:
                slots.give_back()
        return await asyncio.to_thread(described, job)

    @app.get("/v1/jobs")
    def listing(response: Response, who: str = Depends(owner), limit: Optional[str] = None,
                cursor: Optional[str] = None, status: Optional[str] = None) -> list[dict[str, Any]]:
        """The key's jobs, newest first, a page of `limit` (default 100, at most 1000) at a time: the `Link` header's
        `rel="next"` address gives the next older page, until there is none."""
        size = _page_size(limit)
        if status is not None and status not in STATES:
            raise HTTPException(422, f"status must be one of {', '.join(STATES)}, not {quoted(status)}.")
        page = jobs().list(who, size + 1, before=None if cursor is None else Cursor.parse(cursor), status=status)
        if len(page) > size:
            page = page[:size]
            query = urlencode({"limit": size, "cursor": str(page[-1].cursor),
                               **({"status": status} if status else {})})
            response.headers["Link"] = f'</v1/jobs?{query}>; rel="next"'
        return [described(job) for job in page]

    @app.get("/v1/jobs/{job_id}")
    def status(job_id: str, who: str = Depends(owner)) -> dict[str, Any]:
        return described(found(jobs().get(who, job_id)))

    @app.get("/v1/jobs/{job_id}/events")
    async def events(job_id: str, who: str = Depends(owner)) -> StreamingResponse:
        """Server-sent events: one `data: {job}` per change of status, stage or progress, until the job ends."""
        await asyncio.to_thread(lambda: found(jobs().get(who, job_id)))

        def snapshot() -> Optional[dict[str, Any]]:
            job = jobs().get(who, job_id)
            return None if job is None else described(job)

        async def stream():
            last, said = None, time.monotonic()
            while True:
                record = await asyncio.to_thread(snapshot)
                if record is None:  # deleted meanwhile
                    yield f"event: gone\ndata: {json.dumps({'id': job_id})}\n\n"
                    return
                state = (record["status"], record["stage"], record["progress"], record["place_in_line"])
                if state != last:
                    last, said = state, time.monotonic()
                    yield f"data: {json.dumps(record)}\n\n"
                elif time.monotonic() - said >= KEEP_ALIVE_S:
                    said = time.monotonic()
                    yield ": keep-alive\n\n"
                if record["status"] in FINISHED:
                    return
                await asyncio.sleep(EVENTS_EVERY_S)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/v1/jobs/{job_id}/files/{name}")
    def result(job_id: str, name: str, who: str = Depends(owner)) -> FileResponse:
        path = jobs().result_file(who, job_id, name)
        if path is None:
            raise HTTPException(404, "There is no such result for this key.")
        return FileResponse(path, filename=name)

    @app.post("/v1/jobs/{job_id}/cancel")
    def cancel(job_id: str, who: str = Depends(owner)) -> dict[str, Any]:
        return described(found(jobs().cancel(who, job_id)))

    @app.delete("/v1/jobs/{job_id}", status_code=204)
    def remove(job_id: str, who: str = Depends(owner)) -> None:
        if not jobs().delete(who, job_id):
            raise HTTPException(404, "There is no such job for this key.")

    def openapi() -> dict[str, Any]:
        """FastAPI's document, plus each kind's parameters (declared once, in the task's options) as a schema."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, kind in KINDS.items():
                schema = kind.schema()
                if schema:
                    schemas[f"params_{name}"] = {**schema, "title": f"{kind.title}: params",
                                                 "description": f"The `params` JSON of a {name} job."}
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _page_size(text: Optional[str]) -> int:
    """The `limit` of a listing: a whole number from 1 to MAX_PAGE_SIZE (PAGE_SIZE when not given)."""
    if text is None:
        return PAGE_SIZE
    if not (text.isdigit() and 1 <= int(text) <= MAX_PAGE_SIZE):
        raise HTTPException(422, f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}, not {quoted(text)}.")
    return int(text)
