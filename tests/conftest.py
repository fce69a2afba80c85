"""Shared test fixtures: the real inputs in ../shared/fixtures and temp job folders."""

from __future__ import annotations

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
def _isolated_outputs(tmp_path_factory, monkeypatch):
    """Every test writes its jobs and looks for checkpoints in its own temp folders."""
    monkeypatch.setenv("AVATAR_OUTPUTS", str(tmp_path_factory.mktemp("outputs")))
    monkeypatch.setenv("AVATAR_CHECKPOINTS", str(tmp_path_factory.mktemp("checkpoints")))
