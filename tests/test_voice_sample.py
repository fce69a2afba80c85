"""Voice samples are checked before any cloning: real speech passes, every bad kind is named in one sentence."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from avatar.errors import InputError
from avatar.media import load_audio, write_wav
from avatar.speech.timeline import Speech
from avatar.speech.voice_sample import MAX_SAMPLE_S, MIN_SAMPLE_S, check_voice_sample, sample_report


@pytest.fixture(scope="module")
def radio(fixtures) -> Speech:
    return load_audio(fixtures / "RD_Radio31_000.wav")


def _wav(tmp_path, name: str, samples: np.ndarray, rate: int = 16000):
    return write_wav(tmp_path / name, Speech(np.asarray(samples, np.float32), rate))


def _refused(path, *words: str) -> str:
    with pytest.raises(InputError) as caught:
        check_voice_sample(path)
    message = str(caught.value)
    assert all(word in message for word in words), message
    assert message.count(". ") == 0 and message.endswith("."), message  # one sentence
    assert "Traceback" not in message
    return message


def test_real_speech_passes_and_is_keyed_by_its_audio(fixtures, tmp_path):
    first = check_voice_sample(fixtures / "RD_Radio31_000.wav")
    assert first.name == "RD_Radio31_000.wav" and abs(first.duration - 8.0) < 0.01 and first.sample_rate == 16000
    report = sample_report(first)
    assert report["clipped"] < 0.01 and report["sound_s"] > 5 and 0 < report["flatness"] < 0.1
    renamed = tmp_path / "me.wav"
    renamed.write_bytes((fixtures / "RD_Radio31_000.wav").read_bytes())
    assert check_voice_sample(renamed).sha256 == first.sha256
    assert check_voice_sample(fixtures / "RD_Radio34_002.wav").sha256 != first.sha256


def test_length_is_checked(radio, tmp_path):
    short = _wav(tmp_path, "short.wav", radio.samples[: int(4 * radio.sample_rate)])
    _refused(short, "4.0 s long", f"{MIN_SAMPLE_S:.0f} to {MAX_SAMPLE_S:.0f} s")
    long = _wav(tmp_path, "long.wav", np.tile(radio.samples, 4))
    _refused(long, "32.0 s long")


def test_silence_is_refused(radio, tmp_path):
    _refused(_wav(tmp_path, "silent.wav", np.zeros(10 * 16000)), "silent")
    mostly = np.zeros(10 * 16000, np.float32)
    mostly[:16000] = radio.samples[16000:32000]
    _refused(_wav(tmp_path, "mostly.wav", mostly), "almost silent")


def test_clipping_is_refused(radio, tmp_path):
    _refused(_wav(tmp_path, "loud.wav", np.clip(radio.samples * 8, -1, 1)), "clipped", "microphone level")


def _notes(seed: int, seconds: float = 8.0, rate: int = 16000) -> np.ndarray:
    """Harmonic notes, one every half second, with a click at each onset (a simple tune on a beat)."""
    rng = np.random.default_rng(seed)
    step = int(0.5 * rate)
    out = np.zeros(int(seconds * rate))
    for k, semitone in enumerate(rng.integers(0, 24, len(out) // step)):
        t = np.arange(step) / rate
        f = 220 * 2 ** (semitone / 12)
        out[k * step:(k + 1) * step] = sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 6)) * np.exp(-3 * t)
        out[k * step:k * step + 200] += rng.standard_normal(200) * 0.5
    return 0.5 * out / np.abs(out).max()


def _melody(seed: int, seconds: float = 8.0, rate: int = 16000) -> np.ndarray:
    """A legato melody with vibrato: notes of 0.3 s, no pauses."""
    rng = np.random.default_rng(seed)
    step = int(0.3 * rate)
    out = np.zeros(int(seconds * rate))
    for k, semitone in enumerate(rng.integers(0, 24, len(out) // step)):
        t = np.arange(step) / rate
        f = 220 * 2 ** (semitone / 12) * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
        out[k * step:(k + 1) * step] = sum(np.sin(2 * np.pi * f * h * t) / h**1.5 for h in range(1, 8))
    return 0.5 * out / np.abs(out).max()


@pytest.mark.parametrize("make", [_notes, _melody], ids=["notes on a beat", "melody"])
@pytest.mark.parametrize("seed", [0, 1])
def test_music_is_refused(make, seed, tmp_path):
    _refused(_wav(tmp_path, "tune.wav", make(seed)), "music rather than speech")


def test_noise_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    _refused(_wav(tmp_path, "hiss.wav", 0.3 * rng.standard_normal(8 * 16000)), "noise rather than speech")
    pink = scipy.signal.lfilter([0.0499, -0.0960, 0.0506, -0.0044], [1, -2.4950, 2.0173, -0.5222],
                                rng.standard_normal(8 * 16000))
    _refused(_wav(tmp_path, "pink.wav", 0.5 * pink / np.abs(pink).max()), "noise rather than speech")


def test_noisy_speech_still_passes(radio, tmp_path):
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(len(radio.samples)) * radio.samples.std() * 10 ** (-10 / 20)
    check_voice_sample(_wav(tmp_path, "noisy.wav", radio.samples + noise))


def test_wrong_files_are_refused(fixtures, tmp_path):
    _refused(fixtures / "corrupt.wav", "Cannot read audio")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    _refused(text, "not a supported audio type")
