"""Dubbing through the HTTP API: a real server dubs a real speaker to typed English and, in her own voice copied from
the video, to Spanish; bad videos are refused at submit with one sentence and nothing stored."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from avatar.video.io import VideoLimits, open_video
from tests.conftest import FIXTURES, coqui_missing
from tests.dub_clips import short_talk_clip, speaking_clip
from tests.test_api import Server, _follow, _submit
from tests.test_api_refusals import Api
from tests.test_video_io import write_audio_only, write_with_pyav


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("dub-api")
    return {"silent": short_talk_clip(folder / "talk.mp4"), "speaking": speaking_clip(folder / "speaker.mp4")}


def _video(path: Path) -> dict:
    return {"video": (path.name, path.read_bytes(), "video/mp4")}


def _dubbed(client, job_id: str, tmp_path: Path) -> tuple[dict, Path]:
    """The finished job's manifest and its video, downloaded."""
    events = _follow(client, job_id)
    assert events[-1]["status"] == "done", events[-1]
    files = {name: client.get(f"/v1/jobs/{job_id}/files/{name}") for name in ("video.mp4", "manifest.json")}
    assert all(response.status_code == 200 for response in files.values())
    video = tmp_path / f"{job_id}.mp4"
    video.write_bytes(files["video.mp4"].content)
    return files["manifest.json"].json(), video


@pytest.mark.skipif(bool(coqui_missing()) and os.environ.get("CI") != "true", reason="needs coqui-tts")
def test_a_real_speaker_is_dubbed_in_english_and_in_spanish_in_her_own_voice(clips, tiny_coqui_models, tmp_path,
                                                                           monkeypatch):
    from avatar.cli import main

    monkeypatch.setenv("AVATAR_CHECKPOINTS", str(tmp_path / "checkpoints"))  # the server's own, see Server
    for model_id, folder in tiny_coqui_models.items():
        assert main(["models", "import", model_id, str(folder)]) == 0
    server = Server(tmp_path).start()
    try:
        with server.client() as client:
            english = _submit(client, {"text": "I am saying something new today."}, _video(clips["silent"]), "dub")
            spanish = _submit(client, {"text": "Hola a todos.", "clone_from_video": True, "language": "es",
                                       "fit": "trim"}, _video(clips["speaking"]), "dub")
            assert english.status_code == 202 and spanish.status_code == 202, (english.text, spanish.text)
            for response, clip in ((english, clips["silent"]), (spanish, clips["speaking"])):
                manifest, video = _dubbed(client, response.json()["id"], tmp_path)
                with open_video(clip) as source, open_video(video) as result:
                    assert (result.info.width, result.info.height) == (source.info.width, source.info.height)
                    assert round(result.info.fps) == round(source.info.fps) and result.info.has_audio
                assert manifest["task"] == "dub" and manifest["engine"] == "builtin"
                assert manifest["video"]["face_seen"] > 0.9 and manifest["output"]["animated_frames"] > 0
            assert manifest["speech"]["voice_from_video"] is True
            assert manifest["video"]["teeth_frame"] is not None  # she opens her mouth: her own teeth are shown
            listed = {job["id"]: job for job in client.get("/v1/jobs").json()}
            assert listed[english.json()["id"]]["kind"] == "dub"
    finally:
        server.stop()


def _phone_video(path: Path, frames: list[np.ndarray], times_ms: list[int]) -> Path:
    """Stored on its side with a display rotation of 90 degrees, frames at irregular times (as phones record)."""
    sideways = [np.ascontiguousarray(np.rot90(frame, -1)) for frame in frames]  # shown turned back upright
    height, width = sideways[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.set_display_rotation(90)
        for image, at in zip(sideways, times_ms):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = at, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_a_phone_video_on_its_side_at_a_variable_rate_is_dubbed_upright(clips, tmp_path):
    from avatar.video.dub import dub_video

    with open_video(clips["silent"]) as source:
        frames = [frame[:, 40:280] for frame in source.frames()]  # portrait orientation: 240 wide, 320 high
    gaps = [33 if index % 3 else 50 for index in range(len(frames))]  # 20-30 fps, as a phone records in dim light
    times = np.concatenate([[0], np.cumsum(gaps[:-1])]).tolist()
    phone = _phone_video(tmp_path / "phone.mp4", frames, times)
    with open_video(phone) as stored:
        assert stored.info.rotation == 90 and (stored.info.width, stored.info.height) == (240, 320)
    result = dub_video(phone, text="Hello there.", job_dir=tmp_path / "job")
    assert (result.width, result.height) == (240, 320)
    assert result.manifest["video"]["face_seen"] > 0.9
    with open_video(result.video_path) as dubbed:
        first = next(dubbed.frames())
    # Upright and the same picture: the first frame is the source's own (its mouth is redrawn, little else).
    assert np.abs(first.astype(int) - frames[0]).mean() < 20


@pytest.fixture
def api(tmp_path, monkeypatch) -> Api:
    monkeypatch.setenv("AVATAR_MAX_ACTIVE_JOBS", "1000")
    return Api(tmp_path)


def _refused(api: Api, path: Path, params: dict | None = None) -> str:
    response = api.submit(params or {"text": "Hello."}, {"video": (path.name, path.read_bytes(), "video/mp4")},
                          kind="dub")
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "Traceback" not in detail and detail.count(". ") <= 1 and len(detail) < 300
    api.assert_nothing_stored()
    return detail


def test_videos_a_dub_cannot_use_are_refused_at_submit_with_nothing_stored(api, clips, tmp_path, monkeypatch):
    wall = write_with_pyav(tmp_path / "wall.mp4", [np.full((96, 96, 3), 128, np.uint8)] * 10)
    assert "face" in _refused(api, wall).lower()
    sound_only = _refused(api, write_audio_only(tmp_path / "sound.mp4"))
    assert "video" in sound_only.lower() or "picture" in sound_only.lower()
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(clips["silent"].read_bytes()[:3000])
    assert _refused(api, truncated)
    photo = tmp_path / "photo.mp4"
    photo.write_bytes((FIXTURES / "obama.jpg").read_bytes())
    assert _refused(api, photo)
    monkeypatch.setattr("avatar.video.dub.DUB_LIMITS", VideoLimits(max_seconds=2.0))
    assert "limit" in _refused(api, clips["speaking"])


def test_a_recording_as_the_video_and_a_bad_face_index_are_refused(api, clips, tmp_path):
    wav = tmp_path / "speech.wav"
    wav.write_bytes(next(FIXTURES.glob("RD_Radio*.wav")).read_bytes())
    assert _refused(api, wav)
    detail = _refused(api, clips["silent"], {"text": "Hello.", "face_index": 3})
    assert "face index from 0 to 0" in detail
    assert json.loads(api.submit({"text": "Hello."}, _video(clips["silent"]), kind="dub").text)["id"]
