"""`avatar jobs` from a terminal: the same jobs as the pages and the API, in the same store."""

from __future__ import annotations

import json
import os
from pathlib import Path


from avatar.service.jobs import get_service
from avatar.service.keys import LOCAL_OWNER, hashes_from_env, key_owner
from tests.conftest import failed_talk_job
from tests.test_cli_talk import run_cli

TALK = ["--param", "avatar=maya", "--param", "text=Hello from the command line.", "--param", "size=256"]


def test_submit_waits_then_list_show_download_and_delete(tmp_path):
    done = run_cli("jobs", "submit", "talk", *TALK, "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.split()[1]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "audio.wav", "captions.srt", "manifest.json", "video.mp4"]
    assert str(tmp_path / "out" / "video.mp4") in done.stdout

    listed = run_cli("jobs", "list")
    assert listed.returncode == 0 and job_id in listed.stdout
    assert "done" in listed.stdout and "Maya says “Hello from the command line.”" in listed.stdout

    shown = json.loads(run_cli("jobs", "show", job_id).stdout)
    assert shown["status"] == "done" and shown["kind"] == "talk" and shown["params"]["size"] == 256
    assert (tmp_path / "out" / "video.mp4").read_bytes() == open(shown["results"]["video.mp4"], "rb").read()

    fetched = run_cli("jobs", "download", job_id, "-o", str(tmp_path / "again"))
    assert fetched.returncode == 0 and (tmp_path / "again" / "captions.srt").is_file()

    assert run_cli("jobs", "delete", job_id).returncode == 0
    gone = run_cli("jobs", "show", job_id)
    assert gone.returncode == 2 and gone.stderr.strip().splitlines() == [
        f"error: There is no job '{job_id}' of yours; `avatar jobs list` shows the ids."]
    assert run_cli("jobs", "list").stdout.strip() == "No jobs."


def test_bad_input_is_one_line_and_stores_nothing(tmp_path):
    for args, message in [
        (["--param", "avatar=maya", "--param", "text= "], "The text is empty; type what the avatar should say."),
        ([*TALK, "--param", "size=big"], "size must be a whole number, not 'big'."),
        ([*TALK, "--param", "colour=red"], "Unknown parameter 'colour'"),
        ([*TALK, "--param", "still=maybe"], "still must be true or false, not 'maybe'."),
        ([*TALK, "--param", "engine=wav2lip", "--param", "pads=[1, 2]"], "pads must be a list of 4 whole numbers"),
        ([*TALK, "--param", "pose_style=3"], "pose_style is an option of the SadTalker engine"),
        ([*TALK, "--param", "nonsense"], "is not name=value"),
        ([*TALK, "--file", f"portrait={tmp_path / 'missing.jpg'}"], "is not a file"),
        (["--params-json", "[1, 2]"], "must be one JSON object"),
    ]:
        done = run_cli("jobs", "submit", "talk", *args)
        assert done.returncode == 2, args
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr, (args, done.stderr)
    assert run_cli("jobs", "list").stdout.strip() == "No jobs."
    assert not list(Path(os.environ["AVATAR_OUTPUTS"]).glob("jobs/*"))


def test_a_portrait_file_and_a_failed_job(fixtures):
    refused = run_cli("jobs", "submit", "talk", "--param", "text=Hello.", "--file",
                      f"portrait={fixtures / 'no_face.png'}")
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "error: No face was found in the image; use a clear, front-facing portrait."]
    assert run_cli("jobs", "list").stdout.strip() == "No jobs."  # refused at submit: nothing stored
    failed = failed_talk_job(get_service(resume=False), LOCAL_OWNER, {"text": "Hello."},
                             {"portrait": (fixtures / "obama_small.jpg").read_bytes()}, "The job failed.")
    assert json.loads(run_cli("jobs", "show", failed.id).stdout)["status"] == "failed"
    assert run_cli("jobs", "download", failed.id).returncode == 2


def test_the_cli_sees_the_local_owners_jobs_and_cancels_a_queued_one():
    """A record queued by another process (here: straight into the store, no runner) is the CLI's to cancel; a job
    of another owner is not found unless --all."""
    store = get_service().store
    queued = store.create(LOCAL_OWNER, "talk", "cpu", {"text": "Later.", "avatar": "maya"}, [])
    other = store.create("session:" + "a" * 32, "talk", "cpu", {"text": "Not yours.", "avatar": "maya"}, [])
    listed = run_cli("jobs", "list", "--status", "queued")
    assert queued.id in listed.stdout and other.id not in listed.stdout and "number 1 in line" in listed.stdout
    assert other.id in run_cli("jobs", "list", "--all").stdout
    assert run_cli("jobs", "show", other.id).returncode == 2
    assert json.loads(run_cli("jobs", "show", other.id, "--all").stdout)["owner"] == other.owner

    assert run_cli("jobs", "cancel", queued.id).returncode == 0
    assert store.get(queued.id).status == "cancelled"
    again = run_cli("jobs", "cancel", queued.id)
    assert again.returncode == 2 and "has already ended (cancelled)" in again.stderr
    assert run_cli("jobs", "list", "--status", "sleeping").stderr.startswith("error: Unknown status 'sleeping'")


def test_a_key_sees_that_keys_jobs(monkeypatch):
    monkeypatch.setenv("AVATAR_API_KEYS", "script-key")
    owner = key_owner("script-key", hashes_from_env())
    record = get_service().store.create(owner, "talk", "cpu", {"text": "From a script.", "avatar": "maya"}, [])
    assert record.id not in run_cli("jobs", "list").stdout
    assert record.id in run_cli("jobs", "list", "--key", "script-key").stdout
    wrong = run_cli("jobs", "list", "--key", "guess")
    assert wrong.returncode == 2 and "not one of the keys in AVATAR_API_KEYS" in wrong.stderr
    assert os.environ["AVATAR_API_KEYS"] == "script-key"
