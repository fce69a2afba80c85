"""The Dub a video page through Streamlit's AppTest (no browser): upload, faces, Generate, result; History lists it."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import cv2
import pytest
from streamlit.testing.v1 import AppTest

from avatar.cli import main
from avatar.errors import AvatarError
from avatar.service.jobs import get_service
from avatar.video_writer import Mp4Writer
from tests import dub_clips
from tests.conftest import (
    FIXTURES, PROJECT_DIR, button_labelled, coqui_missing, page_job_record,
    session_owner, started_page, wait_finished,
)
from tests.test_talking_avatar_page import _patch_uploads
from ui.dub_video import video_faces

PAGE = str(PROJECT_DIR / "app_pages" / "dub.py")
HISTORY = str(PROJECT_DIR / "app_pages" / "history.py")
VIDEO_LABEL = "Video of a person speaking"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return dub_clips.short_talk_clip(tmp_path_factory.mktemp("dub_page") / "speaker.mp4")


@pytest.fixture
def app() -> AppTest:
    return started_page(PAGE)




def _not_a_video(tmp_path: Path) -> Path:
    path = tmp_path / "holiday.mp4"
    path.write_bytes(b"this is a text file, not a video\n" * 64)
    return path


def test_a_video_is_dubbed_to_typed_text_and_shown_with_its_downloads(app, clip, monkeypatch):
    _patch_uploads(monkeypatch, {VIDEO_LABEL: (clip, "video/mp4")})
    app.run()
    assert not app.exception and not app.error
    assert len(app.get("image")) == 1  # the first frame with its numbered face box
    assert any("speaker.mp4: 320x320 pixels, 1.2 s at 25 fps" in c.value for c in app.caption)
    assert not app.selectbox  # one face: nothing to pick
    app.text_area(key="dub_text").input("Hello from the dubbing page.")
    button_labelled(app, "Generate").click().run()
    assert not app.exception and not app.error
    assert len(app.get("video")) == 1
    assert {"Download MP4", "Download captions (SRT)"} <= {b.label for b in app.get("download_button")}
    job, manifest = page_job_record(app, "dub_job")
    assert job.kind == "dub" and job.params["text"] == "Hello from the dubbing page."
    assert job.params["face_index"] == 0 and job.params["fit"] == "pingpong"
    assert manifest["output"]["width"] == 320 and manifest["captions"]["automatic"] is False
    assert [s.state for s in app.status] == ["complete"]
    app.text_area(key="dub_text").input("Something else.").run()  # other words: that video is not their answer
    assert not app.get("video") and "dub_job" not in app.session_state


def test_a_non_video_is_refused_on_upload_and_at_generate_with_nothing_stored(app, tmp_path, monkeypatch):
    _patch_uploads(monkeypatch, {VIDEO_LABEL: (_not_a_video(tmp_path), "video/mp4")})
    app.run()
    assert not app.exception and len(app.error) == 1 and not app.get("image")
    sentence = app.error[0].value
    assert sentence.endswith(".") and "Traceback" not in sentence
    app.text_area(key="dub_text").input("Hello.")
    button_labelled(app, "Generate").click().run()
    assert not app.exception and [e.value for e in app.error] == [sentence, sentence]
    assert get_service().list(session_owner(app)) == []


def test_generate_without_a_video_says_to_upload_one(app):
    app.text_area(key="dub_text").input("Hello.")
    button_labelled(app, "Generate").click().run()
    assert [e.value for e in app.error] == ["Upload a video of a person speaking first."]


def test_listen_speaks_the_text_and_empty_text_is_a_sentence(app):
    button_labelled(app, "Listen").click().run()
    assert not app.exception and len(app.error) == 1 and not app.get("audio")
    app.text_area(key="dub_text").input("Hear me first.")
    button_labelled(app, "Listen").click().run()
    assert not app.exception and not app.error and len(app.get("audio")) == 1


def test_empty_text_is_refused_by_the_jobs_own_check(app, clip, monkeypatch):
    _patch_uploads(monkeypatch, {VIDEO_LABEL: (clip, "video/mp4")})
    button_labelled(app, "Generate").click().run()
    assert not app.exception and len(app.error) == 1 and "text" in app.error[0].value.lower()
    assert get_service().list(session_owner(app)) == []


def test_a_recording_with_a_transcript_is_sent_as_the_jobs_audio(app, clip, monkeypatch):
    """The request the page builds: the video and the recording as files, the transcript and options as values,
    no text and no speaking rate (the recording has its own)."""
    recording = FIXTURES / "RD_Radio31_000.wav"
    _patch_uploads(monkeypatch, {VIDEO_LABEL: (clip, "video/mp4"), "Recording": (recording, "audio/wav")})
    app.radio(key="dub_voice_source").set_value("Upload a recording").run()
    assert not app.exception and not app.error
    assert any(c.value.startswith("Recording: RD_Radio31_000.wav, ") for c in app.caption)
    app.text_area(key="dub_transcript").input("Words said in the recording.")
    app.radio(key="dub_option_fit").set_value("trim")

    submitted = []

    def submit(owner, kind, params, files, names):
        submitted.append((kind, params, files, names))
        raise AvatarError("Stopped before queueing.")

    monkeypatch.setattr(get_service(), "submit", submit)
    button_labelled(app, "Generate").click().run()
    assert not app.exception and [e.value for e in app.error] == ["Stopped before queueing."]
    ((kind, params, files, names),) = submitted
    assert kind == "dub" and set(files) == {"video", "audio"} and names == {"video": "speaker.mp4",
                                                                            "audio": "RD_Radio31_000.wav"}
    assert params["transcript"] == "Words said in the recording." and params["fit"] == "trim"
    assert "text" not in params and "rate" not in params and params["face_index"] == 0


def test_a_video_of_two_people_offers_a_face_picker_whose_choice_is_sent(app, tmp_path, monkeypatch):
    group = cv2.cvtColor(cv2.imread(str(FIXTURES / "two_people.jpg")), cv2.COLOR_BGR2RGB)
    height, width = (group.shape[0] // 2) * 2, (group.shape[1] // 2) * 2
    video = tmp_path / "two.mp4"
    with Mp4Writer(video, width, height, 10, crf=10) as writer:
        for _ in range(5):
            writer.write(group[:height, :width])
    _patch_uploads(monkeypatch, {VIDEO_LABEL: (video, "video/mp4")})
    app.run()
    assert not app.exception and not app.error
    picker = app.selectbox(key="dub_face")
    assert picker.label == "Face to re-animate" and picker.options == ["Face 0 (largest)", "Face 1"]
    picker.set_value(1)
    app.text_area(key="dub_text").input("The second person speaks.")
    submitted = []
    monkeypatch.setattr(get_service(), "submit", lambda owner, kind, params, files, names: submitted.append(params)
                        or (_ for _ in ()).throw(AvatarError("Stopped before queueing.")))
    button_labelled(app, "Generate").click().run()
    assert [params["face_index"] for params in submitted] == [1]


def test_the_uploaded_videos_faces_are_cached_as_plain_data(clip, tmp_path):
    """What the page caches for an upload pickles (st.cache_data stores it so), and a bad file is a sentence."""
    found = video_faces(clip.read_bytes(), "speaker.mp4")
    assert found.problem is None and found.faces == 1 and found.annotated.shape == (320, 320, 3)
    assert pickle.loads(pickle.dumps(found)).summary == found.summary
    refused = video_faces(_not_a_video(tmp_path).read_bytes(), "holiday.mp4")
    assert refused.problem and refused.problem.endswith(".") and refused.annotated is None


def test_a_recording_gets_automatic_captions_said_so_and_correcting_them_dubs_again(app, clip, monkeypatch):
    recording = FIXTURES / "RD_Radio31_000.wav"
    _patch_uploads(monkeypatch, {VIDEO_LABEL: (clip, "video/mp4"), "Recording": (recording, "audio/wav")})
    app.radio(key="dub_voice_source").set_value("Upload a recording").run()
    app.radio(key="dub_option_fit").set_value("hold")
    button_labelled(app, "Generate").click().run()
    assert not app.exception and not app.error and len(app.get("video")) == 1
    job, manifest = page_job_record(app, "dub_job")
    assert "captions.auto.srt" in job.results and manifest["captions"]["automatic"] is True
    assert "Download automatic captions (SRT)" in {b.label for b in app.get("download_button")}
    assert any(c.value.startswith("Automatic captions: recognised from the recording") for c in app.caption)
    corrected = "Holidays are a time of celebration with loved ones, enjoying the festivities."
    app.text_area(key=f"talk_correction_{job.id}").input(corrected)
    button_labelled(app, "Re-time with these words").click().run()
    assert not app.exception and not app.error
    retimed, manifest = page_job_record(app, "dub_job")
    assert retimed.kind == "dub" and retimed.id != job.id and sorted(retimed.inputs) == ["audio", "video"]
    assert retimed.params == {**job.params, "transcript": corrected} and "captions.srt" in retimed.results
    assert "Download captions (SRT)" in {b.label for b in app.get("download_button")}
    assert not any(c.value.startswith("Automatic captions") for c in app.caption)


def test_a_reload_shows_the_last_dubbed_video_until_other_words_are_typed(app, clip):
    owner = session_owner(app)
    done = get_service().submit(owner, "dub", {"text": "Still here after a reload."}, {"video": clip.read_bytes()},
                                {"video": "speaker.mp4"})
    assert wait_finished(get_service(), owner, done.id, timeout=180).status == "done"
    reloaded = AppTest.from_file(PAGE, default_timeout=240)
    reloaded.query_params["s"] = app.session_state["session_id"]
    reloaded.run()
    assert not reloaded.exception and not reloaded.error and len(reloaded.get("video")) == 1
    assert [m.value for m in reloaded.markdown if "last dubbed video" in m.value] == [
        "**Your last dubbed video**, made from the video speaker.mp4 saying “Still here after a reload.”"]
    reloaded.text_area(key="dub_text").input("Other words.").run()
    assert not reloaded.get("video") and "dub_job" not in reloaded.session_state


def test_the_voice_in_a_silent_video_is_explained_on_the_spot(app, clip, monkeypatch):
    _patch_uploads(monkeypatch, {VIDEO_LABEL: (clip, "video/mp4")})
    app.text_area(key="dub_text").input("In my own voice.")
    app.radio(key="talk_speaker").set_value("The voice in this video").run()
    assert not app.exception
    sentence = "speaker.mp4 has no sound to take a voice from; give a voice sample instead."
    assert sentence in [e.value for e in app.error]
    button_labelled(app, "Generate").click().run()
    assert not app.exception and get_service().list(session_owner(app)) == [] and "dub_job" not in app.session_state


@pytest.fixture(scope="module")
def speaking_clip(tmp_path_factory) -> Path:
    return dub_clips.speaking_clip(tmp_path_factory.mktemp("dub_voice") / "speaker.mp4")


@pytest.mark.skipif(bool(coqui_missing()) and os.environ.get("CI") != "true", reason="coqui-tts is not installed")
def test_the_voice_in_the_video_speaks_the_text_after_consent(app, speaking_clip, monkeypatch, tiny_coqui_models):
    for model_id, folder in tiny_coqui_models.items():
        assert main(["models", "import", model_id, str(folder)]) == 0
    _patch_uploads(monkeypatch, {VIDEO_LABEL: (speaking_clip, "video/mp4")})
    app.text_area(key="dub_text").input("Hola a todos.")
    app.radio(key="talk_speaker").set_value("The voice in this video").run()
    assert not app.exception and not app.error and not app.warning
    assert any(c.value.startswith("Voice: the clearest ") and "speaker.mp4" in c.value for c in app.caption)
    button_labelled(app, "Generate").click().run()
    assert not app.exception and get_service().list(session_owner(app)) == []
    assert any("agreed" in e.value for e in app.error)

    app.checkbox(key="talk_video_consent").check()
    app.selectbox(key="talk_language").set_value("es")
    app.radio(key="dub_option_fit").set_value("trim")
    button_labelled(app, "Listen").click().run()
    assert not app.exception and not app.error and len(app.get("audio")) == 1
    button_labelled(app, "Generate").click().run()
    assert not app.exception and not app.error and len(app.get("video")) == 1
    job, manifest = page_job_record(app, "dub_job")
    assert job.params["clone_from_video"] is True and job.params["voice"] == "xtts-v2"
    assert job.params["language"] == "es" and job.inputs == ["video"]
    assert manifest["speech"]["voice_from_video"] is True
    assert not any(label.endswith("(xtts-v2, es)") for label in app.radio(key="talk_speaker").options)


def test_a_missing_wav2lip_is_named_with_its_install_command_and_refused_at_generate(app, clip, monkeypatch):
    picker = app.radio(key="dub_engine")
    assert picker.value == "builtin" and picker.options[0].startswith("Built-in")
    assert any(option.startswith("Wav2Lip (not installed: `avatar models") for option in picker.options)
    _patch_uploads(monkeypatch, {VIDEO_LABEL: (clip, "video/mp4")})
    picker.set_value("wav2lip").run()
    assert any("Wav2Lip is not installed" in w.value for w in app.warning)
    app.text_area(key="dub_text").input("Hello.")
    button_labelled(app, "Generate").click().run()
    assert not app.exception and len(app.error) == 1 and "wav2lip" in app.error[0].value.lower()
    assert get_service().list(session_owner(app)) == []


def test_history_lists_a_dub_job_with_what_it_said_and_its_downloads(clip):
    at = AppTest.from_file(HISTORY, default_timeout=120)
    at.run()
    owner = f"session:{at.session_state['session_id']}"
    service = get_service()
    job = service.submit(owner, "dub", {"text": "Listed on History."}, {"video": clip.read_bytes()},
                         {"video": "speaker.mp4"})
    assert wait_finished(service, owner, job.id, timeout=180).status == "done"
    at.run()
    assert not at.exception and not at.error
    assert any(m.value.startswith("**Dubbed video**") for m in at.markdown)
    assert any("A video dubbed to “Listed on History.”" in c.value for c in at.caption)
    labels = {b.label for b in at.get("download_button")}
    assert {"video.mp4", "audio.wav", "captions.srt", "manifest.json"} <= labels
    assert len(at.get("image")) == 1  # the thumbnail: the dubbed video's first frame
