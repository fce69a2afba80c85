"""`avatar mask | shift | inpaint | remove` end to end, on files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avatar.cli import main
from avatar.media import load_image
from tests.test_edit_scenes import centroid, disk_scene, iou, red_pixels
from tests.tiny_models import save_tiny_clipseg

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def scene(tmp_path):
    image, background, mask = disk_scene(center=(150, 120), radius=30)
    Image.fromarray(image).save(tmp_path / "scene.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    return tmp_path, image, background, mask


def test_mask_from_a_box_writes_the_mask_and_an_overlay(scene, capsys):
    folder, image, _, truth = scene
    code = main(["mask", "--image", str(folder / "scene.png"), "--box", "110,80,190,160", "-o", str(folder / "m.png")])
    assert code == 0
    mask = np.asarray(Image.open(folder / "m.png")) > 127
    assert iou(mask, truth) >= 0.9
    overlay = load_image(folder / "m_overlay.png")
    assert overlay.shape == image.shape and not np.array_equal(overlay, image)
    assert "overlay" in capsys.readouterr().out


def test_shift_with_a_mask_file(scene):
    folder, _, _, truth = scene
    out = folder / "moved.png"
    code = main(["shift", "--image", str(folder / "scene.png"), "--mask", str(folder / "mask.png"), "--x", "50", "--y", "-20", "-o", str(out)])
    assert code == 0
    cx, cy = centroid(red_pixels(load_image(out)))
    assert abs(cx - 200) <= 2 and abs(cy - 100) <= 2


def test_remove_with_a_box_and_inpaint_with_a_mask(scene):
    folder, _, background, truth = scene
    removed = folder / "removed.png"
    assert main(["remove", "--image", str(folder / "scene.png"), "--box", "110,80,190,160", "-o", str(removed)]) == 0
    assert not red_pixels(load_image(removed)).any()
    filled = folder / "filled.jpg"
    args = ["inpaint", "--image", str(folder / "scene.png"), "--mask", str(folder / "mask.png"), "--method", "classical"]
    assert main(args + ["--classical-algorithm", "ns", "-o", str(filled)]) == 0
    assert not red_pixels(load_image(filled)).any()


def test_text_selection_with_clipseg(scene, monkeypatch, capsys):
    folder, _, _, _ = scene
    save_tiny_clipseg(folder / "checkpoints" / "clipseg")
    monkeypatch.setenv("AVATAR_CHECKPOINTS", str(folder / "checkpoints"))
    out = folder / "text.png"
    assert main(["mask", "--image", str(folder / "scene.png"), "--object", "a red face", "--threshold", "0.5", "-o", str(out)]) == 0
    assert out.is_file() and (folder / "text_overlay.png").is_file()
    # A threshold nothing reaches: `mask` writes the best guess and warns; `remove` refuses.
    capsys.readouterr()
    assert main(["mask", "--image", str(folder / "scene.png"), "--object", "a cat", "--threshold", "0.999999", "-o", str(out)]) == 0
    assert "Nothing in the image matched 'a cat'" in capsys.readouterr().err
    code = main(["remove", "--image", str(folder / "scene.png"), "--object", "a cat", "--threshold", "0.999999", "-o", str(folder / "r.png")])
    assert code == 2
    assert "--box" in capsys.readouterr().err
    assert not (folder / "r.png").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["shift", "--image", "{f}/scene.png", "--mask", "{f}/mask.png", "--x", "900", "--y", "0"], "entirely outside"),
        (["inpaint", "--image", "{fx}/corrupt.jpg", "--mask", "{f}/mask.png"], "Cannot read image"),
        (["inpaint", "--image", "{f}/scene.png", "--mask", "{f}/empty.png"], "empty"),
        (["inpaint", "--image", "{f}/scene.png", "--mask", "{f}/mask.png", "--method", "sd"], "avatar models pull"),
        (["mask", "--image", "{f}/scene.png", "--object", "cup"], "avatar models pull clipseg"),
        (["remove", "--image", "{f}/scene.png", "--box", "1,2,3"], "four numbers"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_with_nothing_written(scene, fixtures, capsys, args, message):
    folder = scene[0]
    Image.fromarray(np.zeros((240, 320), np.uint8)).save(folder / "empty.png")
    out = folder / "out.png"
    args = [a.format(f=folder, fx=fixtures) for a in args] + ["-o", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not out.exists()


def test_python_dash_m_avatar_shift_runs_as_a_program(scene):
    folder = scene[0]
    out = folder / "moved.png"
    run = subprocess.run(
        [sys.executable, "-m", "avatar", "shift", "--image", str(folder / "scene.png"), "--box", "110,80,190,160",
         "--x", "-40", "--y", "30", "--method", "classical", "-o", str(out)],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "moved by -40, 30" in run.stdout
    cx, cy = centroid(red_pixels(load_image(out)))
    assert abs(cx - 110) <= 2 and abs(cy - 150) <= 2


def test_the_commands_run_as_jobs_listed_by_avatar_jobs_list(scene, capsys):
    """Each command is a job of the service the pages and the API use: in `avatar jobs list` (and so on History),
    its results in the job's folder; the command only writes the file -o names."""
    from avatar.service.jobs import get_service
    from avatar.service.keys import LOCAL_OWNER

    folder = scene[0]
    image, mask = str(folder / "scene.png"), str(folder / "mask.png")
    assert main(["mask", "--image", image, "--box", "110,80,190,160", "-o", str(folder / "m.png")]) == 0
    assert main(["shift", "--image", image, "--mask", mask, "--x", "50", "--y", "-20", "-o", str(folder / "s.png")]) == 0
    assert main(["remove", "--image", image, "--points", "150,120", "-o", str(folder / "r.png")]) == 0
    assert main(["inpaint", "--image", image, "--mask", mask, "--method", "classical", "-o", str(folder / "i.png")]) == 0
    capsys.readouterr()
    assert main(["jobs", "list"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert [(row[1], row[2]) for row in rows] == [("inpaint", "done"), ("shift", "done"), ("mask", "done"),
                                                  ("shift", "done"), ("mask", "done")]  # newest first
    listed = " ".join(" ".join(row) for row in rows)
    assert "move the object by (50, -20) px" in listed and "remove the object" in listed
    service = get_service()
    for row in rows:
        job = service.get(LOCAL_OWNER, row[0])
        assert job.results[-1] == "manifest.json" and all(
            service.result_file(LOCAL_OWNER, job.id, name) is not None for name in job.results)
    assert sorted(p.name for p in folder.iterdir()) == ["i.png", "m.png", "m_overlay.png", "mask.png", "r.png",
                                                        "s.png", "scene.png"]


def test_a_move_by_nothing_is_refused(scene, capsys):
    folder = scene[0]
    args = ["shift", "--image", str(folder / "scene.png"), "--mask", str(folder / "mask.png"), "--x", "0", "--y", "0"]
    assert main(args + ["-o", str(folder / "s.png")]) == 2
    assert "avatar remove" in capsys.readouterr().err and not (folder / "s.png").exists()


def test_the_flags_are_checked_as_the_job_parameters_are(scene, capsys):
    folder = scene[0]
    args = ["inpaint", "--image", str(folder / "scene.png"), "--mask", str(folder / "mask.png"), "-o", str(folder / "o.png")]
    assert main(args + ["--steps", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: steps must be from 1 to 200, not 0."
    assert main(args + ["--method", "magic"]) == 2
    assert "method must be one of auto, sd, classical" in capsys.readouterr().err
    remove = ["remove", "--image", str(folder / "scene.png"), "--box", "110,80,190,160", "-o", str(folder / "o.png")]
    assert main(remove + ["--pad", "999"]) == 2  # refused before the object is selected: no job at all
    assert capsys.readouterr().err.strip() == "error: pad must be from 0 to 200, not 999."
    assert not (folder / "o.png").exists()
    assert main(["jobs", "list"]) == 0 and capsys.readouterr().out.strip() == "No jobs."
