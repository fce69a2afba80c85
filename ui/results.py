"""Results on the pages: an image tool's result (the job that made it, notices, before and after side by side,
download), and a video player at a size that fits the screen.

The image block is drawn from the job alone (its result, its manifest and the picture
it was given), so it is the same after the person leaves the page and comes back,
when the upload box is empty again.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import streamlit as st
from PIL import Image

from avatar.errors import AvatarError
from avatar.media import load_image
from avatar.service.jobs import JobService, input_paths, job_folder
from avatar.service.store import JobRecord
from ui.history import page_job, recall_last_job, result_download


MAX_WIDTH, MAX_HEIGHT = 720, 540
"""The largest a result (video or picture) is shown in the page, in CSS pixels: its own size, scaled down to fit
this box, so a tall portrait is seen whole without scrolling. A video's full-screen button shows it larger."""
BLOCK_MIN_WIDTH = 400
"""A video's block (player, buttons, notes) is at least this wide, so a small video's buttons stay on one row."""


def display_width(width: int, height: int) -> int:
    """The width (px) a `width` x `height` picture or video is shown at: its own, or less so that it fits the box
    above. (Never wider than its container either: Streamlit caps a fixed width there, on a phone too.)"""
    if width <= 0 or height <= 0:
        return MAX_WIDTH
    return max(1, int(min(width, MAX_WIDTH, width * MAX_HEIGHT / height)))


def video_block(width: int, height: int):
    """A container for a result video of `width` x `height` and what goes under it (downloads, notes), as wide as
    the video is shown (at least `BLOCK_MIN_WIDTH`)."""
    return st.container(width=max(display_width(width, height), BLOCK_MIN_WIDTH))


def show_video(container, path: Path, width: int, height: int, subtitles=None) -> None:
    """A result video in `container` at `display_width`, with the browser's own controls: play, seek, volume,
    captions and full screen."""
    container.video(str(path), subtitles=subtitles, width=display_width(width, height))


@dataclass
class EditResult:
    """A finished image-tool job: the picture it was given, its result picture and its manifest."""

    job: JobRecord
    before: np.ndarray
    path: Path
    manifest: dict[str, Any]


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def submit_edit(service: JobService, owner: str, key: str, upload, kind: str, params: dict[str, Any],
                mask: np.ndarray) -> bool:
    """Submit an image tool's job for the uploaded picture and a selected mask (sent as a PNG); remember it under
    `key` with the upload it was made for. A refused request shows its sentence. True when queued."""
    st.session_state.pop(key, None)
    try:
        job = service.submit(owner, kind, params, {"image": upload.getvalue(), "mask": png_bytes(mask.astype(np.uint8) * 255)},
                             {"image": upload.name, "mask": "mask.png"})
    except AvatarError as exc:
        st.error(str(exc))
        return False
    st.session_state[key], st.session_state[f"{key}_upload"] = job.id, getattr(upload, "file_id", upload.name)
    return True


def edit_result(service: JobService, owner: str, key: str, kind: str, submitted: bool, upload_id: Optional[str],
                working: str) -> Optional[EditResult]:
    """The finished job under `key` (followed to its end first), or None.

    `upload_id` is the picture now on the page: a job made for another picture is not
    shown under it; with no picture (the page was opened again) the last job is shown.
    """
    if upload_id is not None and st.session_state.get(f"{key}_upload") != upload_id:
        return None
    if upload_id is None:
        recall_last_job(service, owner, key, kind)
    job = page_job(service, owner, key, submitted, working, "Nothing was made")
    if job is None:
        return None
    path, manifest = service.result_file(owner, job.id, "result.png"), service.result_file(owner, job.id, "manifest.json")
    given = input_paths(job_folder(job.id, service.root), ["image"]).get("image")
    if path is None or manifest is None or given is None:
        return None
    return EditResult(job, load_image(given), path, json.loads(manifest.read_text()))


def show_before_after(service: JobService, owner: str, shown: EditResult, title: str, before_caption: str,
                      after_caption: str, file_name: str) -> None:
    """The result block shared by the image pages: the manifest's notices, both pictures, the download."""
    st.subheader(title)
    for notice in shown.manifest.get("notices", []):
        st.info(notice)
    left, right = st.columns(2)
    left.image(shown.before, caption=before_caption, width=display_width(*shown.before.shape[1::-1]))
    with Image.open(shown.path) as after:
        right.image(str(shown.path), caption=after_caption, width=display_width(*after.size))
    result_download(st, service, owner, shown.job, "result.png", "Download result (PNG)", file_name,
                    key=f"{shown.job.kind}_download")
