"""The History page through Streamlit's AppTest: this session's jobs from the real job store, newest first.

Jobs are submitted through the same job service and owner the pages use; the
session comes from the page address (`?s=<id>`), as after a browser reload.
"""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from avatar.service import jobs
from avatar.service.jobs import get_service, job_folder
from tests.conftest import PROJECT_DIR, failed_talk_job

PAGE = str(PROJECT_DIR / "app_pages" / "history.py")
APP = str(PROJECT_DIR / "streamlit_app.py")
SESSION = "0123456789abcdef0123456789abcdef"
OWNER = f"session:{SESSION}"
LONG_TEXT = "This sentence is long enough to take a while to speak and animate. " * 60


def _open(session: str = SESSION, path: str = PAGE) -> AppTest:
    """The page as a browser with `?s=<session>` in its address opens it (a reload, or a bookmark)."""
    at = AppTest.from_file(path, default_timeout=120)
    at.query_params["s"] = session
    at.run()
    assert not at.exception, at.exception
    return at


def _wait(owner: str, job_id: str, until=lambda job: job.finished_state, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get_service().get(owner, job_id)
        if until(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not get there: {get_service().get(owner, job_id)}")


def _talk(owner: str = OWNER, text: str = "Hello from the history.", **params):
    return get_service().submit(owner, "talk", {"text": text, "avatar": "maya", "size": 256, **params}, {})


def _button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def test_no_jobs_points_to_the_talking_avatar_page():
    at = _open()
    assert any("Talking Avatar page" in i.value for i in at.info)
    assert not at.button and not at.get("download_button")


def test_jobs_newest_first_with_status_downloads_and_delete(fixtures):
    done = _wait(OWNER, _talk().id)
    failed = failed_talk_job(get_service(), OWNER, {"text": "Hello."},
                             {"portrait": (fixtures / "obama_small.jpg").read_bytes()},
                             "No face was found in the image; use a clear, front-facing portrait.")
    other = _wait("session:" + "f" * 32, _talk(owner="session:" + "f" * 32, text="Not yours.").id)
    assert (done.status, failed.status, other.status) == ("done", "failed", "done")

    at = _open()
    rows = [m.value for m in at.markdown if m.value.startswith("**")]
    assert rows == ["**Talking video** :red-badge[Failed]", "**Talking video** :green-badge[Done]"]
    captions = [c.value for c in at.caption if "·" in c.value]
    assert "Your portrait says “Hello.”" in captions[0] and "Maya says “Hello from the history.”" in captions[1]
    assert "Not yours" not in " ".join(captions)
    assert [e.value for e in at.error] == [failed.message] and failed.message.startswith("No face was found")
    downloads = at.get("download_button")
    assert [d.proto.label for d in downloads] == ["video.mp4", "audio.wav", "captions.srt", "manifest.json"]
    assert all(d.proto.deferred_file_id or d.proto.url for d in downloads)
    assert len(at.image) == 2  # the video's first frame, and the portrait the failed job was given
    assert not [b for b in at.button if b.label == "Cancel"]

    _button(at, f"delete-{done.id}").click().run()
    assert not at.exception and not at.get("download_button")
    assert [m.value for m in at.markdown if m.value.startswith("**")] == ["**Talking video** :red-badge[Failed]"]
    assert get_service().get(OWNER, done.id) is None and not job_folder(done.id).exists()
    assert get_service().get("session:" + "f" * 32, other.id).status == "done"  # another session's job stays


def test_history_survives_a_reload_and_a_server_restart(monkeypatch):
    done = _wait(OWNER, _talk().id)
    database = get_service().store.url
    monkeypatch.setattr(jobs, "_services", {})  # a restarted server: a new service and store on the same database
    restarted = get_service()
    assert restarted.store.url == database and restarted.store is not None

    at = _open()  # a reload: a new browser session, the same address
    assert at.session_state["session_id"] == SESSION and at.query_params["s"] == SESSION
    assert [m.value for m in at.markdown if m.value.startswith("**")] == ["**Talking video** :green-badge[Done]"]
    assert len(at.get("download_button")) == len(done.results) == 4
    assert restarted.result_file(OWNER, done.id, "video.mp4") is not None


def test_running_and_queued_jobs_show_progress_place_in_line_and_cancel():
    running = _talk(text=LONG_TEXT)
    queued = _talk(text=LONG_TEXT, seed=1)
    _wait(OWNER, running.id, until=lambda job: job.status == "running" and job.progress > 0)

    at = _open()
    bars = {p.proto.text for p in at.get("progress")}
    assert "Waiting for a free worker: number 1 in line" in bars and len(bars) == 2
    assert [b.key for b in at.button if b.label == "Cancel"] == [f"cancel-{queued.id}", f"cancel-{running.id}"]

    _button(at, f"cancel-{queued.id}").click().run()
    _button(at, f"cancel-{running.id}").click().run()
    assert not at.exception
    assert [m.value for m in at.markdown if m.value.startswith("**")] == ["**Talking video** :gray-badge[Cancelled]"] * 2
    assert not [b for b in at.button if b.label == "Cancel"] and not at.get("progress")
    for job in (queued, running):
        _wait(OWNER, job.id, until=lambda _: not job_folder(job.id).exists(), timeout=60)


def test_the_session_id_comes_from_the_address_and_is_written_there():
    fresh = AppTest.from_file(PAGE)
    fresh.run()
    made = fresh.session_state["session_id"]
    assert len(made) == 32 and fresh.query_params["s"] == made

    forged = _open(session="../../etc")
    assert forged.session_state["session_id"] not in ("../../etc", SESSION)
    assert forged.query_params["s"] == forged.session_state["session_id"]


def test_the_app_lists_the_history_page_and_keeps_the_session_in_the_address():
    done = _wait(OWNER, _talk().id)
    at = _open(path=APP)
    at.switch_page("app_pages/history.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["History"] and at.query_params["s"] == SESSION
    assert len(at.get("download_button")) == len(done.results)


def test_signing_in_with_an_api_key_shows_that_keys_jobs(monkeypatch):
    """A job a script sent with an API key is listed once the browser signs in with the same key, and the pages'
    new jobs belong to the key then; a wrong key is refused in one sentence and the key is never kept."""
    from avatar.service.keys import hashes_from_env, key_owner

    monkeypatch.setenv("AVATAR_API_KEYS", "team-key,other-key")
    team = key_owner("team-key", hashes_from_env())
    scripted = _wait(team, _talk(owner=team, text="Sent by a script.").id)
    _wait(OWNER, _talk().id)

    at = _open()
    assert [m.value for m in at.markdown if m.value.startswith("**")] == ["**Talking video** :green-badge[Done]"]
    at.text_input(key="history_key").input("not-a-key")
    at.button[0].click().run()
    assert [e.value for e in at.error] == [
        "That is not one of this studio's API keys; check it, or ask whoever runs the studio."]

    at.text_input(key="history_key").input("team-key")
    at.button[0].click().run()
    assert not at.exception and at.session_state["signed_in_owner"] == team
    assert "history_key" not in at.session_state or at.session_state["history_key"] == ""  # the key is not kept
    captions = [c.value for c in at.caption if "·" in c.value]
    assert len(captions) == 1 and "Sent by a script." in captions[0]
    assert len(at.get("download_button")) == len(scripted.results)

    app = _open(path=APP)
    app.session_state["signed_in_owner"] = team
    app.run()
    assert any(c.value.endswith("Signed in with an API key: new jobs are the key's (History signs out).")
               for c in app.sidebar.caption)

    _button(at, "history_sign_out").click().run()
    captions = [c.value for c in at.caption if "·" in c.value]
    assert len(captions) == 1 and "Hello from the history." in captions[0]


def test_without_api_keys_there_is_no_sign_in(monkeypatch):
    monkeypatch.delenv("AVATAR_API_KEYS", raising=False)
    at = _open()
    assert not at.text_input and not at.expander


def test_command_line_jobs_are_listed_on_a_studio_without_keys(monkeypatch):
    from avatar.service.keys import LOCAL_OWNER

    made = _wait(LOCAL_OWNER, _talk(owner=LOCAL_OWNER, text="Made on the command line.").id)
    at = _open()
    assert [s.value for s in at.subheader] == ["From the command line"]
    assert any("Maya says “Made on the command line.”" in c.value for c in at.caption)
    assert not at.info
    _button(at, f"delete-{made.id}").click().run()
    assert get_service().get(LOCAL_OWNER, made.id) is None

    _wait(LOCAL_OWNER, _talk(owner=LOCAL_OWNER, text="Private on a shared studio.").id)
    monkeypatch.setenv("AVATAR_API_KEYS", "some-key")
    at = _open()
    assert not at.subheader and "Private on a shared studio" not in " ".join(c.value for c in at.caption)
