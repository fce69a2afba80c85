"""Voice samples are checked before any cloning: real speech passes, every bad kind is refused in one sentence."""

from __future__ import annotations

import io

import numpy as np
import pytest

from avatar.errors import InputError
from avatar.media import load_audio, write_wav
from avatar.speech.timeline import Speech
from avatar.speech.voice_sample import (
    MAX_SAMPLE_S,
    MIN_SAMPLE_S,
    VoiceSample,
    check_voice_sample,
    sample_report,
)

RATE = 16000


@pytest.fixture(scope="module")
def radio(fixtures) -> np.ndarray:
    return load_audio(fixtures / "RD_Radio31_000.wav").samples


@pytest.fixture(scope="module")
def radio2(fixtures) -> np.ndarray:
    return load_audio(fixtures / "RD_Radio34_002.wav").samples


def _wav(tmp_path, name: str, samples: np.ndarray, rate: int = RATE):
    return write_wav(tmp_path / name, Speech(np.asarray(samples, np.float32), rate))


def _refused(source, *words: str) -> str:
    with pytest.raises(InputError) as caught:
        check_voice_sample(source)
    message = str(caught.value)
    assert all(word in message for word in words), message
    # One sentence: a capital letter, one full stop at the very end, no line breaks.
    assert message[0].isupper() and message.endswith(".") and "\n" not in message, message
    assert message.count(". ") == 0 and "Traceback" not in message, message
    return message


def test_real_speech_passes(fixtures):
    for name in ("RD_Radio31_000.wav", "RD_Radio34_002.wav"):
        sample = check_voice_sample(fixtures / name)
        assert isinstance(sample, VoiceSample) and sample.name == name
        assert sample.sample_rate == RATE and abs(sample.duration - 8.0) < 0.01
        assert sample.samples.dtype == np.float32 and sample.samples.ndim == 1
        report = sample_report(sample)
        assert set(report) == {"speech_s", "clipped", "flatness", "modulation", "held"}
        assert report["speech_s"] > 5 and report["clipped"] < 0.01 and report["held"] == 0


def test_bytes_and_file_objects_are_accepted(fixtures):
    data = (fixtures / "RD_Radio34_002.wav").read_bytes()
    from_bytes = check_voice_sample(data, name="upload.wav")
    upload = io.BytesIO(data)
    upload.name = "other.wav"
    from_file = check_voice_sample(upload)
    assert (from_bytes.name, from_file.name) == ("upload.wav", "other.wav")
    assert from_bytes.sha256 == from_file.sha256


def test_same_audio_same_key_whatever_the_name(fixtures, tmp_path, radio):
    first = check_voice_sample(fixtures / "RD_Radio31_000.wav")
    renamed = tmp_path / "my voice.wav"
    renamed.write_bytes((fixtures / "RD_Radio31_000.wav").read_bytes())
    again = check_voice_sample(renamed)
    assert again.sha256 == first.sha256 and again.name == "my voice.wav" and len(first.sha256) == 64
    assert check_voice_sample(fixtures / "RD_Radio34_002.wav").sha256 != first.sha256
    # The same samples written to two new files (two names, separate writes) share one key.
    copies = [check_voice_sample(_wav(tmp_path, name, radio)) for name in ("a.wav", "b.wav")]
    assert copies[0].sha256 == copies[1].sha256 and copies[0].name != copies[1].name


def test_length_is_checked(radio, radio2, tmp_path):
    message = _refused(_wav(tmp_path, "short.wav", radio[: int(4 * RATE)]), "short.wav is 4.0 s long",
                       f"record {MIN_SAMPLE_S:.0f} to {MAX_SAMPLE_S:.0f} s of one person speaking")
    assert message.startswith("The voice sample")
    long = np.concatenate([radio, radio2, radio, radio2])  # 32 s of real speech
    _refused(_wav(tmp_path, "long.wav", long), "32.0 s long")
    # Just inside the limits passes: 6.5 s and 24 s of the same speech.
    check_voice_sample(_wav(tmp_path, "cut.wav", radio[: int(6.5 * RATE)]))
    check_voice_sample(_wav(tmp_path, "three.wav", np.concatenate([radio, radio2, radio])))


def test_silence_is_refused(radio, tmp_path):
    _refused(_wav(tmp_path, "silent.wav", np.zeros(10 * RATE)), "is silent")
    mostly = np.zeros(10 * RATE, np.float32)
    mostly[RATE: 2 * RATE] = radio[RATE: 2 * RATE]  # one second of speech in ten
    _refused(_wav(tmp_path, "mostly.wav", mostly), "almost silent")


def test_clipping_is_refused(radio, tmp_path):
    _refused(_wav(tmp_path, "loud.wav", np.clip(radio * 8, -1, 1)), "is clipped", "microphone level lower")


def _notes_on_a_beat(seed: int, seconds: float = 8.0) -> np.ndarray:
    """Plucked harmonic notes every eighth at 120 bpm, with a noise burst (a hat) on each."""
    rng = np.random.default_rng(seed)
    step = RATE // 4
    out = np.zeros(int(seconds * RATE))
    t = np.arange(step) / RATE
    for k, semitone in enumerate(rng.integers(0, 19, len(out) // step)):
        f = 196 * 2 ** (semitone / 12)
        out[k * step:(k + 1) * step] = sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 7)) * np.exp(-4 * t)
        out[k * step:k * step + 400] += 0.3 * rng.standard_normal(400) * np.exp(-np.arange(400) / 80)
    return 0.5 * out / np.abs(out).max()


def _melody(seed: int, seconds: float = 8.0) -> np.ndarray:
    """A legato melody with 5.5 Hz vibrato, notes of 0.2-0.6 s, no gaps."""
    rng = np.random.default_rng(seed)
    pitch = np.zeros(int(seconds * RATE))
    start = 0
    while start < len(pitch):
        end = start + int(rng.uniform(0.2, 0.6) * RATE)
        pitch[start:end] = 220 * 2 ** (rng.integers(0, 15) / 12)
        start = end
    t = np.arange(len(pitch)) / RATE
    phase = 2 * np.pi * np.cumsum(pitch * (1 + 0.012 * np.sin(2 * np.pi * 5.5 * t))) / RATE
    out = sum(np.sin(h * phase) / h**1.3 for h in range(1, 10))
    return 0.5 * out / np.abs(out).max()


def _pad(seed: int, seconds: float = 8.0) -> np.ndarray:
    """A sustained chord of detuned harmonic voices with a slow swell."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    root = 110 * 2 ** (rng.integers(0, 12) / 12)
    out = sum(np.sin(2 * np.pi * root * 2 ** (s / 12) * (1 + d) * h * t) / h**1.5
              for s in (0, 7, 12, 16) for d in (-0.003, 0.003) for h in range(1, 11))
    out *= 0.7 + 0.3 * np.sin(2 * np.pi * 0.2 * t)
    return 0.5 * out / np.abs(out).max()


@pytest.mark.parametrize("make", [_notes_on_a_beat, _melody, _pad], ids=["notes on a beat", "melody", "pad"])
@pytest.mark.parametrize("seed", [0, 1])
def test_music_is_refused(make, seed, tmp_path):
    _refused(_wav(tmp_path, "tune.wav", make(seed)), "tune.wav sounds like music rather than speech", "no music")


def test_noise_is_refused(tmp_path):
    hiss = 0.3 * np.random.default_rng(0).standard_normal(8 * RATE)
    _refused(_wav(tmp_path, "hiss.wav", np.clip(hiss, -0.95, 0.95)), "noise rather than speech")


def test_noisy_speech_still_passes(radio, tmp_path):
    noise = np.random.default_rng(1).standard_normal(len(radio)) * radio.std() * 10 ** (-10 / 20)
    check_voice_sample(_wav(tmp_path, "noisy.wav", radio + noise))


def test_other_rates_measure_alike(radio, tmp_path):
    """The features are taken at 16 kHz, so the same speech at 44.1 kHz passes too."""
    from scipy.signal import resample_poly

    sample = check_voice_sample(_wav(tmp_path, "cd.wav", resample_poly(radio, 441, 160) * 0.9, rate=44100))
    assert sample.sample_rate == 44100 and abs(sample.duration - 8.0) < 0.01


def test_wrong_files_are_refused(fixtures, tmp_path):
    _refused(fixtures / "corrupt.wav", "Cannot read audio", "corrupt.wav")
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not audio")
    _refused(text, "notes.txt is not a supported audio type")
    _refused(tmp_path / "missing.wav", "does not exist")


def test_checks_are_deterministic(radio2, tmp_path):
    path = _wav(tmp_path, "again.wav", radio2)
    first, second = check_voice_sample(path), check_voice_sample(path)
    assert first.sha256 == second.sha256 and sample_report(first) == sample_report(second)
