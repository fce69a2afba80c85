"""The voice in a video as a voice sample (`avatar dub --clone-from-video`): the stretch chosen, the checks, a dub."""

from __future__ import annotations

import os

import numpy as np
import pytest

from avatar.errors import InputError
from avatar.speech.timeline import Speech
from avatar.video.io import open_video
from avatar.video.video_voice import best_stretch, voice_sample_from_video
from tests.conftest import coqui_missing
from tests.dub_clips import speaking_clip

RATE = 16000


def _noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * RATE))).astype(np.float32)


def test_the_stretch_with_the_most_sound_is_chosen():
    samples = np.zeros(60 * RATE, np.float32)
    samples[40 * RATE:52 * RATE] = _noise(12)
    start, end = best_stretch(Speech(samples, RATE))
    assert end - start == 30 * RATE
    assert start <= 40 * RATE and end >= 52 * RATE


def test_a_video_without_usable_sound_is_refused_in_one_sentence():
    with pytest.raises(InputError, match="has no sound"):
        voice_sample_from_video(None, "talk.mp4")
    with pytest.raises(InputError, match=r"3\.0 s long.*at least 6 s"):
        voice_sample_from_video(Speech(_noise(3), RATE), "talk.mp4")
    with pytest.raises(InputError, match="cannot be copied: its clearest stretch of speech is silent; give a voice"):
        voice_sample_from_video(Speech(np.zeros(10 * RATE, np.float32), RATE), "talk.mp4")
    with pytest.raises(InputError, match="cannot be copied: .* noise rather than speech; give a voice sample"):
        voice_sample_from_video(Speech(_noise(10), RATE), "talk.mp4")


def test_a_real_speakers_video_gives_a_sample(fixtures):
    with open_video(fixtures / "real_talk" / "woman_blue.mp4") as clip:
        sample = voice_sample_from_video(clip.audio(), clip.info.name)
    assert 6.0 <= sample.duration <= 30.0


@pytest.fixture(scope="module")
def speaking_video(tmp_path_factory):
    return speaking_clip(tmp_path_factory.mktemp("clone") / "speaker.mp4")


@pytest.mark.skipif(bool(coqui_missing()) and os.environ.get("CI") != "true", reason="needs coqui-tts")
def test_the_dub_speaks_in_the_voice_of_the_video(tiny_coqui_models, speaking_video, tmp_path, capsys, monkeypatch):
    from avatar.cli import main
    from avatar.video.io import Video

    for model_id, folder in tiny_coqui_models.items():
        assert main(["models", "import", model_id, str(folder)]) == 0
    decoded = []
    original = Video.audio
    monkeypatch.setattr(Video, "audio", lambda self: decoded.append(self.path) or original(self))
    out = tmp_path / "dubbed.mp4"
    assert main(["dub", "--video", str(speaking_video), "--text", "Hola a todos.", "--clone-from-video",
                 "--language", "es", "--fit", "trim", "-o", str(out)]) == 0
    assert out.is_file() and open_video(out).info.has_audio
    # Checked at submit (its own copy), then dubbed: the sample and the kept pauses share one decoding.
    assert len(decoded) == len(set(decoded)) == 2
    with pytest.raises(SystemExit):
        main(["dub", "--video", str(speaking_video), "--audio", str(tmp_path / "x.wav"), "--text", "Hi."])
    capsys.readouterr()
    assert main(["dub", "--video", str(speaking_video), "--text", "Hi.", "--clone-from-video", "--voice-sample",
                 str(speaking_video)]) == 2
    assert "not both" in capsys.readouterr().err
