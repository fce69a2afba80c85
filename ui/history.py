"""This browser session's jobs on a page: following one to its end, and the History list.

Pages never run a job themselves: they submit it to the job service and read its
record back from the store, so a job outlives the page (and the server) that
started it, and the same page works with in-process threads or Celery workers.
"""

from __future__ import annotations

import mimetypes
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional

import numpy as np
import streamlit as st
from PIL import Image, ImageOps

from avatar.media import IMAGE_EXTENSIONS
from avatar.service.jobs import JobService, input_paths, job_folder
from avatar.service.kinds import KINDS
from avatar.service.store import Cursor, JobRecord
from avatar.video.io import VIDEO_EXTENSIONS

POLL_S = 0.2
"""How often a page that follows a job reads its record (the runner writes progress every 0.25 s)."""
THUMBNAIL_PX = 240
THUMBNAIL_SHOWN_PX = 120  # on the page (the stored thumbnail is sharper, for high-density screens)
KIND_TITLES = {name: kind.title for name, kind in KINDS.items()}
STATUS_BADGES = {"queued": ":blue-badge[Queued]", "running": ":orange-badge[Running]", "done": ":green-badge[Done]",
                 "failed": ":red-badge[Failed]", "cancelled": ":gray-badge[Cancelled]"}
_MIME = {".mp4": "video/mp4", ".wav": "audio/wav", ".srt": "application/x-subrip", ".json": "application/json",
         ".png": "image/png"}


# -- following one job -----------------------------------------------------------------------

def progress_text(service: JobService, job: JobRecord) -> str:
    """What a progress bar says: the place in line while queued, the stage while running."""
    if job.status == "queued":
        place = service.place_in_line(job)
        return f"Waiting for a free worker: number {place} in line" if place else "Waiting for a free worker"
    return (job.stage or "starting").capitalize()


def follow_job(service: JobService, owner: str, job_id: str, bar) -> Optional[JobRecord]:
    """Poll the job's record until it is finished, drawing its progress on `bar`; None when it was deleted.

    The page's script waits here; a click elsewhere stops the wait (Streamlit
    reruns the script), not the job, and the next run picks the job up again.
    """
    while True:
        job = service.get(owner, job_id)
        if job is None or job.finished_state:
            return job
        bar.progress(min(max(job.progress, 0.0), 1.0), text=progress_text(service, job))
        time.sleep(POLL_S)


def page_job(service: JobService, owner: str, key: str, submitted: bool, working: str,
             nothing: str) -> Optional[JobRecord]:
    """The finished job a page shows under `st.session_state[key]`, following it to its end first; else None.

    While the job is queued or running (just `submitted`, or still going after a
    rerun or a reload), a bar shows its place in line or stage under the label
    `working`. A failed job shows its one-sentence message, a cancelled one a
    warning, and either is forgotten, so a stale result is never shown as the
    answer to the last request; `nothing` labels the status box then.
    """
    job_id = st.session_state.get(key)
    if job_id is None:
        return None
    job = service.get(owner, job_id)
    if job is not None and (submitted or not job.finished_state):
        bar = st.progress(0.0, text="Starting...")
        with st.status(working, expanded=False) as status:
            job = follow_job(service, owner, job_id, bar)
            if job is not None and job.status == "done":
                bar.progress(1.0, text="Done")
                status.update(label=f"Done in {job.finished - job.created:.1f} s", state="complete")
            else:
                bar.empty()
                status.update(label=nothing, state="error")
    if job is None or job.status != "done":
        st.session_state.pop(key, None)
        if job is not None and job.status == "failed":
            st.error(job.message)
        elif job is not None:
            st.warning("The job was cancelled; start it again when you are ready.")
        return None
    return job


def recall_last_job(service: JobService, owner: str, key: str, kind: str) -> None:
    """After a reload (a new browser session on the same address) a page remembers no job: once per session, take
    the owner's newest job of `kind` that did not fail or get cancelled, so its result, or its progress, is back."""
    if key in st.session_state or st.session_state.get(f"{key}_recalled"):
        return
    st.session_state[f"{key}_recalled"] = True
    job = next((job for job in service.list(owner) if job.kind == kind and job.status in ("queued", "running", "done")),
               None)
    if job is not None:
        st.session_state[key] = job.id


def result_download(container, service: JobService, owner: str, job: JobRecord, name: str, label: str,
                    file_name: str, key: Optional[str] = None, icon: Optional[str] = None) -> bool:
    """A download button for one result file, read only when clicked (a video is not copied on every rerun)."""
    path = service.result_file(owner, job.id, name)
    if path is None:
        return False
    container.download_button(label, data=lambda: path.read_bytes(), file_name=file_name, key=key,
                              mime=_MIME.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0],
                              on_click="ignore", icon=icon)
    return True


# -- the History list ------------------------------------------------------------------------

HISTORY_PAGE = 50
"""Jobs on one page of History; "Older jobs" goes on from the last one (any number of jobs stays reachable)."""


@dataclass(frozen=True)
class HistoryPage:
    """One page of an owner's jobs, newest first, and where the next older page starts (None: this is the last)."""

    jobs: list[JobRecord]
    older: Optional[Cursor]


def history_page(service: JobService, owner: str, before: Optional[Cursor] = None,
                 size: int = HISTORY_PAGE) -> HistoryPage:
    """The owner's jobs older than `before` (the newest with None), `size` of them; one more is read to know whether
    an older page exists."""
    jobs = service.list(owner, size + 1, before=before)
    return HistoryPage(jobs[:size], jobs[size - 1].cursor if len(jobs) > size else None)


def draw_history(service: JobService, owner: str, key: str) -> int:
    """One page of the owner's jobs, with "Older jobs" and "Newer jobs" under it; how many jobs it drew.

    `st.session_state[key]` keeps the cursors of the pages before this one, so a rerun (a progress update, a
    delete) stays on the page, and jobs submitted meanwhile never shift it."""
    cursors: list[str] = st.session_state.setdefault(key, [])
    page = history_page(service, owner, Cursor.parse(cursors[-1]) if cursors else None)
    if not page.jobs and cursors:  # every job of this page was deleted: the newer page it came from
        cursors.pop()
        st.rerun()
    for job in page.jobs:
        draw_job(service, owner, job)
    if cursors or page.older:
        pager = st.container(horizontal=True, gap="small")
        if cursors:
            pager.button("Newer jobs", key=f"{key}-newer", icon=":material/arrow_upward:", on_click=cursors.pop)
        if page.older:
            pager.button("Older jobs", key=f"{key}-older", icon=":material/arrow_downward:",
                         on_click=cursors.append, args=(str(page.older),))
    return len(page.jobs)


def draw_job(service: JobService, owner: str, job: JobRecord) -> None:
    """One job in a bordered box; a queued or running one redraws itself every second until it ends."""
    with st.container(border=True):
        if job.finished_state:
            _job_row(service, owner, job)
        else:
            _live_job_row(service, owner, job.id)


@st.fragment(run_every=1.0)
def _live_job_row(service: JobService, owner: str, job_id: str) -> None:
    job = service.get(owner, job_id)
    if job is None or job.finished_state:
        st.rerun()  # the whole page: the row gets its downloads, and this timer stops
    _job_row(service, owner, job)


def _job_row(service: JobService, owner: str, job: JobRecord) -> None:
    """The thumbnail beside what the job is and its state; under them its buttons, in a row that wraps (two or three
    to a line on a phone)."""
    row = st.container(horizontal=True, vertical_alignment="center", gap="medium")
    image = job_thumbnail(service, job)
    if image is not None:
        row.image(image, width=THUMBNAIL_SHOWN_PX)
    body = row.container()
    body.markdown(f"**{KIND_TITLES.get(job.kind, job.kind)}** {STATUS_BADGES.get(job.status, job.status)}")
    body.caption(f"{_when(job.created)} · {summary(job)}")
    if job.status in ("queued", "running"):
        body.progress(min(max(job.progress, 0.0), 1.0), text=progress_text(service, job))
    elif job.status == "failed":
        body.error(job.message)
    actions = st.container(horizontal=True, gap="small")
    if job.status in ("queued", "running"):
        actions.button("Cancel", key=f"cancel-{job.id}", icon=":material/stop:", on_click=service.cancel,
                       args=(owner, job.id))
    for name in job.results:
        result_download(actions, service, owner, job, name, name, f"{job.kind}-{job.id[:8]}-{name}",
                        key=f"download-{job.id}-{name}", icon=":material/download:")
    actions.button("Delete", key=f"delete-{job.id}", icon=":material/delete:", on_click=service.delete,
                   args=(owner, job.id), help="Remove this job and its files for good.")


def summary(job: JobRecord) -> str:
    """A few words saying what the job was asked to do."""
    return KINDS[job.kind].describe(job.params) if job.kind in KINDS else ""


def job_thumbnail(service: JobService, job: JobRecord) -> Optional[np.ndarray]:
    """The first frame of the result video, or the result image, or else the picture or video the job was given."""
    folder = job_folder(job.id, service.root)
    candidates = [folder / "results" / name for name in job.results
                  if Path(name).suffix.lower() in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS]
    given = input_paths(folder, [name for name in ("portrait", "image", "video") if name in job.inputs])
    candidates += list(given.values())
    if "avatar" in job.params:
        from avatar.avatars import get_default_avatar
        from avatar.errors import InputError

        try:
            candidates.append(get_default_avatar(str(job.params["avatar"])).image_path)
        except InputError:
            pass
    for path in candidates:
        try:
            image = _thumbnail(str(path), path.stat().st_mtime_ns)
        except OSError:
            continue
        if image is not None:
            return image
    return None


@st.cache_data(max_entries=512, show_spinner=False)
def _thumbnail(path: str, modified_ns: int) -> Optional[np.ndarray]:
    """A small RGB copy of an image or of a video's first frame (cached per file version); None if unreadable."""
    try:
        image = _open_picture(Path(path))
    except Exception:  # any undecodable file simply has no thumbnail
        return None
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
    return np.asarray(image.convert("RGB"))


def _open_picture(path: Path) -> Image.Image:
    if path.suffix.lower() not in VIDEO_EXTENSIONS and path.parent.name != "video":
        with Image.open(path) as image:
            return ImageOps.exif_transpose(image).convert("RGB")
    import av

    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_image()


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
