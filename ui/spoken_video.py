"""The result of a page that makes a speaking video (Talking Avatar, Dub a video): followed, shown, downloaded.

Both pages follow their job to its end, show the video with its captions, offer
the MP4 and the captions (said to be automatic when they were recognised), say
what timed the lips, let the words be corrected (which runs the job again), and
show the session's last video again after a reload until the form changes. What
differs between them is gathered in a `SpokenVideoPage`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st

from avatar.captions import AUTOMATIC_CAPTIONS_FILE
from avatar.service.jobs import JobService
from avatar.service.store import JobRecord
from avatar.talk.pipeline import MOUTH_METHODS
from ui.caption_correction import caption_correction
from ui.history import page_job, recall_last_job, result_download
from ui.results import show_video, video_block
from ui.voice_picker import remember


@dataclass(frozen=True)
class SpokenVideoPage:
    """One page's job kind, session keys and words."""

    kind: str  # the job kind the page submits
    job_key: str  # the job the page follows
    pick_key: str  # the voice it was given, remembered once the job is done
    retimed_key: str  # set when the job was just submitted to re-time a video with corrected words
    inputs_key: str  # what the form held when the shown video was asked for (or found again)
    last_key: str  # set while the shown video is the session's last one, found again, not this form's
    working: str  # shown while the job runs: "Making your video..."
    last: str  # how a video found again is introduced: "Your last video"
    stem: str  # the downloads' file name: STEM.mp4, STEM.srt
    made_from: Callable[[JobService, JobRecord], str]  # what the job was made from, in words
    describe: Callable[[dict[str, Any]], tuple[int, int, str]]  # from the manifest: width, height, a line about it


def show_spoken_video(page: SpokenVideoPage, service: JobService, owner: str, submitted: bool, inputs: str,
                      fresh_visit: bool) -> None:
    """Follow the page's job (just `submitted`, or still running from an earlier run) to its end, then show its
    video, downloads and notes, or its one-sentence error.

    A job found again on a fresh visit (after a reload, or back from another page) is
    labelled as the last video, with what it was made from; once the form's `inputs`
    change from what they were when the job was asked for or found, it is no longer shown.
    """
    state = st.session_state
    recall_last_job(service, owner, page.job_key, page.kind)
    if page.job_key in state and (fresh_visit or page.inputs_key not in state):
        state[page.inputs_key], state[page.last_key] = inputs, True
    elif state.get(page.inputs_key, inputs) != inputs:
        for key in (page.job_key, page.inputs_key, page.last_key, page.pick_key):
            state.pop(key, None)
        return
    submitted = state.pop(page.retimed_key, False) or submitted
    job = page_job(service, owner, page.job_key, submitted, page.working, "No video was made")
    if job is None:
        state.pop(page.pick_key, None)
        return
    if page.pick_key in state:
        remember(state.pop(page.pick_key))
    video = service.result_file(owner, job.id, "video.mp4")
    manifest_path = service.result_file(owner, job.id, "manifest.json")
    if video is None or manifest_path is None:
        state.pop(page.job_key, None)
        return
    manifest = json.loads(manifest_path.read_text())
    width, height, line = page.describe(manifest)
    player = video_block(width, height)
    if state.get(page.last_key):
        made_from = page.made_from(service, job)
        player.markdown(f"**{page.last}**, made from {made_from}" + ("" if made_from.endswith("”") else "."))
    captions = (manifest.get("captions") or {}).get("file")
    show_video(player, video, width, height,
               subtitles=service.result_file(owner, job.id, captions) if captions else None)
    buttons = player.container(horizontal=True)
    result_download(buttons, service, owner, job, "video.mp4", "Download MP4", f"{page.stem}.mp4")
    if captions:
        automatic = captions == AUTOMATIC_CAPTIONS_FILE
        result_download(buttons, service, owner, job, captions,
                        "Download automatic captions (SRT)" if automatic else "Download captions (SRT)",
                        f"{page.stem}.auto.srt" if automatic else f"{page.stem}.srt")
    timings = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in manifest["timings_s"].items())
    player.caption(f"{line}, {timings}")
    mouth = manifest["speech"].get("mouth") or {}
    if mouth.get("method", "voice") != "voice":
        reason = f" ({mouth['reason']})" if mouth.get("reason") else ""
        player.caption(f"Lip timing: {MOUTH_METHODS[mouth['method']]}{reason}.")
    retimed = caption_correction(player, service, owner, job, manifest)
    if retimed is not None:
        state[page.job_key], state[page.retimed_key] = retimed.id, True
        st.rerun()
