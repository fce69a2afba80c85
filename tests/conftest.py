"""Shared test fixtures: the real inputs in ../shared/fixtures and temp job folders."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT_DIR.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The folder of real test inputs (obama.jpg, RD_Radio31_000.wav, ...)."""
    assert FIXTURES.is_dir(), f"test inputs not found at {FIXTURES}"
    return FIXTURES


@pytest.fixture(autouse=True)
def _fresh_job_services(monkeypatch):
    """Each test gets its own job services (get_service keeps one per database and folder, with its threads)."""
    from avatar.service import jobs

    monkeypatch.setattr(jobs, "_services", {})


@pytest.fixture
def voice_engines(monkeypatch) -> list:
    """The bundled voice's engines (`piper_voice._Engine`) that text is spoken on while the test runs, in order."""
    from avatar.speech import piper_voice

    used = []
    original = piper_voice._stream

    def recording_stream(engine, *args):
        used.append(engine)
        return original(engine, *args)

    monkeypatch.setattr(piper_voice, "_stream", recording_stream)
    return used


def wait_finished(service, owner: str, job_id: str, timeout: float = 120.0):
    """Poll the job service until the job has ended; its record."""
    import time

    deadline = time.monotonic() + timeout
    while not (job := service.get(owner, job_id)).finished_state:
        assert time.monotonic() < deadline, f"job {job_id} did not finish: {job}"
        time.sleep(0.05)
    return job


def page_job_record(at, key: str):
    """The finished job a page (AppTest) followed under `st.session_state[key]`, and its manifest."""
    import json

    from avatar.service.jobs import get_service

    owner = f"session:{at.session_state['session_id']}"
    job = get_service().get(owner, at.session_state[key])
    assert job is not None and job.status == "done", job
    return job, json.loads(get_service().result_file(owner, job.id, "manifest.json").read_text())


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path_factory, monkeypatch):
    """Every test writes its jobs and looks for checkpoints in its own temp folders."""
    monkeypatch.setenv("AVATAR_OUTPUTS", str(tmp_path_factory.mktemp("outputs")))
    monkeypatch.setenv("AVATAR_CHECKPOINTS", str(tmp_path_factory.mktemp("checkpoints")))


def coqui_missing() -> str:
    """Why Coqui TTS cannot be used here ("" when it can): the voice-cloning tests skip on it, except under CI=true."""
    from avatar.errors import ModelNotInstalled
    from avatar.speech.coqui_models import import_coqui

    try:
        import_coqui()
    except ModelNotInstalled as exc:
        return str(exc)
    return ""


@pytest.fixture(scope="session")
def tiny_coqui_models(tmp_path_factory) -> dict[str, Path]:
    """Folders laid out like the published XTTS-v2 (config pickled in model.pth) and YourTTS files, tiny and seeded."""
    missing = coqui_missing()
    assert not missing, missing
    from tests.coqui_models import write_tiny_xtts, write_tiny_your_tts

    root = tmp_path_factory.mktemp("coqui")
    return {"xtts-v2": write_tiny_xtts(root / "xtts", legacy_config=True), "your-tts": write_tiny_your_tts(root / "yt")}


def failed_talk_job(service, owner: str, params: dict, files: dict[str, bytes], message: str):
    """A talk job as a run that failed leaves it: its inputs stored, its record failed with `message`.

    Bad input is refused at submit, before anything is stored, so a failed job cannot be made by submitting one; a
    run fails for reasons a check cannot foresee (memory, a model's own error), and this records such a run."""
    from avatar.service.runs import job_folder

    job = service.store.create(owner, "talk", "cpu", params, sorted(files))
    for field, data in files.items():
        path = job_folder(job.id, service.root) / "inputs" / field / f"{field}.png"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
    assert service.store.claim(job.id, "test-run") and service.store.fail(job.id, message, "test-run")
    return service.store.get(job.id)


def run_async(coroutine):
    """`asyncio.run(coroutine)` on a thread of its own: the browser tests' session-wide Playwright (sync API) leaves
    an event loop running on the main thread, where `asyncio.run` refuses to start another."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def modules_loaded_by(code: str, modules: tuple[str, ...] = ()) -> list[str]:
    """Which of `modules` a fresh interpreter in the project has loaded after running `code` (statements, such as
    imports), which must succeed: what a command pays for at start-up."""
    script = f"{code}\nimport sys\nprint(','.join(m for m in {modules!r} if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return [name for name in run.stdout.strip().split(",") if name]


def started_page(path: str):
    """A page under Streamlit's AppTest (4 minutes allowed per run), run once without an exception."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(path, default_timeout=240)
    at.run()
    assert not at.exception
    return at


def button_labelled(at, label: str):
    """The page's button with this label."""
    return next(b for b in at.button if b.label == label)


def session_owner(at) -> str:
    """The job owner of the page's browser session."""
    return f"session:{at.session_state['session_id']}"


class Clock:
    """A clock that moves only when the test says (live sessions' time base)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="session")
def maya_rig():
    """The maya avatar at 256 px and the built-in engine's rig of it: what a live session starts from."""
    from avatar.avatars import get_default_avatar
    from avatar.talk.builtin.engine import BuiltinEngine
    from avatar.talk.pipeline import prepare_portrait

    avatar = get_default_avatar("maya")
    picture = prepare_portrait(avatar.image_path, 256, landmarks_path=avatar.landmarks_path)
    return picture, BuiltinEngine().prepare(picture.image, picture.face)
