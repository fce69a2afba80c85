"""README's commands are what CI runs, and the optional voices extra breaks nothing else.

CI (`.ci/run`) may install Debian packages, but its only Python step is README's
test command, verbatim: what a new user pastes is what CI proves. The voices extra
brings PyPI's torchaudio (a CUDA build, whose compiled extension cannot load beside
the CPU torch); with it installed, diffusers must still import and run, and the
cloning models must still import.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import PROJECT_DIR


def _bash_blocks(markdown: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", markdown, flags=re.S)


def _commands(script: str) -> list[str]:
    """Non-comment, non-blank lines of a shell script (continuations joined)."""
    joined = script.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_readme_test_command_is_exactly_what_ci_runs_for_python():
    readme = (PROJECT_DIR / "README.md").read_text()
    tests_section = readme.split("## Tests", 1)[1].split("\n## ", 1)[0]
    (block,) = _bash_blocks(tests_section)
    (readme_command,) = _commands(block)
    ci_lines = _commands((PROJECT_DIR / ".ci" / "run").read_text())
    assert ci_lines[-1] == readme_command
    # Everything before it only prepares the machine (Debian packages), never Python.
    python_steps = [line for line in ci_lines[:-1] if re.search(r"\b(pip|python3?|pytest|uv)\b", line)]
    assert python_steps == []
    assert not any((PROJECT_DIR / ".ci").glob("*.py"))


def test_quick_start_installs_what_the_tests_install():
    readme = (PROJECT_DIR / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    (block,) = _bash_blocks(quick)
    assert "pip install -r requirements.txt -e ." in block
    assert "-r requirements.txt" in (PROJECT_DIR / "requirements-test.txt").read_text().splitlines()


_BESIDE_THE_EXTRA = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {project!r})
    import avatar
    import torch
    import torchaudio
    from diffusers import StableDiffusionPipeline
    from tests.tiny_models import save_tiny_sd
    folder = save_tiny_sd({folder!r})
    pipe = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    image = pipe("a portrait", num_inference_steps=2, height=64, width=64, output_type="np",
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.shape == (64, 64, 3), image.shape
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000)(torch.zeros(1, 16000))
    assert mel.shape[1] == 128
    import TTS.tts.models.xtts, TTS.tts.models.vits
    from avatar.speech.coqui_models import import_coqui
    import_coqui()
    print("ok")
    """
)


@pytest.mark.skipif(
    importlib.util.find_spec("torchaudio") is None and os.environ.get("CI") != "true",
    reason="the voices extra (torchaudio) is not installed",
)
def test_diffusers_and_cloning_work_beside_the_voices_extra(tmp_path):
    """In a fresh interpreter, as a user's process starts: the studio, a diffusers pipeline run, torchaudio and Coqui."""
    script = _BESIDE_THE_EXTRA.format(project=str(PROJECT_DIR), folder=str(tmp_path / "sd"))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().endswith("ok")


def test_a_healthy_or_absent_torchaudio_is_left_alone():
    """The guard only acts on the one fatal case; it never hides another import's failure."""
    script = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, {project!r})
        import avatar.torchaudio_guard as guard
        def load(lib):
            raise OSError("libc10_cuda.so: cannot open shared object file")
        assert guard._tolerant(load)("_torchaudio") is False
        assert "libc10_cuda" in guard.extension_error
        assert guard._tolerant(lambda lib: True)("_torchaudio") is True
        def broken(lib):
            raise ValueError("not a load failure")
        try:
            guard._tolerant(broken)("_torchaudio")
        except ValueError:
            print("ok")
        """
    ).format(project=str(PROJECT_DIR))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "ok"
