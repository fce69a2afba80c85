"""Live page: a portrait that idles in the page and speaks each typed sentence as it is sent (WebRTC).

The page holds one `LiveSession` per browser session (ui.live_players) and plays it
through streamlit-webrtc in receive-only mode: the session's own video and audio
tracks are the connection's tracks, so frames and sound leave the server on the
session's one clock. Typing, Stop and the transcript are fragments: sending a
sentence reruns only the box it was typed in, not the page (nor the player).
"""

from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from avatar.avatars import list_default_avatars, thumbnail
from avatar.errors import AvatarError
from avatar.service.live_kind import submit_saved_session
from avatar.media import IMAGE_EXTENSIONS
from avatar.service.jobs import get_service
from avatar.service.store import JobRecord
from ui.links import page_link
from ui.live_players import LivePlayer, idle_timeout, live_players, use_latest_frame_relay
from ui.portrait_generation import generated_portrait_input
from ui.session import job_owner

PLAYER_KEY = "live_player"  # the id of this browser session's live session
SAVED_KEY = "live_saved_job"  # the job that renders the session saved last
ENDED_KEY = "live_ended"  # why the last session ended by itself (no connection, or idle), shown once
SHOWN_KEY = "live_saved_shown"  # that job once it ended and the page was drawn again to show it
THUMBNAIL_PX = 120
CONNECT_WAIT_S = 12.0  # a connection not playing this long after Start is reported: WebRTC is blocked here
NO_WEBRTC = ("This browser cannot receive live video: WebRTC is unavailable or blocked here; use a recent Chrome, "
             "Firefox, Edge or Safari without extensions that block WebRTC.")
TRANSLATIONS = {"media_api_not_available": NO_WEBRTC, "start": "Connect", "stop": "Disconnect"}


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


def _webrtc_key(player: LivePlayer) -> str:
    return f"live_webrtc_{player.id}"  # a new session gets a new connection, never the last one's


def _player_view(player: LivePlayer) -> None:
    """The video, played as soon as it is drawn (the page's Start was the click that allows sound)."""
    use_latest_frame_relay()
    webrtc_streamer(
        key=_webrtc_key(player),
        mode=WebRtcMode.RECVONLY,
        rtc_configuration={"iceServers": []},  # the browser and this server reach each other directly
        source_video_track=player.video,
        source_audio_track=player.audio,
        desired_playing_state=True,
        media_stream_constraints={"video": True, "audio": True},
        video_html_attrs={"autoPlay": True, "playsInline": True, "controls": False, "style": {"width": "100%"}},
        translations=TRANSLATIONS,
    )


def _connection_problem(player: LivePlayer) -> Optional[str]:
    """A sentence when the connection is not playing some time after Start (it never connected, or dropped); None
    while it plays or is still starting."""
    context = st.session_state.get(_webrtc_key(player))
    state = getattr(context, "state", None)
    played = f"{_webrtc_key(player)}_played"
    if state is not None and state.playing:
        st.session_state[played] = True  # it connected: a rerun redrawing the player is not a blocked connection
    if (state is None or state.playing or st.session_state.get(played)
            or time.monotonic() - player.opened < CONNECT_WAIT_S):
        return None
    return ("The live video is not playing: this browser or its network blocks WebRTC, or the connection dropped; "
            "try another browser or network, then Start again.")


@st.fragment
def _controls(player: LivePlayer) -> None:
    """Type and Enter: the sentence queues after what is being said; Stop cuts it and the face idles."""
    with st.form("live_say", clear_on_submit=True, border=False):
        text = st.text_input("Say", placeholder="Type a sentence and press Enter", key="live_text")
        sent = st.form_submit_button("Say", type="primary")
    if sent:
        try:
            player.session.say(text)
        except AvatarError as exc:
            st.error(str(exc))
    columns = st.columns(3)
    if columns[0].button("Stop", help="Stop speaking now; what was queued is dropped and the avatar idles"):
        try:
            player.session.stop()
        except AvatarError as exc:
            st.error(str(exc))
    if columns[1].button("Save as MP4", help="The session so far as a video, listed on History"):
        _save(player)
    if columns[2].button("End session"):
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


@st.fragment(run_every=0.5)
def _transcript(player: LivePlayer) -> None:
    """What was said so far, newest last, with Stop's cuts marked; the voice's refusals below it."""
    problem = _connection_problem(player)
    if problem or player.session.expired:  # the page's Start form comes back, with the reason above it
        idle = player.session.settings.idle_timeout
        live_players().close(player.id)
        st.session_state.pop(PLAYER_KEY, None)
        st.session_state[ENDED_KEY] = ("error", problem) if problem else ("info", _idle_end(idle))
        st.rerun(scope="app")
    lines = player.session.transcript
    st.markdown("**Transcript**")
    if not lines:
        st.caption("Nothing said yet.")
    for line in lines:
        st.markdown(f"`{line.start:6.1f} s` {line.text}" + (" *(interrupted)*" if line.interrupted else ""))
    for error in player.session.errors[-3:]:
        st.error(error)


st.title("Live")
st.caption("Pick a portrait and press Start: the avatar appears and speaks each sentence you type, as you send it.")

players = live_players()
player = players.get(st.session_state.get(PLAYER_KEY))
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
