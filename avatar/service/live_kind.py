"""The saved live session: a live session's portrait, sound and clock -> the MP4 of what it said.

Its inputs are written by `submit_saved_session` (below) when a
session is saved (the page's button, or `POST /v1/live/{id}/save`): `portrait`
(PNG), `audio` (the session's sound, 16-bit WAV) and `session` (`session.json`: the
settings, the face and every sentence on the clock). The run renders the frames
with the live session's own code (`avatar.live.render`).
"""

from __future__ import annotations

import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from avatar.errors import InputError
from avatar.options import from_params, json_schema, option
from avatar.progress import Progress
from avatar.service.job_kind import Inputs, JobKind, shorten

if TYPE_CHECKING:
    from avatar.live.session import LiveSession
    from avatar.service.jobs import JobService

@dataclass(frozen=True)
class SavedSessionInfo:
    """What a saved session's job records for History; the clock itself is the `session` file."""

    seconds: float = option(0.0, "the session's length in seconds", min=0, max=10 * 24 * 3600)
    sentences: int = option(0, "how many sentences were said", min=0, max=1_000_000)
    said: str = option("", "what was said (its first 200 characters)")


def _check_live(params: dict[str, Any], inputs: Inputs) -> str:
    """The clock parsed, the portrait decoded at the size the face was found at, the sound's format and length as
    the clock says: a job that cannot render is refused at submit."""
    from avatar.live.recording import read_saved
    from avatar.media import load_image

    from_params(SavedSessionInfo, params)
    missing = [name for name in ("portrait", "audio", "session") if name not in inputs]
    if missing:
        raise InputError(f"A saved live session needs the files portrait, audio and session; {missing[0]} is missing.")
    saved = read_saved(inputs["session"])
    image = load_image(inputs["portrait"].read_bytes(), name=inputs["portrait"].name)
    height, width = image.shape[:2]
    x0, y0, x1, y1 = saved.face.box
    if width % 2 or height % 2 or not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise InputError("The saved session's portrait does not match its face; save the session again.")
    try:
        with wave.open(str(inputs["audio"]), "rb") as wav:
            shape = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes())
    except (wave.Error, EOFError):
        raise InputError("The saved session's sound is not a WAV file; save the session again.") from None
    if shape != (1, 2, saved.sample_rate, saved.samples):
        raise InputError("The saved session's sound does not match its clock (16-bit mono, "
                         f"{saved.samples} samples at {saved.sample_rate} Hz); save the session again.")
    return "cpu"


def _run_live(params: dict[str, Any], inputs: Inputs, out: Path, progress: Optional[Progress]) -> list[str]:
    from avatar.live.recording import read_saved
    from avatar.live.render import render_saved

    return render_saved(read_saved(inputs["session"]), inputs["portrait"], inputs["audio"], out, progress)


def _describe_live(params: dict[str, Any]) -> str:
    seconds = float(params.get("seconds", 0))
    said = f": “{shorten(str(params['said']))}”" if params.get("said") else ""
    return f"A live session of {seconds:.0f} s{said}"


LIVE = JobKind("live", "Live session", ("portrait", "audio", "session"), _check_live, _run_live, _describe_live,
               schema=lambda: json_schema(SavedSessionInfo))


def submit_saved_session(session: "LiveSession", owner: str, service: "JobService") -> str:
    """Submit a job that renders everything `session` said up to now as an MP4; return the job's id.

    The job is `owner`'s like any other (the page's browser session, or the API
    key's owner), runs on the usual CPU queue and lists on History with `video.mp4`,
    `audio.wav`, `captions.srt` and `manifest.json`. The session goes on while the
    job renders. InputError in one
    sentence when there is nothing to save yet (a session of no whole frame), the
    session has ended, or the store refuses the job.
    """
    from avatar.live.recording import job_params, read_saved, write_session_files
    from avatar.service.disk import DiskFull

    recording = session.recording()
    if recording.frames <= recording.first_frame:
        raise InputError("The live session has not run long enough to save; let it run a moment first.")
    with tempfile.TemporaryDirectory(prefix="avatar-live-save-") as folder:
        files = write_session_files(recording, Path(folder))
        saved = read_saved(files["session"])
        try:
            job = service.submit(owner, LIVE.name, job_params(saved), files)
        except DiskFull as exc:
            raise InputError(str(exc)) from None
    return job.id
