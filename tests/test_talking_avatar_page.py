"""The Talking Avatar page through Streamlit's AppTest (no browser): Generate submits a job and follows it."""

from __future__ import annotations

import os

import pytest
from streamlit.testing.v1 import AppTest

from avatar.cli import main
from avatar.service.jobs import get_service, job_folder
from tests.conftest import (
    PROJECT_DIR, button_labelled, coqui_missing, failed_talk_job, page_job_record,
    session_owner, started_page, wait_finished,
)

PAGE = str(PROJECT_DIR / "app_pages" / "talking_avatar.py")


@pytest.fixture
def app() -> AppTest:
    return started_page(PAGE)




def _finished_job(at: AppTest):
    """The job the page followed, as the store has it, and its manifest."""
    return page_job_record(at, "talk_job")


def test_default_avatar_text_generate_shows_video(app):
    assert app.radio[0].value == "Default avatar"
    app.radio(key="avatar_choice").set_value("Astronaut")
    app.text_area(key="talk_text").input("Hello, I am an astronaut.")
    app.select_slider[0].set_value(256)
    button_labelled(app, "Generate").click().run()
    assert not app.exception and not app.error
    videos = app.get("video")
    assert len(videos) == 1
    assert {"Download MP4", "Download captions (SRT)"} <= {b.label for b in app.get("download_button")}
    job, manifest = _finished_job(app)
    assert job.kind == "talk" and job.params["avatar"] == "astronaut" and job.params["size"] == 256
    assert job.params["text"] == "Hello, I am an astronaut." and manifest["video"]["width"] == 256
    assert get_service().result_file(session_owner(app), job.id, "video.mp4").stat().st_size > 0
    assert app.query_params["s"] == app.session_state["session_id"]  # a reload finds the session again
    assert get_service().get("session:someone-else", job.id) is None
    assert [s.label[:8] for s in app.status] == ["Done in "] and app.status[0].state == "complete"


def test_a_refused_job_shows_its_message_and_no_stale_video(app, fixtures, monkeypatch):
    app.text_area(key="talk_text").input("First a good one.")
    app.select_slider[0].set_value(256)
    button_labelled(app, "Generate").click().run()
    assert len(app.get("video")) == 1
    # The page's own face check is told a face is there, so the portrait reaches the job's check at submit, which
    # refuses it: its sentence is shown, the earlier video is gone, and nothing new is stored.
    import avatar.face.picker
    from avatar.face.picker import FaceChoices

    monkeypatch.setattr(avatar.face.picker, "face_choices", lambda image: FaceChoices([object()], image))
    _patch_upload(monkeypatch, fixtures / "no_face.png", "image/png")
    app.radio[0].set_value("Upload a portrait").run()
    assert not app.error
    button_labelled(app, "Generate").click().run()
    assert not app.exception and not app.get("video") and "talk_job" not in app.session_state
    assert [e.value for e in app.error] == ["No face was found in the image; use a clear, front-facing portrait."]
    assert [job.status for job in get_service().list(session_owner(app))] == ["done"]


def test_a_job_still_running_is_followed_again_on_the_next_run(app):
    """A click during the wait stops the script, not the job: the next run follows it to its video."""
    job = get_service().submit(session_owner(app), "talk", {"text": "Picked up again, a little later. " * 12, "avatar": "noor", "size": 256}, {})
    app.session_state["talk_job"] = job.id
    app.run()
    assert not app.exception and not app.error and len(app.get("video")) == 1
    assert app.status[0].state == "complete" and get_service().get(session_owner(app), job.id).status == "done"


def test_a_reload_shows_the_sessions_last_video_again(app, fixtures):
    """A reload is a new browser session on the same address: the page finds the session's newest talk job that
    did not fail (a newer failed one is skipped), and shows its video."""
    owner = session_owner(app)
    done = get_service().submit(owner, "talk", {"text": "Still here after a reload.", "avatar": "noor", "size": 256}, {})
    assert wait_finished(get_service(), owner, done.id).status == "done"
    failed = failed_talk_job(get_service(), owner, {"text": "Hi."},
                             {"portrait": (fixtures / "obama_small.jpg").read_bytes()}, "The job failed.")
    assert failed.status == "failed"
    reloaded = AppTest.from_file(PAGE, default_timeout=240)
    reloaded.query_params["s"] = app.session_state["session_id"]
    reloaded.run()
    assert not reloaded.exception and not reloaded.error
    assert reloaded.session_state["talk_job"] == done.id and len(reloaded.get("video")) == 1
    assert [m.value for m in reloaded.markdown if "last video" in m.value] == [
        "**Your last video**, made from Noor saying “Still here after a reload.”"]
    reloaded.run()  # other interactions keep it, still labelled
    assert len(reloaded.get("video")) == 1 and any("Your last video" in m.value for m in reloaded.markdown)
    # Choosing other inputs (here another avatar) drops it: it is not what they would make.
    reloaded.radio(key="avatar_choice").set_value("Maya").run()
    assert not reloaded.exception and not reloaded.get("video") and "talk_job" not in reloaded.session_state
    assert not any("last video" in m.value for m in reloaded.markdown)


def test_after_a_reload_a_new_portrait_and_recording_drop_the_last_video(app, fixtures, monkeypatch):
    owner = session_owner(app)
    done = get_service().submit(owner, "talk", {"avatar": "noor", "size": 256},
                                {"audio": (fixtures / "RD_Radio31_000.wav").read_bytes()}, {"audio": "RD_Radio31_000.wav"})
    assert wait_finished(get_service(), owner, done.id).status == "done"
    reloaded = AppTest.from_file(PAGE, default_timeout=240)
    reloaded.query_params["s"] = app.session_state["session_id"]
    reloaded.run()
    assert [m.value for m in reloaded.markdown if "last video" in m.value] == [
        "**Your last video**, made from Noor and the recording RD_Radio31_000.wav."]
    _patch_uploads(monkeypatch, {"Portrait": (fixtures / "obama_small.jpg", "image/jpeg"),
                                 "Recording": (fixtures / "RD_Radio34_002.wav", "audio/wav")})
    reloaded.radio[0].set_value("Upload a portrait").run()
    next(r for r in reloaded.radio if r.label == "Voice source").set_value("Upload a recording").run()
    assert not reloaded.exception and not reloaded.error
    assert not reloaded.get("video") and not any("last video" in m.value for m in reloaded.markdown)


def test_a_video_just_made_has_no_last_video_label_and_goes_when_the_text_changes(app):
    app.text_area(key="talk_text").input("Made just now.")
    app.select_slider[0].set_value(256)
    button_labelled(app, "Generate").click().run()
    assert len(app.get("video")) == 1 and not any("last video" in m.value for m in app.markdown)
    app.run()
    assert len(app.get("video")) == 1
    app.text_area(key="talk_text").input("Something else.").run()
    assert not app.get("video") and "talk_job" not in app.session_state


def test_empty_text_shows_error_not_traceback(app):
    button_labelled(app, "Generate").click().run()
    assert not app.exception
    assert any("text is empty" in e.value for e in app.error)


def test_text_of_only_punctuation_is_refused_like_empty_text(app):
    app.text_area(key="talk_text").input("... !!!")
    button_labelled(app, "Generate").click().run()
    assert not app.exception and not app.get("video")
    assert [e.value for e in app.error] == ["The text has nothing the voice can speak; use words or numbers."]
    assert "talk_job" not in app.session_state and get_service().list(session_owner(app)) == []
    button_labelled(app, "Listen").click().run()
    assert not app.exception and not app.get("audio")
    assert [e.value for e in app.error] == ["The text has nothing the voice can speak; use words or numbers."]


def test_upload_without_face_is_refused_before_any_job(app, fixtures, monkeypatch):
    _patch_upload(monkeypatch, fixtures / "no_face.png", "image/png")
    app.radio[0].set_value("Upload a portrait").run()
    assert [e.value for e in app.error] == ["No face was found in the image; use a clear, front-facing portrait."]
    app.text_area(key="talk_text").input("Hello there.")
    button_labelled(app, "Generate").click().run()
    assert not app.exception and not app.get("video")
    assert [e.value for e in app.error][1:] == [
        "No face was found in no_face.png; upload a clear, front-facing portrait, or pick a default avatar."]
    assert "talk_job" not in app.session_state and get_service().list(session_owner(app)) == []


def test_generate_from_prompt_explains_missing_model(app):
    app.radio[0].set_value("Generate from a prompt").run()
    assert not app.exception
    assert any("avatar models pull sd21-base" in i.value for i in app.info)


def test_listen_preview_plays_audio(app):
    app.text_area(key="talk_text").input("Just a preview.")
    button_labelled(app, "Listen").click().run()
    assert not app.exception and not app.error
    assert len(app.get("audio")) == 1


def _patch_upload(monkeypatch, path, mime):
    """AppTest cannot drive st.file_uploader: hand in Streamlit's own UploadedFile."""
    import streamlit as st
    from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec

    record = UploadedFileRec(file_id="1", name=path.name, type=mime, data=path.read_bytes())
    monkeypatch.setattr(st, "file_uploader", lambda *a, **k: UploadedFile(record, None))


def _patch_uploads(monkeypatch, files):
    """Like `_patch_upload`, one file per uploader: `files` maps the start of an uploader's label to (path, mime)."""
    import streamlit as st
    from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec

    def uploader(label, *args, **kwargs):
        for index, (start, (path, mime)) in enumerate(files.items()):
            if label.startswith(start):
                return UploadedFile(UploadedFileRec(str(index), path.name, mime, path.read_bytes()), None)
        return None

    monkeypatch.setattr(st, "file_uploader", uploader)


def test_group_photo_offers_a_face_picker(app, fixtures, monkeypatch):
    _patch_upload(monkeypatch, fixtures / "two_people.jpg", "image/jpeg")
    app.radio[0].set_value("Upload a portrait").run()
    assert not app.exception
    picker = app.selectbox[0]
    assert picker.label == "Face to animate" and picker.options == ["Face 0 (largest)", "Face 1"]


def test_corrupt_upload_shows_error_and_generate_says_the_upload_could_not_be_used(app, fixtures, monkeypatch):
    _patch_upload(monkeypatch, fixtures / "corrupt.jpg", "image/jpeg")
    app.radio[0].set_value("Upload a portrait").run()
    assert not app.exception
    [upload_error] = [e.value for e in app.error]
    assert "Cannot read image corrupt.jpg" in upload_error
    app.text_area(key="talk_text").input("Hello there.")
    button_labelled(app, "Generate").click().run()
    assert not app.exception
    errors = [e.value for e in app.error]
    assert errors == [upload_error, "The uploaded file corrupt.jpg could not be used as a portrait; upload another "
                                    "picture, or pick a default avatar."]
    assert not any("Choose a portrait first" in e for e in errors)
    assert "talk_job" not in app.session_state and get_service().list(session_owner(app)) == []


def test_a_corrupt_recording_is_refused_on_upload_and_at_generate(app, fixtures, monkeypatch):
    _patch_upload(monkeypatch, fixtures / "corrupt.wav", "audio/wav")
    next(r for r in app.radio if r.label == "Voice source").set_value("Upload a recording").run()
    assert not app.exception
    sentence = "Cannot read audio corrupt.wav: the file is corrupt or not audio; try another recording."
    assert [e.value for e in app.error] == [sentence]
    button_labelled(app, "Generate").click().run()
    assert not app.exception and [e.value for e in app.error] == [sentence, sentence]
    assert "talk_job" not in app.session_state and get_service().list(session_owner(app)) == []


def test_a_silent_recording_is_refused_on_upload(app, tmp_path, monkeypatch):
    import wave

    silent = tmp_path / "quiet.wav"
    with wave.open(str(silent), "wb") as handle:
        handle.setnchannels(1), handle.setsampwidth(2), handle.setframerate(16000)
        handle.writeframes(b"\0\0" * 32000)
    _patch_upload(monkeypatch, silent, "audio/wav")
    next(r for r in app.radio if r.label == "Voice source").set_value("Upload a recording").run()
    assert [e.value for e in app.error] == ["The recording quiet.wav is silent; upload a recording with speech in it."]


def test_a_good_recording_is_accepted_on_upload_with_its_length(app, fixtures, monkeypatch):
    _patch_upload(monkeypatch, fixtures / "RD_Radio31_000.wav", "audio/wav")
    next(r for r in app.radio if r.label == "Voice source").set_value("Upload a recording").run()
    assert not app.exception and not app.error
    assert any(c.value.startswith("Recording: RD_Radio31_000.wav, ") and c.value.endswith(" s.") for c in app.caption)


def test_recording_is_recognised_and_captioned(app, fixtures, monkeypatch):
    _patch_upload(monkeypatch, fixtures / "RD_Radio31_000.wav", "audio/wav")
    next(r for r in app.radio if r.label == "Voice source").set_value("Upload a recording").run()
    assert app.text_area(key="talk_transcript").label == "Transcript (optional)"
    app.select_slider[0].set_value(256)
    button_labelled(app, "Generate").click().run()
    assert not app.exception and not app.error
    job, manifest = _finished_job(app)
    assert job.inputs == ["audio"] and "text" not in job.params
    assert manifest["speech"]["mouth"]["method"] == "recognized" and "captions.auto.srt" in job.results
    assert any("Lip timing: phonemes of the recognised words" in c.value for c in app.caption)
    assert "Download automatic captions (SRT)" in {b.label for b in app.get("download_button")}
    # Automatic captions are said to be so, and the recognised words can be corrected and the video re-timed.
    assert any(c.value.startswith("Automatic captions: recognised from the recording, check them") for c in app.caption)
    box = app.text_area(key=f"talk_correction_{job.id}")
    assert box.label == "Correct the words and re-time"
    assert box.value == manifest["speech"]["captions"]["recognized_text"] and "holidays" in box.value
    corrected = "Holidays are a time of celebration with loved ones, enjoying the festivities."
    box.input(corrected)
    button_labelled(app, "Re-time with these words").click().run()
    assert not app.exception and not app.error
    retimed, manifest = _finished_job(app)
    assert retimed.id != job.id and retimed.status == "done" and retimed.inputs == ["audio"]
    assert retimed.params == {**job.params, "transcript": corrected}
    given = {name: next((job_folder(j.id) / "inputs" / "audio").iterdir()).read_bytes() for name, j in
             (("first", job), ("retimed", retimed))}
    assert given["first"] == given["retimed"] == (fixtures / "RD_Radio31_000.wav").read_bytes()
    assert manifest["speech"]["mouth"]["method"] == "transcript" and "captions.srt" in retimed.results
    assert manifest["speech"]["captions"]["automatic"] is False
    srt = get_service().result_file(session_owner(app), retimed.id, "captions.srt").read_text(encoding="utf-8")
    assert "celebration with loved ones" in " ".join(srt.split())
    assert len(app.get("video")) == 1 and not [t for t in app.text_area if t.key.startswith("talk_correction_")]
    assert "Download captions (SRT)" in {b.label for b in app.get("download_button")}
    assert not any(c.value.startswith("Automatic captions") for c in app.caption)


def test_engine_picker_explains_a_missing_wav2lip(app):
    picker = app.radio(key="talk_engine")
    assert picker.options[0].startswith("Built-in")
    assert "Wav2Lip (not installed: `avatar models import wav2lip-gan PATH`)" in picker.options
    picker.set_value("wav2lip").run()
    assert any("avatar models import wav2lip-gan PATH" in w.value for w in app.warning)
    app.text_area(key="talk_text").input("Hello.")
    button_labelled(app, "Generate").click().run()
    assert not app.exception
    assert any("avatar models import wav2lip-gan PATH" in e.value for e in app.error)
    assert "talk_job" not in app.session_state and get_service().list(session_owner(app)) == []  # refused before queueing


def test_sadtalker_options_appear_and_a_missing_model_is_explained(app):
    picker = app.radio(key="talk_engine")
    assert "SadTalker (not installed: `avatar models pull sadtalker`)" in picker.options
    assert not [n for n in app.number_input if n.label == "Pose style"]
    picker.set_value("sadtalker").run()
    assert [n for n in app.number_input if n.label == "Pose style"]
    assert {"Framing", "Face resolution"} <= {r.label for r in app.radio}
    app.text_area(key="talk_text").input("Hello.")
    button_labelled(app, "Generate").click().run()
    assert not app.exception
    assert any("avatar models pull sadtalker" in e.value for e in app.error)
    assert "talk_job" not in app.session_state and get_service().list(session_owner(app)) == []


def test_uploads_for_path_options_are_kept_in_the_session_folder(tmp_path, monkeypatch):
    from ui.session import saved_upload

    class Upload:
        name = "Clip.MP4"

        def __init__(self, data: bytes) -> None:
            self.data = data

        def getvalue(self) -> bytes:
            return self.data

    monkeypatch.setenv("AVATAR_OUTPUTS", str(tmp_path))
    first = saved_upload(Upload(b"one"), "blink")
    assert first.name == "blink.mp4" and first.read_bytes() == b"one" and tmp_path in first.parents
    assert saved_upload(Upload(b"two!"), "blink") == first and first.read_bytes() == b"two!"


# The voice choice: bundled, clone with consent, saved clones --------------------------------

CLONE = "Clone a voice"


def _clone(at: AppTest, text: str = "Hello there. This is my voice.") -> AppTest:
    at.text_area(key="talk_text").input(text)
    at.select_slider[0].set_value(256)
    at.radio(key="talk_speaker").set_value(CLONE).run()
    assert not at.exception
    return at


def test_a_missing_cloning_model_is_explained(app):
    _clone(app)
    assert any("avatar models pull xtts-v2" in w.value for w in app.warning)
    button_labelled(app, "Generate").click().run()
    assert not app.exception and "talk_job" not in app.session_state
    assert any("avatar models pull xtts-v2" in e.value for e in app.error)


def test_a_bad_sample_is_refused_as_soon_as_it_is_given(app, fixtures, monkeypatch):
    _patch_upload(monkeypatch, fixtures / "corrupt.wav", "audio/wav")
    _clone(app)
    assert any("corrupt.wav" in e.value for e in app.error)
    button_labelled(app, "Listen").click().run()
    assert not app.exception and not app.get("audio")


@pytest.mark.skipif(bool(coqui_missing()) and os.environ.get("CI") != "true", reason="coqui-tts is not installed")
def test_cloning_needs_consent_then_the_voice_is_saved_for_the_session(app, fixtures, monkeypatch, tiny_coqui_models):
    for model_id, folder in tiny_coqui_models.items():
        assert main(["models", "import", model_id, str(folder)]) == 0
    _patch_upload(monkeypatch, fixtures / "RD_Radio31_000.wav", "audio/wav")
    _clone(app)
    assert not app.warning
    assert app.selectbox(key="talk_language").options == ["en", "es", "fr", "de"]
    button_labelled(app, "Generate").click().run()
    assert not app.exception and "talk_job" not in app.session_state
    assert any("consent" in e.value or "agreed" in e.value for e in app.error)

    app.checkbox(key="talk_consent").check()
    app.selectbox(key="talk_language").set_value("es")
    button_labelled(app, "Generate").click().run()
    assert not app.exception and not app.error
    job, manifest = _finished_job(app)
    assert manifest["speech"]["voice"] == "xtts-v2" and manifest["speech"]["language"] == "es"
    assert "voice_sample" in job.inputs and job.params["voice"] == "xtts-v2" and job.queue == "gpu"
    assert len(app.get("video")) == 1

    saved = "RD_Radio31_000.wav (xtts-v2, es)"
    assert any(saved in c.value for c in app.caption)
    app.run()  # the next interaction offers it
    assert saved in app.radio(key="talk_speaker").options
    app.radio(key="talk_speaker").set_value(saved).run()
    assert not app.exception and app.selectbox(key="talk_language").value == "es"
    button_labelled(app, "Listen").click().run()
    assert not app.exception and not app.error and len(app.get("audio")) == 1
