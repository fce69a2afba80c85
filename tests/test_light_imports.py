"""A talk or a dub without face enhancement never loads torch: start-up time is part of every command's speed."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT_DIR


def test_the_talk_and_dub_paths_import_without_torch():
    script = ("import sys, avatar.cli, avatar.talk.pipeline, avatar.video.dub, avatar.service.kinds; "
              "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
