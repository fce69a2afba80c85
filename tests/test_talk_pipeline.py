"""End to end: real Piper voice, real dlib landmarks, real H.264 files read back with PyAV."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from avatar.errors import InputError, NoFaceError
from avatar.face.detect import inner_lip_gap, landmarks_in_box
from avatar.speech.piper_voice import synthesize
from avatar.speech.timeline import Speech
from avatar.talk.engine import TalkOptions
from avatar.talk.pipeline import make_talking_video
from avatar.talk.builtin.rig import INNER_LIPS, build_rig
from avatar.talk.pipeline import prepare_portrait

SIZE = 384
OPTIONS = TalkOptions(size=SIZE, seed=3)
TEXT = "Mama bought a big apple. Papa ate a banana."


def read_video(path):
    """Decoded RGB frames, fps, duration and codec names of an MP4."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        subtitles = container.streams.subtitles
        info = {
            "subtitle_codec": subtitles[0].codec_context.name if subtitles else None,
            "video_codec": video.codec_context.name,
            "audio_codec": audio.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "fps": float(video.average_rate),
            "video_duration": float(video.duration * video.time_base),
            "audio_duration": float(audio.duration * audio.time_base),
        }
    return np.stack(frames), info


@pytest.fixture(scope="module")
def spoken() -> Speech:
    return synthesize(TEXT, seed=OPTIONS.seed)


@pytest.fixture(scope="module")
def text_video(fixtures, tmp_path_factory):
    """Typed text: spoken, animated and encoded sentence by sentence."""
    job = tmp_path_factory.mktemp("text_job")
    result = make_talking_video(fixtures / "obama.jpg", text=TEXT, options=OPTIONS, job_dir=job)
    frames, info = read_video(result.video_path)
    return result, frames, info


@pytest.fixture(scope="module")
def portrait(fixtures):
    return prepare_portrait(fixtures / "obama.jpg", SIZE)


def mouth_box(portrait):
    rig = build_rig(portrait.face, portrait.image.shape[:2])
    x0, y0 = rig.crop[:2]
    lips = rig.landmarks[INNER_LIPS] + [x0, y0]
    pad = rig.eye_distance * 0.25
    (left, top), (right, bottom) = lips.min(0) - pad, lips.max(0) + pad
    return int(top), int(bottom + pad), int(left), int(right), rig


def test_text_video_streams_and_timing(text_video, spoken):
    result, frames, info = text_video
    assert info["video_codec"] == "h264" and info["audio_codec"] == "aac" and info["pix_fmt"] == "yuv420p"
    assert info["fps"] == 25
    assert abs(info["video_duration"] - spoken.duration) <= 1 / 25
    assert abs(info["audio_duration"] - spoken.duration) <= 0.05
    assert frames.shape[1] % 2 == 0 and frames.shape[2] % 2 == 0 and max(frames.shape[1:3]) <= SIZE
    assert {p.name for p in result.job_dir.iterdir()} == {"video.mp4", "audio.wav", "captions.srt", "manifest.json"}
    assert info["subtitle_codec"] == "mov_text"
    srt = result.captions_path.read_text(encoding="utf-8")
    assert "Mama bought a big apple." in srt and "Papa ate a banana." in srt
    assert result.mouth == "voice" and result.manifest["captions"]["cues"] >= 2
    assert result.manifest["captions"]["file"] == "captions.srt" and not result.manifest["captions"]["automatic"]
    assert result.manifest["speech"]["captions"] == {"source": "text", "automatic": False, "hidden_words": 0}


def test_text_job_is_reproducible_and_equals_rendering_at_once(text_video, spoken, fixtures, tmp_path):
    """Same inputs and seed: byte-identical audio and identical frames, streamed or not."""
    result, frames, _ = text_video
    again = make_talking_video(fixtures / "obama.jpg", text=TEXT, options=OPTIONS, job_dir=tmp_path / "again")
    assert again.audio_path.read_bytes() == result.audio_path.read_bytes()
    assert np.array_equal(read_video(again.video_path)[0], frames)
    at_once = make_talking_video(fixtures / "obama.jpg", audio=spoken, options=OPTIONS, job_dir=tmp_path / "at_once")
    assert at_once.audio_path.read_bytes() == result.audio_path.read_bytes()
    assert np.array_equal(read_video(at_once.video_path)[0], frames)


def test_manifest_records_inputs_options_and_timings(text_video):
    result, _, _ = text_video
    manifest = json.loads(result.manifest_path.read_text())
    assert len(manifest["portrait"]["sha256"]) == 64
    assert manifest["engine"] == "builtin" and manifest["options"]["seed"] == 3
    assert {"face", "voice", "animation", "encoding"} <= set(manifest["timings_s"])
    assert "numpy" in manifest["versions"]


def test_mouth_moves_and_background_stays(text_video, portrait):
    _, frames, _ = text_video
    top, bottom, left, right, rig = mouth_box(portrait)
    mouth = frames[:, top:bottom, left:right].astype(np.float32)
    assert mouth.std(axis=0).mean() > 8, "the mouth should change across frames"
    x0, y0, x1, y1 = rig.crop
    outside = np.ones(frames.shape[1:3], bool)
    outside[y0:y1, x0:x1] = False
    still = frames[:, outside].astype(np.float32)
    drift = np.abs(still - still[0]).mean(axis=(1, 2))
    assert drift.max() < 2.0, "pixels outside the head must only change by encoding noise"


def test_mouth_more_open_on_vowels_than_closures(text_video, portrait, spoken):
    _, frames, _ = text_video
    # How far the lips part, as dlib sees it on the rendered frames (in eye distances).
    opening = np.array([inner_lip_gap(landmarks_in_box(frame, portrait.face.box)) for frame in frames])

    def frames_of(symbols):
        # The mouth leads the sound, so a phoneme shows `lead` seconds before its centre.
        centres = [(p.start + p.end) / 2 - OPTIONS.lead for p in spoken.phonemes if p.ipa in symbols]
        return [i for i in (int(round(c * OPTIONS.fps)) for c in centres) if 0 <= i < len(frames)]

    vowels, closures = frames_of({"a", "æ", "ɑ"}), frames_of({"m", "b", "p"})
    assert len(vowels) >= 3 and len(closures) >= 3
    assert np.median(opening[vowels]) > np.median(opening[closures]) + 0.05


def test_audio_upload_video(fixtures, tmp_path):
    result = make_talking_video(fixtures / "obama_small.jpg", audio=fixtures / "RD_Radio31_000.wav",
                                options=TalkOptions(size=320, still=True), job_dir=tmp_path / "job")
    frames, info = read_video(result.video_path)
    assert abs(info["video_duration"] - 8.0) <= 1 / 25
    portrait = prepare_portrait(fixtures / "obama_small.jpg", 320)
    top, bottom, left, right, rig = mouth_box(portrait)
    assert frames[:, top:bottom, left:right].astype(np.float32).std(axis=0).mean() > 4
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["speech"]["audio"] == "RD_Radio31_000.wav"
    # English speech: recognised words drive the mouth and become the captions.
    assert result.mouth == manifest["speech"]["mouth"]["method"] == "recognized"
    assert info["subtitle_codec"] == "mov_text" and result.captions_path.read_text().count("-->") >= 2
    # Recognised words are automatic captions: said so in the file name and the manifest, unsure words left out.
    assert result.captions_path.name == "captions.auto.srt"
    assert {p.name for p in result.job_dir.iterdir()} == {"video.mp4", "audio.wav", "captions.auto.srt", "manifest.json"}
    assert manifest["captions"]["file"] == "captions.auto.srt" and manifest["captions"]["automatic"] is True
    captions = manifest["speech"]["captions"]
    assert captions["source"] == "recognized" and captions["automatic"] is True and captions["hidden_words"] >= 1
    recognized = captions["recognized_text"].split()
    shown = " ".join(line for line in result.captions_path.read_text().splitlines()
                     if line and "-->" not in line and not line.isdigit()).split()
    assert "holidays" in recognized and len(shown) == len(recognized) - captions["hidden_words"]


def test_recording_with_transcript_captions_the_typed_words(fixtures, tmp_path):
    transcript = ("And sent back by politicians who have no medical education or background, "
                  "and who do not know the women that they're in")
    result = make_talking_video(fixtures / "obama_small.jpg", audio=fixtures / "RD_Radio34_002.wav",
                                transcript=transcript, options=TalkOptions(size=256, still=True),
                                job_dir=tmp_path / "job")
    assert result.mouth == result.manifest["speech"]["mouth"]["method"] == "transcript"
    captions = " ".join(line for line in result.captions_path.read_text().splitlines() if line and "-->" not in line
                        and not line.isdigit())
    assert captions == transcript
    assert result.captions_path.name == "captions.srt"  # a transcript gives exact captions
    assert result.manifest["speech"]["captions"] == {"source": "transcript", "automatic": False, "hidden_words": 0}
    assert result.manifest["captions"]["automatic"] is False


def test_still_mode_moves_only_mouth_jaw_and_eyes(fixtures, spoken, tmp_path):
    result = make_talking_video(fixtures / "obama.jpg", audio=spoken, options=TalkOptions(size=SIZE, still=True, blinks=False),
                                job_dir=tmp_path / "job")
    frames, _ = read_video(result.video_path)
    portrait = prepare_portrait(fixtures / "obama.jpg", SIZE)
    lm = portrait.face.landmarks
    # The forehead and hair above the brows must stay put when the head is still.
    brow_top = int(lm[17:27, 1].min())
    x0, x1 = int(lm[0, 0]), int(lm[16, 0])
    forehead = frames[:, max(0, brow_top - 40) : brow_top - 8, x0:x1].astype(np.float32)
    assert np.abs(forehead - forehead[0]).mean(axis=(1, 2, 3)).max() < 2.0


def test_default_avatar_with_sidecar_animates(tmp_path):
    from avatar.avatars import list_default_avatars

    avatar = list_default_avatars()[0]
    result = make_talking_video(avatar.image_path, audio=Speech(np.sin(np.arange(8000) / 8.0).astype(np.float32) * 0.3, 16000),
                                options=TalkOptions(size=256), job_dir=tmp_path / "job")
    assert result.video_path.is_file() and result.frames == 13


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"image": "no_face.png", "text": "Hello"}, NoFaceError, "No face was found"),
        ({"image": "corrupt.jpg", "text": "Hello"}, InputError, "Cannot read image corrupt.jpg"),
        ({"image": "obama.jpg", "text": "   "}, InputError, "text is empty"),
        ({"image": "obama.jpg", "text": "x" * 5001}, InputError, "5,001 characters"),
        ({"image": "obama.jpg", "audio": "corrupt.wav"}, InputError, "Cannot read audio corrupt.wav"),
        ({"image": "two_people.jpg", "text": "Hi", "face_index": 2}, InputError, "2 faces found"),
        ({"image": "obama.jpg"}, InputError, "either text"),
        ({"image": "obama.jpg", "text": "Hello", "transcript": "Hello"}, InputError, "only for an uploaded recording"),
        ({"image": "obama.jpg", "audio": "RD_Radio31_000.wav", "transcript": "  "}, InputError, "transcript is empty"),
        ({"image": "obama.jpg", "audio": "RD_Radio31_000.wav", "transcript": "word " * 1001}, InputError,
         "transcript has 5,004 characters"),
    ],
)
def test_bad_input_fails_clearly_and_leaves_nothing(fixtures, tmp_path, monkeypatch, kwargs, error, message):
    monkeypatch.setenv("AVATAR_OUTPUTS", str(tmp_path))
    image = fixtures / kwargs.pop("image")
    if "audio" in kwargs:
        kwargs["audio"] = fixtures / kwargs["audio"]
    with pytest.raises(error, match=message):
        make_talking_video(image, options=OPTIONS, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_silent_audio_is_refused(fixtures, tmp_path, monkeypatch):
    monkeypatch.setenv("AVATAR_OUTPUTS", str(tmp_path))
    with pytest.raises(InputError, match="silent"):
        make_talking_video(fixtures / "obama.jpg", audio=Speech(np.zeros(16000, np.float32), 16000), options=OPTIONS)
    assert list(tmp_path.iterdir()) == []


def test_check_recording_decodes_a_recording_as_the_job_would(fixtures, tmp_path):
    from avatar.talk.pipeline import check_recording

    speech = check_recording((fixtures / "RD_Radio31_000.wav").read_bytes(), name="take.wav")
    assert speech.duration > 1.0 and speech.phonemes is None
    with pytest.raises(InputError, match="^Cannot read audio corrupt.wav: the file is corrupt or not audio"):
        check_recording(fixtures / "corrupt.wav")
    with pytest.raises(InputError, match="not a supported audio type"):
        check_recording(fixtures / "obama.jpg")
    import wave

    with wave.open(str(tmp_path / "quiet.wav"), "wb") as handle:
        handle.setnchannels(1), handle.setsampwidth(2), handle.setframerate(8000)
        handle.writeframes(b"\0\0" * 8000)
    with pytest.raises(InputError, match="^The recording quiet.wav is silent; upload a recording with speech in it.$"):
        check_recording(tmp_path / "quiet.wav")


def test_render_failure_removes_the_job(fixtures, spoken, tmp_path, monkeypatch):
    monkeypatch.setenv("AVATAR_OUTPUTS", str(tmp_path))
    from avatar.talk.builtin import engine

    def broken(self, *args):
        yield np.zeros((2, 2, 3), np.uint8)
        raise RuntimeError("engine crashed")

    monkeypatch.setattr(engine.BuiltinEngine, "render", broken)
    with pytest.raises(Exception):
        make_talking_video(fixtures / "obama.jpg", audio=spoken, options=OPTIONS)
    assert list(tmp_path.iterdir()) == []
