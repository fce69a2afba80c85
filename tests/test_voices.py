"""Voices behind one interface: the table, the declared settings, and a voice the pipeline has never heard of."""

from __future__ import annotations

import time
from typing import Iterator

import numpy as np
import pytest

from avatar.errors import InputError, ModelNotInstalled
from avatar.media import write_wav
from avatar.models.catalog import get_spec
from avatar.options import from_params, json_schema
from avatar.speech.timeline import Phoneme, SpeechChunk, Word
from avatar.speech.voice import Voice, join_chunks, mouth_of
from avatar.speech.voices import (DEFAULT_CLONING_VOICE, DEFAULT_VOICE, VOICE_SPECS, VOICES, VoiceOptions,
                                  cloning_names, get_voice, list_voices)
from avatar.talk.pipeline import check_voice, make_talking_video, prepare_speech


# --- the table and the declared settings -----------------------------------------------------


def test_the_table_names_each_voice_once_and_the_bundled_voice_is_the_default():
    assert list(VOICES)[0] == DEFAULT_VOICE == VoiceOptions().voice == VOICE_SPECS["voice"].default
    assert VOICES[DEFAULT_VOICE].model_id is None and not VOICES[DEFAULT_VOICE].needs_sample
    assert DEFAULT_CLONING_VOICE in cloning_names() and set(cloning_names()) == set(VOICES) - {DEFAULT_VOICE}
    for name, voice in VOICES.items():
        assert isinstance(voice, Voice) and voice.name == name and voice.title and voice.languages
        if voice.needs_sample:
            assert voice.model_id == name and get_spec(name).name == voice.title
    assert [info.name for info in list_voices()] == list(VOICES)
    with pytest.raises(InputError, match=r"Unknown voice 'nobody'; choose one of: " + ", ".join(VOICES)):
        get_voice("nobody")


def test_voice_settings_are_declared_once():
    assert VoiceOptions() == VoiceOptions(voice=DEFAULT_VOICE, language="en", rate=1.0)
    assert from_params(VoiceOptions, {"rate": "1.5"}).rate == 1.5
    with pytest.raises(InputError, match="The speaking rate must be from 0.5 to 2, not 3"):
        from_params(VoiceOptions, {"rate": 3})
    schema = json_schema(VoiceOptions)["properties"]
    assert schema["voice"]["enum"] == list(VOICES) and schema["rate"]["maximum"] == 2.0
    assert "voice_sample" not in schema and VoiceOptions.SAMPLE == "voice_sample"
    with pytest.raises(InputError, match="The speaking rate must be from 0.5 to 2, not 0.1"):
        VoiceOptions(rate=0.1).validate()
    with pytest.raises(InputError, match="English only"):
        VoiceOptions(language="de").validate()


def test_check_voice_uses_the_table_and_the_declaration():
    assert check_voice() is None
    with pytest.raises(InputError, match="Unknown voice"):
        check_voice("nobody")
    with pytest.raises(InputError, match="speaking rate"):
        check_voice(rate=2.5)
    with pytest.raises(InputError, match="voice sample"):
        check_voice(DEFAULT_CLONING_VOICE)
    with pytest.raises(InputError, match="takes no voice sample"):
        check_voice(DEFAULT_VOICE, b"not a sample")
    with pytest.raises(InputError, match="only used to speak typed text"):
        check_voice(DEFAULT_CLONING_VOICE, b"sample", typed=False)


def test_a_cloning_voice_names_what_is_missing_before_any_work(monkeypatch):
    monkeypatch.setattr("avatar.speech.cloned_voice.coqui_installed", lambda: True)
    with pytest.raises(ModelNotInstalled, match=f"avatar models pull {DEFAULT_CLONING_VOICE}"):
        get_voice(DEFAULT_CLONING_VOICE).check_ready("en")
    get_voice(DEFAULT_VOICE).check_ready("en")  # nothing to install


# --- a voice the pipeline has never heard of --------------------------------------------------


class ToneVoice(Voice):
    """Speaks each sentence as a hum, one "a" per word, timed by itself: a voice no other code knows."""

    name = "tone"
    title = "Test tone"
    languages = ("xx",)
    sample_rate = 16000

    def __init__(self) -> None:
        self.calls: list[str] = []

    def check_ready(self, language: str, registry=None) -> None:
        self.calls.append("check_ready")
        super().check_ready(language, registry)

    def load(self, threads: int = 0) -> None:
        self.calls.append("load")

    def speak(self, text: str, *, language: str = "xx", rate: float = 1.0, seed: int = 0, sample=None,
              progress=None, threads: int = 0) -> Iterator[SpeechChunk]:
        self.check(language, sample)
        sentences = [s.strip() + "." for s in text.split(".") if s.strip()]
        return self._stream(sentences, rate, seed)

    def _stream(self, sentences: list[str], rate: float, seed: int) -> Iterator[SpeechChunk]:
        position = 0
        rng = np.random.default_rng(seed)
        for sentence in sentences:
            self.calls.append(f"speak {sentence}")
            words = sentence.split()
            step = int(0.3 * self.sample_rate / rate)
            t = np.arange(step * len(words)) / self.sample_rate
            samples = (0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * rng.random())).astype(np.float32)
            timed = [Word(w, (position + i * step) / self.sample_rate, (position + (i + 1) * step) / self.sample_rate)
                     for i, w in enumerate(words)]
            phonemes = [Phoneme("a", w.start, w.end) for w in timed]
            yield SpeechChunk(samples, position, self.sample_rate, phonemes, timed, method="tone")
            position += len(samples)


@pytest.fixture
def tone(monkeypatch) -> ToneVoice:
    voice = ToneVoice()
    monkeypatch.setitem(VOICES, voice.name, voice)
    return voice


TONE_TEXT = "Hum a little tune. Then hum another one."


def test_a_new_voice_speaks_through_the_pipeline_end_to_end(tone, fixtures, tmp_path):
    result = make_talking_video(fixtures / "obama_small.jpg", text=TONE_TEXT, voice="tone", language="xx",
                                rate=1.5, job_dir=tmp_path / "job")
    speech = result.manifest["speech"]
    assert speech["voice"] == "tone" and speech["language"] == "xx" and speech["rate"] == 1.5
    assert speech["sample_rate"] == ToneVoice.sample_rate and result.mouth == speech["mouth"]["method"] == "tone"
    assert tone.calls[:2] == ["check_ready", "load"]
    assert tone.calls[2:] == ["speak Hum a little tune.", "speak Then hum another one."]

    expected = join_chunks(ToneVoice().speak(TONE_TEXT, language="xx", rate=1.5))
    write_wav(tmp_path / "expected.wav", expected)
    assert result.audio_path.read_bytes() == (tmp_path / "expected.wav").read_bytes()
    assert result.frames > 0 and abs(result.duration - expected.duration) < 1e-9
    captions = result.captions_path.read_text(encoding="utf-8")
    assert "Hum a little tune." in captions and "Then hum another one." in captions


def test_a_new_voice_is_checked_like_every_voice(tone, fixtures, tmp_path):
    speech, entry = prepare_speech(text=TONE_TEXT, voice="tone", language="xx", seed=3)
    again = join_chunks(ToneVoice().speak(TONE_TEXT, language="xx", seed=3))
    assert speech.samples.tobytes() == again.samples.tobytes() and speech.phonemes == again.phonemes
    assert entry["mouth"] == mouth_of(list(ToneVoice().speak(TONE_TEXT, language="xx"))) == {"method": "tone"}
    tone.calls.clear()
    with pytest.raises(InputError, match="The tone voice does not speak 'en'; choose one of: xx"):
        make_talking_video(fixtures / "obama_small.jpg", text=TONE_TEXT, voice="tone", job_dir=tmp_path / "job")
    assert not (tmp_path / "job").exists() and tone.calls == []
    with pytest.raises(InputError, match="takes no voice sample"):
        prepare_speech(text=TONE_TEXT, voice="tone", language="xx", voice_sample=b"a sample")


def test_mouth_of_a_stream_with_an_untimed_sentence_is_loudness():
    rate = 100
    timed = SpeechChunk(np.zeros(10, np.float32), 0, rate, [Phoneme("a", 0.0, 0.1)], method="dtw")
    gap = SpeechChunk(np.zeros(5, np.float32), 10, rate, [Phoneme(" ", 0.1, 0.15)], method="")
    untimed = SpeechChunk(np.zeros(10, np.float32), 15, rate, None, method="loudness", reason="too noisy")
    assert mouth_of([timed, gap]) == {"method": "dtw"}
    assert mouth_of([timed, gap, untimed]) == {"method": "loudness", "reason": "too noisy"}
    assert join_chunks([timed, gap, untimed]).phonemes is None
    assert join_chunks([timed, gap]).phonemes == [Phoneme("a", 0.0, 0.1), Phoneme(" ", 0.1, 0.15)]


def test_the_voice_module_is_cheap_to_import():
    import subprocess
    import sys

    code = ("import sys; import avatar.speech.voices; "
            "print(any(m in sys.modules for m in ('torch', 'TTS', 'onnxruntime', 'piper')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_the_voice_chooses_the_queue_with_the_engine(tone, monkeypatch):
    from avatar.service.kinds import get_kind

    talk = get_kind("talk")
    params = {"text": TONE_TEXT, "avatar": "maya", "voice": "tone", "language": "xx"}
    assert talk.check(params, {}) == "cpu"  # a voice without a learned model, the built-in engine
    monkeypatch.setattr(tone, "model_id", "a-learned-voice")
    assert talk.check(params, {}) == "gpu"
    assert [get_voice(name).queue for name in (DEFAULT_VOICE, DEFAULT_CLONING_VOICE)] == ["cpu", "gpu"]


class EnglishTone(ToneVoice):
    """The tone voice, taken for English too, so that a live session (which speaks English) accepts it."""

    name = "tone-en"
    languages = ("en", "xx")


@pytest.mark.parametrize("quick", [False, True])
def test_a_live_session_loads_its_voice_and_warms_up_only_a_quick_one(quick, monkeypatch):
    from avatar.live.session import WARM_UP_TEXT, LiveSettings, open_session

    voice = EnglishTone()
    voice.quick = quick
    monkeypatch.setitem(VOICES, voice.name, voice)
    with open_session("maya", LiveSettings(voice=voice.name)) as session:
        deadline = time.monotonic() + 30
        while "load" not in voice.calls or (quick and len(voice.calls) < 3):
            assert time.monotonic() < deadline, voice.calls
            time.sleep(0.02)
        time.sleep(0.2)  # a warm-up that should not come would have started by now
        assert session.voice is voice
    warm_up = [f"speak {WARM_UP_TEXT}"] if quick else []
    assert voice.calls == ["check_ready", "load", *warm_up]
