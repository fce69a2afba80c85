"""The Talking Avatar page's voice choice (bundled, clone with consent, saved clones) through AppTest."""

from __future__ import annotations

import os

import pytest
from streamlit.testing.v1 import AppTest

from avatar.cli import main
from tests.conftest import PROJECT_DIR, coqui_missing
from tests.test_talking_avatar_page import _button, _patch_upload

PAGE = str(PROJECT_DIR / "app_pages" / "talking_avatar.py")
CLONE = "Clone a voice"


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.run()
    assert not at.exception
    return at


def _clone(at: AppTest, text: str = "Hello there. This is my voice.") -> AppTest:
    at.text_area(key="talk_text").input(text)
    at.select_slider[0].set_value(256)
    at.radio(key="talk_speaker").set_value(CLONE).run()
    assert not at.exception
    return at


def test_a_missing_cloning_model_is_explained(app):
    _clone(app)
    assert any("avatar models pull xtts-v2" in w.value for w in app.warning)
    _button(app, "Generate").click().run()
    assert not app.exception and "talk_result" not in app.session_state
    assert any("avatar models pull xtts-v2" in e.value for e in app.error)


def test_a_bad_sample_is_refused_as_soon_as_it_is_given(app, fixtures, monkeypatch):
    _patch_upload(monkeypatch, fixtures / "corrupt.wav", "audio/wav")
    _clone(app)
    assert any("corrupt.wav" in e.value for e in app.error)
    _button(app, "Listen").click().run()
    assert not app.exception and not app.get("audio")


@pytest.mark.skipif(bool(coqui_missing()) and os.environ.get("CI") != "true", reason="coqui-tts is not installed")
def test_cloning_needs_consent_then_the_voice_is_saved_for_the_session(app, fixtures, monkeypatch, tiny_coqui_models):
    for model_id, folder in tiny_coqui_models.items():
        assert main(["models", "import", model_id, str(folder)]) == 0
    _patch_upload(monkeypatch, fixtures / "RD_Radio31_000.wav", "audio/wav")
    _clone(app)
    assert not app.warning
    assert app.selectbox(key="talk_language").options == ["en", "es", "fr", "de"]
    _button(app, "Generate").click().run()
    assert not app.exception and "talk_result" not in app.session_state
    assert any("consent" in e.value or "agreed" in e.value for e in app.error)

    app.checkbox(key="talk_consent").check()
    app.selectbox(key="talk_language").set_value("es")
    _button(app, "Generate").click().run()
    assert not app.exception and not app.error
    result = app.session_state["talk_result"]
    assert result.manifest["speech"]["voice"] == "xtts-v2" and result.manifest["speech"]["language"] == "es"
    assert len(app.get("video")) == 1

    saved = "RD_Radio31_000.wav (xtts-v2, es)"
    assert any(saved in c.value for c in app.caption)
    app.run()  # the next interaction offers it
    assert saved in app.radio(key="talk_speaker").options
    app.radio(key="talk_speaker").set_value(saved).run()
    assert not app.exception and app.selectbox(key="talk_language").value == "es"
    _button(app, "Listen").click().run()
    assert not app.exception and not app.error and len(app.get("audio")) == 1
