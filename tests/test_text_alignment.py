"""Aligning speech to its known text (`avatar.speech.text_alignment`), against Piper's exact timings.

The targets are the bundled voice speaking the text with another seed and rate
(and a pause inserted), so their true phoneme timeline is known to the sample
while their timing differs from the reference the aligner synthesizes. Bounds
come from benchmarks/alignment.py (mean boundary error 6-8 ms on such targets,
~10 ms over all its warps) with a wide margin.
"""

from __future__ import annotations

import numpy as np
import pytest

from avatar.errors import InputError
from avatar.speech import piper_voice, text_alignment as ta
from avatar.speech.piper_voice import PAUSE, synthesize
from avatar.speech.timeline import Phoneme, Speech

TEXT = "The quick brown fox jumps over the lazy dog. Then it runs back into the forest, happy and free."
SPANISH = "Hola, me llamo Juan y vivo en Madrid. Todos los días camino al trabajo."

MEAN_ERROR_MS = 25.0
P90_ERROR_MS = 50.0


def _with_pause(speech: Speech, seconds: float) -> Speech:
    """`speech` with `seconds` of silence inserted in the middle of its third word gap, timeline shifted."""
    gaps = [p for p in speech.phonemes[1:-1] if p.ipa == PAUSE]
    at = (gaps[2].start + gaps[2].end) / 2
    cut = int(round(at * speech.sample_rate))
    pad = int(round(seconds * speech.sample_rate))
    samples = np.concatenate([speech.samples[:cut], np.zeros(pad, np.float32), speech.samples[cut:]])
    shift = pad / speech.sample_rate

    def moved(t: float) -> float:
        return t + shift if t > at else t

    phonemes = [Phoneme(p.ipa, moved(p.start), moved(p.end)) for p in speech.phonemes]
    return Speech(samples, speech.sample_rate, phonemes, speech.words)


def _errors_ms(truth: list[Phoneme], got: list[Phoneme]) -> np.ndarray:
    assert [p.ipa for p in got] == [p.ipa for p in truth]
    return np.abs(np.array([p.start for p in got[1:]]) - np.array([p.start for p in truth[1:]])) * 1000


@pytest.fixture(scope="module")
def english():
    target = _with_pause(synthesize(TEXT, rate=1.25, seed=5), 0.4)
    result = ta.align_to_text(Speech(target.samples, target.sample_rate), TEXT, language="en")
    return target, result


def test_boundaries_within_measured_tolerance(english):
    target, result = english
    assert result.method == "dtw"
    errors = _errors_ms(target.phonemes, result.phonemes)
    assert errors.mean() < MEAN_ERROR_MS, errors.mean()
    assert np.percentile(errors, 90) < P90_ERROR_MS


def test_timeline_is_contiguous_over_the_whole_audio(english):
    target, result = english
    phonemes = result.phonemes
    assert phonemes[0].start == 0.0
    assert phonemes[-1].end == pytest.approx(len(target.samples) / target.sample_rate)
    for before, after in zip(phonemes, phonemes[1:]):
        assert after.start == before.end
    assert all(p.end > p.start for p in phonemes)


def test_words_are_the_written_words_in_order(english):
    target, result = english
    assert [w.text for w in result.words] == TEXT.split()
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert all(w.end >= w.start for w in result.words)
    # The inserted pause is not inside any word.
    truth = {w.text: w for w in target.words}
    assert abs(result.words[3].start - truth[result.words[3].text].start - 0.4) < 0.06


def test_same_input_same_alignment(english):
    target, result = english
    again = ta.align_to_text(Speech(target.samples, target.sample_rate), TEXT, language="en")
    assert again == result


def test_another_language():
    target = ta.reference_speech(SPANISH, "es", rate=0.8, seed=9)
    result = ta.align_to_text(Speech(target.samples, target.sample_rate), SPANISH, language="es")
    assert result.method == "dtw"
    errors = _errors_ms(target.phonemes, result.phonemes)
    assert errors.mean() < MEAN_ERROR_MS, errors.mean()
    assert [w.text for w in result.words] == SPANISH.split()


def test_every_language_phonemizes_to_symbols_the_voice_knows():
    id_map = piper_voice._language_engine("cs").voice.config.phoneme_id_map
    sentences = piper_voice._language_engine("cs").voice.phonemize("Jmenuji se Jiří.")
    assert sentences and all(symbol in id_map for sentence in sentences for symbol in sentence)
    for code in ta.ESPEAK_VOICES:
        assert piper_voice._language_engine(ta.ESPEAK_VOICES[code]).voice.phonemize("a")


def test_unknown_language_is_an_input_error():
    speech = Speech(np.zeros(16000, np.float32), 16000)
    with pytest.raises(InputError, match="language 'xx'"):
        ta.align_to_text(speech, "Hello.", language="xx")


def test_noise_falls_back_to_loudness():
    rng = np.random.default_rng(0)
    noise = Speech((0.3 * rng.standard_normal(22050 * 4)).astype(np.float32).clip(-1, 1), 22050)
    result = ta.align_to_text(noise, TEXT, language="en")
    assert result.method == "loudness"
    assert result.phonemes is None and result.words == []
    assert result.detail


def test_silence_falls_back_to_loudness():
    result = ta.align_to_text(Speech(np.zeros(22050, np.float32), 22050), TEXT)
    assert (result.method, result.phonemes) == ("loudness", None)


def test_dtw_path_is_monotone_and_finds_a_known_warp():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((50, 3))
    b = np.repeat(a, 2, axis=0)  # every frame held twice
    path, mean_cost = ta.dtw_path(ta._distances(a, b), penalty=0.0)
    assert mean_cost == pytest.approx(0.0, abs=1e-6)
    assert (np.diff(path, axis=0) >= 0).all() and (np.diff(path, axis=0).sum(axis=1) >= 1).all()
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (49, 99)
