"""Face enhancement where users meet it: `--enhance` on talk and dub, the Enhance tool as a job, the CLI and the
Video Tools tab; a missing model refused in one sentence before any work, seeded weights for the runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avatar.cli import main
from avatar.enhance.options import EnhanceOptions
from avatar.errors import ModelNotInstalled
from avatar.service.jobs import get_service
from avatar.service.kinds import get_kind
from avatar.service.keys import LOCAL_OWNER
from avatar.video_writer import Mp4Writer
from tests.conftest import FIXTURES, PROJECT_DIR, button_labelled, page_job_record, started_page, wait_finished
from tests.dub_clips import short_talk_clip
from tests.seeded_weights import seeded_state_dict
from tests.test_talking_avatar_page import _patch_uploads

PAGE = str(PROJECT_DIR / "app_pages" / "video_tools.py")
INSTALL = "`avatar models import gfpgan-1.4 PATH`"


@pytest.fixture(scope="module")
def seeded_gfpgan(tmp_path_factory):
    """GFPGANv1.4.pth with seeded weights, in the published layout."""
    keys = json.loads((PROJECT_DIR / "tests" / "reference" / "gfpgan" / "keys.json").read_text())["keys"]
    path = tmp_path_factory.mktemp("gfpgan") / "GFPGANv1.4.pth"
    torch.save({"params_ema": seeded_state_dict(keys)}, path)
    return path


@pytest.fixture
def gfpgan_installed(seeded_gfpgan):
    assert main(["models", "import", "gfpgan-1.4", str(seeded_gfpgan)]) == 0


def test_the_options_are_declared_once_for_talk_dub_and_the_tool():
    from avatar.options import specs
    from avatar.talk.engine import TalkOptions
    from avatar.video.dub_options import DubOptions

    for cls in (TalkOptions, DubOptions):
        spec = next(s for s in specs(cls) if s.name == "enhance")
        assert spec.default == "none" and spec.choices == ("none", "face", "face+background")
    schema = get_kind("enhance").schema()
    assert {"mode", "scale", "stable"} <= set(json.dumps(schema).replace('"', " ").split())
    assert EnhanceOptions(mode="face+background", scale=4).background_scale == 4
    assert EnhanceOptions(mode="face", scale=4).background_scale is None


def test_talk_and_dub_without_the_model_exit_2_with_one_sentence_before_any_work(capsys, tmp_path):
    image = str(FIXTURES / "obama_small.jpg")
    assert main(["talk", "--image", image, "--text", "Hello.", "--enhance", "face", "-o", str(tmp_path / "t.mp4")]) == 2
    error = capsys.readouterr().err
    assert INSTALL in error and error.count("\n") == 1 and "Traceback" not in error
    video = short_talk_clip(tmp_path / "clip.mp4", frames=3, size=128)
    assert main(["dub", "--video", str(video), "--text", "Hi.", "--enhance", "face+background",
                 "-o", str(tmp_path / "d.mp4")]) == 2
    assert INSTALL in capsys.readouterr().err
    assert not (tmp_path / "t.mp4").exists() and not (tmp_path / "d.mp4").exists()


def test_the_enhance_job_is_refused_at_submit_without_the_model():
    with pytest.raises(ModelNotInstalled, match="gfpgan-1.4"):
        get_service().submit(LOCAL_OWNER, "enhance", {"mode": "face"}, {"image": (FIXTURES / "obama_small.jpg")
                                                                         .read_bytes()}, {"image": "obama.jpg"})
    assert get_service().list(LOCAL_OWNER) == []


def test_the_page_shows_the_missing_model_as_an_error(monkeypatch):
    _patch_uploads(monkeypatch, {"Image or video": (FIXTURES / "obama_small.jpg", "image/jpeg")})
    app = started_page(PAGE)
    assert any(INSTALL in info.value for info in app.info)
    button_labelled(app, "Enhance").click().run()
    assert not app.exception
    assert any(INSTALL in error.value for error in app.error)
    assert "enhance_job" not in app.session_state


def test_the_page_enhances_an_image(monkeypatch, gfpgan_installed):
    _patch_uploads(monkeypatch, {"Image or video": (FIXTURES / "obama_small.jpg", "image/jpeg")})
    app = started_page(PAGE)
    button_labelled(app, "Enhance").click().run(timeout=120)
    assert not app.exception and not app.error
    job, manifest = page_job_record(app, "enhance_job")
    assert manifest["face_found"] is True and manifest["output"]["file"] == "image.png"
    assert "face enhanced" in " ".join(c.value for c in app.caption)


def test_a_video_job_passes_faceless_frames_through_and_says_so(gfpgan_installed, tmp_path):
    """Two frames of a real face, then two of a blank wall: the wall passes through, named in the manifest."""
    import cv2

    from avatar.media import load_image

    face = cv2.resize(load_image(FIXTURES / "obama_small.jpg"), (192, 144))
    path = tmp_path / "clip.mp4"
    with Mp4Writer(path, 192, 144, 5, crf=10) as writer:
        for frame in (face, face, np.full_like(face, 120), np.full_like(face, 120)):
            writer.write(frame)
    service = get_service()
    job = service.submit(LOCAL_OWNER, "enhance", {"scale": 2}, {"video": path.read_bytes()}, {"video": "clip.mp4"})
    job = wait_finished(service, LOCAL_OWNER, job.id, timeout=120)
    assert job.status == "done", job
    manifest = json.loads(service.result_file(LOCAL_OWNER, job.id, "manifest.json").read_text())
    assert manifest["enhancement"]["faces_lost"] == [[2, 3]] and manifest["enhancement"]["frames_enhanced"] == 2
    assert manifest["output"]["width"] == 384 and manifest["rtf"] > 0


def test_talk_with_enhance_redraws_every_frame_and_reports_the_rtf(gfpgan_installed):
    from avatar.talk.engine import TalkOptions
    from avatar.talk.pipeline import make_talking_video

    result = make_talking_video(FIXTURES / "obama_small.jpg", "Hi.",
                                options=TalkOptions(size=160, fps=4, enhance="face"))
    entry = result.manifest["enhancement"]
    assert entry["mode"] == "face" and entry["frames"] == result.frames == entry["frames_enhanced"]
    assert entry["faces_lost"] == [] and entry["rtf"] > 0 and result.manifest["options"]["enhance"] == "face"
    assert "enhancement" in result.timings


def test_dub_with_enhance_redraws_the_tracked_face_in_every_frame(gfpgan_installed, tmp_path):
    import cv2

    from avatar.video.dub import dub_video
    from avatar.video.dub_options import DubOptions
    from avatar.video.io import open_video

    path = tmp_path / "clip.mp4"
    with open_video(FIXTURES / "real_talk" / "woman_glasses.mp4") as clip, Mp4Writer(path, 128, 128, 5, crf=10) as out:
        for index, frame in enumerate(clip.frames()):
            if index == 4:
                break
            out.write(cv2.resize(frame, (128, 128), interpolation=cv2.INTER_AREA))
    result = dub_video(path, "Hi.", options=DubOptions(fit="trim", enhance="face"))
    entry = result.manifest["enhancement"]
    assert entry["mode"] == "face" and entry["frames"] == result.frames == entry["frames_enhanced"] > 0
    assert entry["faces_lost"] == [] and entry["rtf"] > 0
    with open_video(result.video_path) as video:
        assert video.info.width == 128 and video.info.frames == result.frames
