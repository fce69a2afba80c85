"""The Models page and the generate-from-prompt widget, run headless with Streamlit's AppTest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from avatar.models.catalog import CATALOG
from tests.tiny_models import save_tiny_sd

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _project_cwd(monkeypatch):
    monkeypatch.chdir(PROJECT)


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory) -> Path:
    return save_tiny_sd(tmp_path_factory.mktemp("sd") / "sd")


def page() -> AppTest:
    return AppTest.from_file(str(PROJECT / "app_pages" / "models.py"), default_timeout=60).run()


def test_models_page_lists_catalog_with_install_commands():
    at = page()
    assert not at.exception
    table = at.table[0].value
    assert set(table["id"]) >= {"sd21-base", "clipseg", "piper-joe"}
    assert "Talking Avatar: typed text -> voice" in list(table["used for"])
    assert len(table) == len(CATALOG)  # the whole catalog, in a static table (no scroll of its own)
    assert dict(zip(table["id"], table["status"]))["piper-joe"] == "bundled"
    assert dict(zip(table["id"], table["status"]))["sd21-base"] == "missing"
    assert "avatar models pull sd21-base" in [c.value for c in at.code]


def test_models_page_import_unload_and_errors(tiny_sd):
    at = page()
    at.selectbox(key="model_id").set_value("sd21-base")
    at.text_input(key="import_path").set_value("/no/such/folder")
    at.button(key="import").click().run()
    assert not at.exception and "does not exist" in at.error[0].value

    at.text_input(key="import_path").set_value(str(tiny_sd))
    at.button(key="import").click().run()
    assert not at.exception and "sd21-base imported" in at.success[0].value
    assert (Path(os.environ["AVATAR_CHECKPOINTS"]) / "sd21-base").exists()
    at.run()
    table = at.table[0].value
    assert dict(zip(table["id"], table["status"]))["sd21-base"] == "installed"

    at.button(key="unload").click().run()
    assert not at.exception and "was not loaded" in at.info[0].value

    at.selectbox(key="model_id").set_value("wav2lip-gan")
    at.button(key="pull").click().run()
    assert not at.exception and "avatar models import wav2lip-gan" in at.error[0].value


def _widget_app():
    import streamlit as st

    from ui.portrait_generation import generated_portrait_input

    image = generated_portrait_input()
    if image is not None:
        st.write(f"portrait {image.shape[1]}x{image.shape[0]}")


def test_generate_option_explains_missing_model():
    at = AppTest.from_function(_widget_app, default_timeout=60).run()
    assert not at.exception
    assert "not installed" in at.info[0].value and "`avatar models pull sd21-base`" in at.info[0].value
    assert len(at.button) == 0


def test_generate_option_reports_no_face(tiny_sd):
    (Path(os.environ["AVATAR_CHECKPOINTS"]) / "sd21-base").symlink_to(tiny_sd, target_is_directory=True)
    at = AppTest.from_function(_widget_app, default_timeout=120).run()
    at.slider[0].set_value(1)  # steps
    at.select_slider[0].set_value(256)  # size
    at.button[0].click().run()
    assert not at.exception
    assert "No face" in at.error[0].value and "seeds 0-3" in at.error[0].value
