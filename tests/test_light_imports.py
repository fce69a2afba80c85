"""A talk or a dub without face enhancement never loads torch: start-up time is part of every command's speed."""

from __future__ import annotations

from tests.conftest import modules_loaded_by


def test_the_talk_and_dub_paths_import_without_torch():
    code = "import avatar.cli, avatar.talk.pipeline, avatar.video.dub, avatar.service.kinds"
    assert modules_loaded_by(code, ("torch",)) == []
