"""Submission bodies, received piece by piece and written to disk as they arrive, never held whole in memory.

A multipart body is parsed while it streams in (python-multipart's push parser):
each file part goes straight into its own file in a private spool folder beside
the job folders (`outputs/jobs/.uploads/`, the same filesystem, so a job takes its
files by renaming them), and text fields are kept only up to a small size. The
size limit is counted on the raw bytes as they come, and a body that stops
arriving for `body_timeout_s` is given up. Whatever happens (refusal, disconnect,
full disk, error), the spool folder is removed when the `receive_upload` context
ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, BinaryIO, Callable, Optional
from urllib.parse import parse_qsl

from avatar.config import env_number
from avatar.errors import InputError
from avatar.service.disk import DiskFull, is_disk_full

SPOOL_FOLDER = ".uploads"
MAX_PARAMS_BYTES = 64 * 1024
"""The params JSON of every kind is a handful of values; 64 KB leaves room for long texts, and no more."""
MAX_PARAMS_DEPTH = 32
"""No kind's parameters nest deeper than a list of points in an object; deeper is refused before it is parsed."""
MAX_PARTS = 16
"""More parts than any kind has fields (each kind takes at most a few files and one params field)."""


@dataclass(frozen=True)
class UploadLimits:
    """How much a submission may send, and how long it may pause while sending it."""

    max_bytes: int = 200 * 1024**2
    body_timeout_s: float = 30.0
    max_field_bytes: int = MAX_PARAMS_BYTES

    @classmethod
    def from_env(cls) -> "UploadLimits":
        """AVATAR_MAX_UPLOAD_MB (whole body) and AVATAR_BODY_TIMEOUT_S (longest pause between two pieces)."""
        return cls(max_bytes=int(env_number("AVATAR_MAX_UPLOAD_MB", 200, minimum=0.001) * 1024**2),
                   body_timeout_s=env_number("AVATAR_BODY_TIMEOUT_S", 30, minimum=0.1))


class UploadRefused(Exception):
    """The body cannot be taken: `status` is the HTTP status and the message the one sentence for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ClientGone(Exception):
    """The client disconnected before its body was complete; there is nobody left to answer."""


@dataclass
class Upload:
    """A received body: its text fields, and its files as paths in the spool folder (with the client's names)."""

    folder: Path
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    size: int = 0

    def params(self) -> dict[str, Any]:
        return parse_params(self.fields.get("params", ""))


class UploadSlots:
    """At most `limit` bodies are received at once (each holds a spool file and a share of the disk's bandwidth);
    a submission waits up to `wait_s` for a slot, then gets a 503. One event loop uses it, so a counter suffices."""

    def __init__(self, limit: int, wait_s: float) -> None:
        self.limit, self.wait_s, self.busy = max(1, limit), wait_s, 0

    @classmethod
    def from_env(cls) -> "UploadSlots":
        """AVATAR_MAX_UPLOADS (default 8) and AVATAR_UPLOAD_WAIT_S (default 10)."""
        return cls(int(env_number("AVATAR_MAX_UPLOADS", 8, minimum=1)), env_number("AVATAR_UPLOAD_WAIT_S", 10))

    async def take(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while self.busy >= self.limit:
            if loop.time() >= deadline:
                raise UploadRefused(503, f"The server is already receiving {self.limit} uploads; send this one "
                                         "again in a few seconds.")
            await asyncio.sleep(0.05)
        self.busy += 1

    def give_back(self) -> None:
        self.busy -= 1


def spool_root(jobs_root: Path) -> Path:
    return jobs_root / SPOOL_FOLDER


def sweep_spool(jobs_root: Path) -> int:
    """Remove spool folders left by processes of this machine that are gone (a server killed mid-upload)."""
    removed, host = 0, socket.gethostname()
    root = spool_root(jobs_root)
    for folder in root.iterdir() if root.is_dir() else ():
        owner_host, _, rest = folder.name.rpartition("~")
        pid = rest.split("-")[0]
        if owner_host == host and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


Receive = Callable[[], Awaitable[dict[str, Any]]]


@asynccontextmanager
async def receive_upload(receive: Receive, content_type: str, limits: UploadLimits,
                         jobs_root: Path) -> AsyncIterator[Upload]:
    """Read the body from the ASGI `receive` into a spool folder; the folder is removed when the context ends.

    Raises UploadRefused (413 too large, 408 stalled, 400 unreadable), ClientGone, or DiskFull."""
    folder = spool_root(jobs_root) / f"{socket.gethostname()}~{os.getpid()}-{secrets.token_hex(8)}"
    upload = Upload(folder)
    reader: Optional[_Reader] = None
    try:
        folder.mkdir(parents=True)
        reader = _reader(content_type, upload, limits)
        async for chunk in _chunks(receive, limits):
            upload.size += len(chunk)
            if upload.size > limits.max_bytes:
                raise UploadRefused(413, f"The upload is larger than {limits.max_bytes / 1024**2:g} MB; "
                                         "send smaller files.")
            reader.write(chunk)
        reader.finish()
        yield upload
    except OSError as exc:
        if is_disk_full(exc):
            raise DiskFull() from None
        raise
    finally:
        if reader is not None:
            reader.close()  # an open file would keep its disk space after the folder is gone
        shutil.rmtree(folder, ignore_errors=True)


async def _chunks(receive: Receive, limits: UploadLimits) -> AsyncIterator[bytes]:
    """The body's pieces as they arrive; ClientGone on a disconnect, 408 after a pause longer than the timeout."""
    while True:
        try:
            message = await asyncio.wait_for(receive(), limits.body_timeout_s)
        except asyncio.TimeoutError:
            raise UploadRefused(408, f"The upload stalled: nothing arrived for {limits.body_timeout_s:g} s; "
                                     "send it again.") from None
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


class _Reader:
    def write(self, chunk: bytes) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


def _reader(content_type: str, upload: Upload, limits: UploadLimits) -> _Reader:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return _MultipartReader(content_type, upload, limits)
    if kind == "application/x-www-form-urlencoded":
        return _FormReader(upload, limits)
    if kind:
        raise UploadRefused(415, "Send a job as multipart/form-data (or a url-encoded form) with its parameters as "
                                 "JSON in a params field and its files under their field names.")
    return _EmptyBody()


class _EmptyBody(_Reader):
    """A request without a content type (a job that needs no parameters): any body it has is only counted."""

    def write(self, chunk: bytes) -> None:
        pass


class _FormReader(_Reader):
    """A url-encoded form: text fields only (a submission without files), so small; kept in memory up to a cap."""

    def __init__(self, upload: Upload, limits: UploadLimits) -> None:
        self.upload, self.cap, self.data = upload, 3 * limits.max_field_bytes + 1024, bytearray()

    def write(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.cap:
            raise UploadRefused(413, f"The form is larger than {self.cap // 1024} KB; send files as "
                                     "multipart/form-data and keep params under "
                                     f"{MAX_PARAMS_BYTES // 1024} KB.")

    def finish(self) -> None:
        try:
            pairs = parse_qsl(self.data.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise UploadRefused(400, "The form is not valid UTF-8; send the params as UTF-8 JSON.") from None
        for name, value in pairs:
            if len(value.encode()) > MAX_PARAMS_BYTES:
                raise UploadRefused(413, f"The {_field_label(name)} field is larger than "
                                         f"{MAX_PARAMS_BYTES // 1024} KB; send less.")
            self.upload.fields[name] = value


class _MultipartReader(_Reader):
    """A multipart body parsed as it streams: file parts into spool files, text parts into memory up to a cap."""

    def __init__(self, content_type: str, upload: Upload, limits: UploadLimits) -> None:
        from python_multipart.multipart import MultipartParser, parse_options_header

        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise UploadRefused(400, "The multipart body has no boundary; let your HTTP library build the form.")
        self.upload, self.limits = upload, limits
        self.header_name, self.header_value, self.disposition = b"", b"", b""
        self.name: Optional[str] = None
        self.file: Optional[BinaryIO] = None
        self.text = bytearray()
        self.parts = 0
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._data, "on_part_end": self._end})

    def write(self, chunk: bytes) -> None:
        from python_multipart.exceptions import MultipartParseError

        try:
            self.parser.write(chunk)
        except MultipartParseError:
            raise UploadRefused(400, "The multipart body is malformed; let your HTTP library build the form.") \
                from None

    def finish(self) -> None:
        from python_multipart.multipart import MultipartState

        self._close_file()
        if self.parser.state != MultipartState.END:  # the parser itself accepts a body without its last boundary
            raise UploadRefused(400, "The multipart body is cut short; send it again.")

    def _begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise UploadRefused(400, f"The form has more than {MAX_PARTS} parts; send only params and the "
                                     "kind's files.")
        self.disposition, self.name, self.text = b"", None, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def _header_end(self) -> None:
        if self.header_name.strip().lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_name, self.header_value = b"", b""

    def _headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self.disposition)
        if b"name" not in options:
            raise UploadRefused(400, "A part of the form has no field name; let your HTTP library build the form.")
        self.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            previous = self.upload.files.pop(self.name, None)
            if previous is not None:  # the same field twice: the last one counts, as with any form
                previous.unlink(missing_ok=True)
            path = self.upload.folder / f"{len(self.upload.files)}-{secrets.token_hex(4)}"
            self.upload.files[self.name] = path
            self.upload.names[self.name] = options[b"filename"].decode("utf-8", "replace")
            self.file = open(path, "wb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.file is not None:
            self.file.write(data[start:end])
            return
        self.text += data[start:end]
        if len(self.text) > self.limits.max_field_bytes:
            raise UploadRefused(413, f"The {_field_label(self.name)} field is larger than "
                                     f"{self.limits.max_field_bytes // 1024} KB; send less.")

    def _end(self) -> None:
        if self.file is not None:
            self._close_file()
        elif self.name is not None:
            self.upload.fields[self.name] = self.text.decode("utf-8", "replace")

    def close(self) -> None:
        try:
            self._close_file()
        except OSError:  # its last bytes did not fit; the descriptor is closed all the same, and the file goes
            pass

    def _close_file(self) -> None:
        if self.file is not None:
            file, self.file = self.file, None
            file.close()


def _field_label(name: Optional[str]) -> str:
    """A field's name for a message: short and printable, never the client's long or odd text."""
    name = name or "unnamed"
    return repr(name) if len(name) <= 40 and name.isprintable() else "form"


def parse_params(text: str) -> dict[str, Any]:
    """The params JSON object; InputError (one sentence, never echoing the value) when it is too big, too deeply
    nested, not JSON, or not an object. Depth is measured before parsing, so no nesting reaches the parser's
    recursion."""
    usage = 'The params field must be a JSON object, e.g. {"text": "Hello"}.'
    if not text:
        return {}
    if len(text.encode("utf-8", "replace")) > MAX_PARAMS_BYTES:
        raise InputError(f"The params field is larger than {MAX_PARAMS_BYTES // 1024} KB; send only the job's "
                         "parameters.")
    if json_depth(text) > MAX_PARAMS_DEPTH:
        raise InputError(f"The params field nests more than {MAX_PARAMS_DEPTH} levels deep; send a flat JSON "
                         "object of the job's parameters.")
    try:
        params = json.loads(text)
    except (ValueError, RecursionError):
        raise InputError(usage) from None
    if not isinstance(params, dict):
        raise InputError(usage)
    return params


def json_depth(text: str) -> int:
    """The deepest nesting of [ and { in JSON text (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
