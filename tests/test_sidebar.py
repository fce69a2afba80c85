"""The sidebar says what the server process really holds: its memory, the models a job loaded into it, and where jobs
run; through the whole app under Streamlit's AppTest, with a real talking-video job run by this process."""

from __future__ import annotations

import threading

import pytest
from streamlit.testing.v1 import AppTest

from avatar.service.jobs import get_service
from tests.conftest import PROJECT_DIR, wait_finished

APP = str(PROJECT_DIR / "streamlit_app.py")
SESSION = "0123456789abcdef0123456789abcdef"


def _sidebar(at: AppTest) -> str:
    return "\n".join(c.value for c in at.sidebar.caption)


def _app(page: str = "app_pages/history.py") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["s"] = SESSION
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_sidebar_shows_the_process_memory_and_the_models_a_job_loaded():
    at = _app()
    text = _sidebar(at)
    assert "Device: `cpu`" in text
    assert "held by this server process, which runs the jobs" in text
    assert " 0 B" not in text  # the process's real memory, not an empty registry's count

    job = get_service().submit(f"session:{SESSION}", "talk", {"text": "Load the models.", "avatar": "maya", "size": 256},
                               {})
    assert wait_finished(get_service(), f"session:{SESSION}", job.id).status == "done"
    at.run()
    text = _sidebar(at)
    assert "No model in memory yet" not in text
    assert "- `piper-joe`: Piper voice" in text  # the voice the job spoke with, loaded by this process


def test_sidebar_says_when_jobs_run_on_workers(monkeypatch):
    import ui.sidebar

    monkeypatch.setattr(ui.sidebar, "jobs_run_here", lambda: False)
    text = _sidebar(_app())
    assert "Jobs run on Celery workers" in text and "not shown here" in text
    assert "No model in memory yet" not in text  # that would be a claim about the workers


def _sidebar_before_the_registry():
    from ui.sidebar import render_sidebar

    render_sidebar(wait_for_registry=False)


def test_first_draw_does_not_wait_for_the_device(monkeypatch):
    import ui.sidebar

    monkeypatch.setattr(ui.sidebar, "_registry_ready", threading.Event())  # as on a server that just started
    monkeypatch.setattr(ui.sidebar, "registry_resource", lambda: pytest.fail("the first draw waited for PyTorch"))
    at = AppTest.from_function(_sidebar_before_the_registry, default_timeout=60).run()
    assert not at.exception
    assert "Device: being detected" in _sidebar(at)
