"""`avatar video ...` from a terminal: results, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from avatar.video_writer import Mp4Writer
from tests.conftest import PROJECT_DIR
from tests.test_cli_talk import run_cli


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    ys, xs = np.mgrid[0:90, 0:160]
    with Mp4Writer(path, 160, 90, 10) as writer:
        for i in range(8):
            writer.write(np.stack([(xs * 2 + 6 * i) % 256, ys * 2, np.full_like(xs, 90)], axis=2).astype(np.uint8))
    return path


def size_and_frames(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.width, stream.codec_context.height, sum(1 for _ in container.decode(stream))


def test_text_to_video_with_an_installed_model(tmp_path):
    from tests.tiny_video_models import save_tiny_text_to_video

    save_tiny_text_to_video(tmp_path / "checkpoints" / "text2video-ms")
    out = tmp_path / "clip.mp4"
    done = subprocess.run(
        [sys.executable, "-m", "avatar", "video", "text", "--prompt", "a red square", "--frames", "8", "--steps", "2",
         "--width", "64", "--height", "64", "-o", str(out)],
        capture_output=True, text=True, cwd=PROJECT_DIR, timeout=300,
        env={**os.environ, "AVATAR_CHECKPOINTS": str(tmp_path / "checkpoints")},
    )
    assert done.returncode == 0, done.stderr
    assert "text2video-ms" in done.stdout and size_and_frames(out) == (64, 64, 8)


def test_inpaint_masks_a_described_object_in_every_frame(clip, tmp_path):
    """The text path runs CLIPSeg (a tiny one here, so the mask itself is arbitrary) on each frame."""
    from tests.tiny_models import save_tiny_clipseg

    save_tiny_clipseg(tmp_path / "checkpoints" / "clipseg")
    out = tmp_path / "filled.mp4"
    done = subprocess.run(
        [sys.executable, "-m", "avatar", "video", "inpaint", "--video", str(clip), "--object", "the square", "-o", str(out)],
        capture_output=True, text=True, cwd=PROJECT_DIR, timeout=300,
        env={**os.environ, "AVATAR_CHECKPOINTS": str(tmp_path / "checkpoints"), "AVATAR_OUTPUTS": str(tmp_path / "out")},
    )
    assert done.returncode == 0, done.stderr
    assert size_and_frames(out) == (160, 90, 8)
    manifest = json.loads(next((tmp_path / "out").glob("**/manifest.json")).read_text())
    assert manifest["options"]["region"] == "text" and manifest["options"]["mask_prompt"] == "the square"


def test_upscale_writes_the_larger_video(clip, tmp_path):
    out = tmp_path / "big.mp4"
    done = run_cli("video", "upscale", "--video", str(clip), "--height", "180", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "lanczos+unsharp" in done.stdout
    assert size_and_frames(out) == (320, 180, 8)


def test_inpaint_fills_a_box_by_propagation(clip, tmp_path):
    out = tmp_path / "filled.mp4"
    done = run_cli("video", "inpaint", "--video", str(clip), "--box", "40,20,80,50", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "propagation" in done.stdout and size_and_frames(out) == (160, 90, 8)


@pytest.mark.parametrize("args,message", [
    (["text", "--prompt", "a cat"], "avatar models pull text2video-ms"),
    (["image", "--image", "{fx}/obama.jpg"], "avatar models pull svd-xt"),
    (["upscale", "--video", "{fx}/corrupt.jpg"], "not a supported video type"),
    (["upscale", "--video", "{clip}", "--height", "90"], "target_height must be from 144 to 2160, not 90."),
    (["upscale", "--video", "{clip}", "--height", "many"], "target_height must be a whole number, not 'many'."),
    (["image", "--image", "{fx}/obama.jpg", "--frames", "16"], "frames must be one of 14, 25, not 16."),
    (["inpaint", "--video", "{clip}", "--mask", "{tall_mask}"], "mask"),
    (["inpaint", "--video", "{clip}", "--box", "1,2,3"], "four numbers"),
])
def test_bad_input_exits_2_with_one_line(fixtures, clip, tmp_path, args, message):
    tall_mask = tmp_path / "tall.png"
    Image.fromarray(np.full((200, 50), 255, np.uint8)).save(tall_mask)
    args = [a.format(fx=fixtures, clip=clip, tall_mask=tall_mask) for a in args]
    done = run_cli("video", *args, "-o", str(tmp_path / "out.mp4"))
    assert done.returncode == 2, done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out.mp4").exists()


def test_video_commands_run_as_jobs_listed_with_the_others(clip, tmp_path):
    """`avatar video ...` is a job of the same service as the pages' (its folder under outputs/jobs/, in
    `avatar jobs list`); without -o it prints the job's own copy of the video."""
    done = run_cli("video", "upscale", "--video", str(clip), "--height", "180")
    assert done.returncode == 0, done.stderr
    video = Path(done.stdout.split("  (")[0])
    assert video.is_file() and video.name == "video.mp4" and video.parent.name == "results"
    assert video.parent.parent.parent == Path(os.environ["AVATAR_OUTPUTS"]) / "jobs"
    job_id = video.parent.parent.name
    listed = run_cli("jobs", "list")
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith(job_id))
    assert line.split()[1:3] == ["upscale", "done"] and line.endswith("to 180 px high")
    shown = json.loads(run_cli("jobs", "show", job_id).stdout)
    assert shown["params"] == {"target_height": 180} and shown["owner"] == "local"
