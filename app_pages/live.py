"""Live page: a portrait that idles in the page and speaks each typed sentence as it is sent (WebRTC).

The page holds one `LiveSession` per browser session (ui.live_players) and plays it
in its own player (ui.live_component): a receive-only WebRTC connection whose
offer the page answers once, at Start, with aiortc on this process's one live loop
(ui.live_transport); the session's own video and audio tracks are the connection's
tracks, so frames and sound leave the server on the session's one clock. The
sentence box and Stop are in the player and reach the session over the
connection's data channel, without a rerun; the transcript beside it is a fragment
that reads the session twice a second.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import streamlit as st

from avatar.avatars import list_default_avatars, thumbnail
from avatar.errors import AvatarError
from avatar.service.live_kind import submit_saved_session
from avatar.media import IMAGE_EXTENSIONS
from avatar.service.jobs import get_service
from avatar.service.store import JobRecord
from ui.links import page_link
from ui.live_component import live_player
from ui.live_players import LivePlayer, idle_timeout, live_players
from ui.live_transport import live_transport
from ui.portrait_generation import generated_portrait_input
from ui.session import job_owner

PLAYER_KEY = "live_player"  # the id of this browser session's live session
SAVED_KEY = "live_saved_job"  # the job that renders the session saved last
ENDED_KEY = "live_ended"  # why the last session ended by itself (no connection, or idle), shown once
SHOWN_KEY = "live_saved_shown"  # that job once it ended and the page was drawn again to show it
ANSWERED_KEY = "live_answered"  # ((session id, offer's nonce), answer) of the player's offer answered last
THUMBNAIL_PX = 120
PROBLEMS = {  # what the player reports, as the page says it
    "no-webrtc": ("The live video is not playing: this browser has no WebRTC or blocks it; use a recent Chrome, "
                  "Firefox, Edge or Safari without extensions that block WebRTC, then Start again."),
    "failed": ("The live video is not playing: this browser or its network blocks WebRTC, or the connection "
               "dropped; try another browser or network, then Start again."),
}


def _choose_portrait() -> tuple[Optional[Any], Optional[str]]:
    """The portrait the session starts from (a default avatar's name, image bytes or an RGB array), and why the
    choice cannot be used yet (None when it can)."""
    source = st.radio("Portrait source", ["Default avatar", "Upload a portrait", "Generate from a prompt"],
                      horizontal=True, label_visibility="collapsed", key="live_source")
    if source == "Default avatar":
        avatars = list_default_avatars()
        gallery = st.container(horizontal=True)
        for avatar in avatars:
            gallery.image(thumbnail(avatar, 2 * THUMBNAIL_PX), caption=avatar.title, width=THUMBNAIL_PX)
        titles = {avatar.title: avatar for avatar in avatars}
        chosen = titles[st.radio("Avatar", list(titles), horizontal=True, key="live_avatar")]
        return chosen.name, None
    if source == "Upload a portrait":
        upload = st.file_uploader("Portrait (PNG, JPEG or WebP)", type=[e.lstrip(".") for e in IMAGE_EXTENSIONS],
                                  key="live_upload")
        if upload is None:
            return None, "Upload a portrait first, or pick a default avatar."
        st.image(upload.getvalue(), caption=upload.name, width=240)
        return upload.getvalue(), None
    image = generated_portrait_input()
    if image is None:
        return None, "Generate a portrait first, or pick a default avatar."
    return np.ascontiguousarray(image), None


def _start(source: Any) -> None:
    """Open this browser session's live session, or say in one sentence why not (full server, no face)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx()
    try:
        with st.spinner("Preparing the portrait..."):
            player = live_players().open(source, context.session_id if context else None)
    except AvatarError as exc:
        st.error(str(exc))
        return
    st.session_state[PLAYER_KEY] = player.id
    st.rerun()


def _player_key(player: LivePlayer) -> str:
    return f"live_player_{player.id}"  # a new session gets a new player and connection, never the last one's


def _player_problem(player: LivePlayer) -> Optional[str]:
    """The sentence for what the player reported (no WebRTC here, or a connection that failed); None while fine."""
    value = st.session_state.get(_player_key(player))
    if isinstance(value, dict) and value.get("problem"):
        return PROBLEMS.get(value["problem"], PROBLEMS["failed"])
    return None


def _answer(player: LivePlayer) -> Optional[dict[str, str]]:
    """The server's answer to the player's offer: made once per offer (the run after the player sent it), then
    handed to the player again on every run, so a rerun of the page never reconnects."""
    value = st.session_state.get(_player_key(player))
    answered = st.session_state.get(ANSWERED_KEY)
    if not isinstance(value, dict) or "offer" not in value:
        return None
    offer_id = (player.id, str(value.get("nonce")))
    if answered is not None and answered[0] == offer_id:
        return answered[1]
    try:
        answer: Optional[dict[str, str]] = live_transport().connect(player, value["offer"]).as_dict()
    except AvatarError as exc:
        st.error(str(exc))
        answer = None
    st.session_state[ANSWERED_KEY] = (offer_id, answer)
    return answer


def _player_view(player: LivePlayer) -> None:
    """The video with the sentence box and Stop below it; it plays as soon as it connects (the page's Start was the
    click that allows sound)."""
    live_player(_player_key(player), answer=_answer(player))


@st.fragment
def _controls(player: LivePlayer) -> None:
    """Save the session so far, or end it (typing and Stop are in the player, beside the video)."""
    columns = st.columns(2)
    if columns[0].button("Save as MP4", help="The session so far as a video, listed on History"):
        _save(player)
    if columns[1].button("End session"):
        live_players().close(player.id)
        st.session_state.pop(PLAYER_KEY, None)
        st.rerun(scope="app")


def _save(player: LivePlayer) -> None:
    """Hand the session so far to a job that writes it as an MP4 (a normal result on History)."""
    try:
        job_id = submit_saved_session(player.session, job_owner(), get_service())
    except AvatarError as exc:
        st.error(str(exc))
        return
    st.session_state[SAVED_KEY] = job_id
    st.session_state.pop(SHOWN_KEY, None)
    st.rerun(scope="app")  # draws the save's progress, which refreshes itself until the video is written


def _saved_job() -> Optional[JobRecord]:
    job_id = st.session_state.get(SAVED_KEY)
    return None if job_id is None else get_service().get(job_owner(), job_id)


@st.fragment(run_every=1.0)
def _saving() -> None:
    """The saved session's progress while its job runs; once it ends, the page is drawn again with the result."""
    job = _saved_job()
    if job is None:
        return
    if not job.finished_state:
        st.progress(job.progress, text=f"Saving the session as an MP4 (job {job.id}): {job.stage or job.status}...")
    elif st.session_state.get(SHOWN_KEY) != job.id:
        st.session_state[SHOWN_KEY] = job.id
        st.rerun(scope="app")


def _saved_result() -> None:
    """The last saved session's MP4 (also listed on History), or why saving failed."""
    job = _saved_job()
    if job is None or not job.finished_state or st.session_state.get(SHOWN_KEY) != job.id:
        return
    if job.status == "failed":
        st.error(job.message or "Saving the session failed.")
    elif job.status == "cancelled":
        st.warning(f"Saving the session (job {job.id}) was cancelled.")
    else:
        st.success(f"Saved as job {job.id}; it is listed on History.")
        video = get_service().result_file(job_owner(), job.id, "video.mp4")
        if video is not None:
            st.video(str(video))
        page_link("app_pages/history.py", "History", icon=":material/history:")


def _idle_end(seconds: float) -> str:
    return f"The live session ended after {seconds:g} s without a word; press Start for a new one."


def _end(player: LivePlayer, reason: tuple[str, str]) -> None:
    """End the session and draw the page again with its Start form, `reason` (kind, sentence) shown above it."""
    live_players().close(player.id)
    st.session_state.pop(PLAYER_KEY, None)
    st.session_state[ENDED_KEY] = reason
    st.rerun(scope="app")


TRANSCRIPT_LINES = 12
"""Sentences the transcript shows (the last ones). It is drawn again twice a second: drawing every sentence of a long
session made the page's script allocate more each minute (a full garbage collection, stopping the stream 0.1-0.3 s,
about once a minute after five) and took the browser's main thread from the player's video more each minute."""


@st.fragment(run_every=0.5)
def _transcript(player: LivePlayer) -> None:
    """What was said so far, newest last, with Stop's cuts marked; the voice's refusals below it."""
    if player.session.expired:  # the page's Start form comes back, with the reason above it
        _end(player, ("info", _idle_end(player.session.settings.idle_timeout)))
    lines = player.session.transcript
    st.markdown("**Transcript**")
    if not lines:
        st.caption("Nothing said yet.")
    elif len(lines) > TRANSCRIPT_LINES:
        st.caption(f"{len(lines) - TRANSCRIPT_LINES} earlier sentences (Save keeps them all).")
    for line in lines[-TRANSCRIPT_LINES:]:
        st.markdown(f"`{line.start:6.1f} s` {line.text}" + (" *(interrupted)*" if line.interrupted else ""))
    for error in player.session.errors[-3:]:
        st.error(error)


st.title("Live")
st.caption("Pick a portrait and press Start: the avatar appears and speaks each sentence you type, as you send it.")

players = live_players()
player = players.get(st.session_state.get(PLAYER_KEY))
if player is not None and (problem := _player_problem(player)):
    _end(player, ("error", problem))
if player is None:
    ended = st.session_state.pop(ENDED_KEY, None)
    if st.session_state.pop(PLAYER_KEY, None) is not None and ended is None:  # ended while the page was away
        ended = ("info", _idle_end(idle_timeout()))
    if ended is not None:
        (st.error if ended[0] == "error" else st.info)(ended[1])
    source, problem = _choose_portrait()
    if st.button("Start", type="primary"):
        if problem:
            st.error(problem)
        else:
            _start(source)
    st.caption(f"Live sessions on this server: {players.capacity.in_use} of {players.capacity.limit} in use.")
else:
    video_column, text_column = st.columns([3, 2])
    with video_column:
        _player_view(player)
    with text_column:
        _controls(player)
        _transcript(player)
# A saved session's progress and video stay on the page after the session ended.
if st.session_state.get(SAVED_KEY) not in (None, st.session_state.get(SHOWN_KEY)):
    _saving()  # refreshed every second only while a save is being written
_saved_result()
