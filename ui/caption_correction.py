"""Automatic captions under a video (Talking Avatar, Dub a video): say so, let the person correct the words,
re-time the video.

A video made from a recording without a transcript is captioned with recognised
words, which are often wrong on real speech. Under such a video the page shows the
recognised words (all of them, the unsure ones left out of the captions included)
in a text area; the corrected words are sent, with the same portrait (or video),
recording and options, as a new job of the same kind whose `transcript` they are,
so the new video's captions are exact and its lips follow the corrected words.
"""

from __future__ import annotations

from typing import Any, Optional

from avatar.captions import captions_note, is_automatic
from avatar.errors import AvatarError
from avatar.service.jobs import JobService, input_paths, job_folder
from avatar.service.store import JobRecord
from avatar.speech.recognize import check_transcript
from avatar.speech.text import MAX_TEXT_CHARS

CORRECTION_LABEL = "Correct the words and re-time"
RETIME_BUTTON = "Re-time with these words"


def retime_request(service: JobService, job: JobRecord, transcript: str
                   ) -> tuple[dict[str, Any], dict[str, bytes], dict[str, str]]:
    """A talk or dub job's parameters, input files and their names, with `transcript` as what its recording says."""
    params = {**job.params, "transcript": check_transcript(transcript)}
    stored = input_paths(job_folder(job.id, service.root), list(job.inputs))
    if "audio" not in stored:
        raise AvatarError("The recording of this video is no longer stored; upload it again with its transcript.")
    files = {field: path.read_bytes() for field, path in stored.items()}
    return params, files, {field: path.name for field, path in stored.items()}


def caption_correction(container, service: JobService, owner: str, job: JobRecord,
                       manifest: dict[str, Any]) -> Optional[JobRecord]:
    """Under a video with automatic captions: the note, the recognised words to correct and the button that
    re-times the video with them. Returns the new job when one was submitted (None otherwise, or when the
    captions are exact)."""
    captions = manifest.get("speech", {}).get("captions")
    if not is_automatic(captions):
        return None
    container.caption(captions_note(captions))
    corrected = container.text_area(
        CORRECTION_LABEL, value=captions.get("recognized_text", ""), max_chars=MAX_TEXT_CHARS, height=120,
        key=f"talk_correction_{job.id}",
        help="The words recognised in the recording, unsure ones included. Fix them to what is really said; "
             "the video is made again with these words as its transcript, so its captions are exact.")
    if not container.button(RETIME_BUTTON, key=f"talk_retime_{job.id}", icon=":material/subtitles:"):
        return None
    try:
        params, files, names = retime_request(service, job, corrected)
        return service.submit(owner, job.kind, params, files, names)
    except AvatarError as exc:
        container.error(str(exc))
        return None
