"""The bundled Piper voice and its phoneme timeline, with real synthesis."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.errors import InputError
from avatar.speech.piper_voice import (
    MAX_TEXT_CHARS,
    PARAGRAPH_PAUSE_S,
    PAUSE,
    _timeline,
    phoneme_string,
    synthesize,
)
from avatar.speech.text import check_text, split_paragraphs, split_sentences


def _assert_contiguous(speech) -> None:
    phonemes = speech.phonemes
    assert phonemes, "no phoneme timeline"
    assert phonemes[0].start == 0.0
    for before, after in zip(phonemes, phonemes[1:]):
        assert before.end > before.start
        assert after.start == pytest.approx(before.end, abs=1e-9)
    assert abs(phonemes[-1].end - speech.duration) < 0.003


def test_hello_world_has_sample_exact_timeline():
    speech = synthesize("Hello world.")

    assert speech.sample_rate == 22050
    assert speech.samples.dtype == np.float32 and speech.samples.ndim == 1
    assert 0.4 < speech.duration < 2.0
    assert np.max(np.abs(speech.samples)) <= 1.0
    _assert_contiguous(speech)
    # Boundaries fall on whole samples.
    for phoneme in speech.phonemes:
        assert phoneme.start * 22050 == pytest.approx(round(phoneme.start * 22050), abs=1e-6)

    symbols = [p.ipa for p in speech.phonemes]
    assert {"h", "l", "w", "d"} <= set(symbols)
    assert not {"ˈ", "ˌ", "ː", "^", "$", ".", ","} & set(symbols)
    assert symbols[0] == PAUSE and symbols[-1] == PAUSE  # sentence edges are silence
    assert " " in phoneme_string(speech.phonemes)  # the gap between the two words


def test_faster_rate_gives_shorter_audio():
    text = "Speaking faster makes the sentence shorter."
    normal = synthesize(text, rate=1.0)
    fast = synthesize(text, rate=1.5)
    slow = synthesize(text, rate=0.5)
    assert fast.duration < normal.duration < slow.duration
    _assert_contiguous(fast)
    _assert_contiguous(slow)


def test_paragraphs_report_progress_and_pause_between_them():
    calls = []
    text = "First paragraph, one sentence.\n\nSecond paragraph. It has two sentences."
    speech = synthesize(text, progress=lambda stage, fraction: calls.append((stage, fraction)))

    assert {stage for stage, _ in calls} == {"voice"}
    fractions = [fraction for _, fraction in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and len(fractions) >= 3
    _assert_contiguous(speech)
    longest_pause = max(p.end - p.start for p in speech.phonemes if p.ipa == PAUSE)
    assert longest_pause >= PARAGRAPH_PAUSE_S


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_is_refused(text):
    with pytest.raises(InputError, match="The text is empty"):
        synthesize(text)


def test_too_long_text_names_limit_and_length():
    assert MAX_TEXT_CHARS == 5000
    text = "word " * 1201  # 6,004 characters after stripping the last space
    with pytest.raises(InputError) as error:
        synthesize(text)
    message = str(error.value)
    assert "5,000" in message and "6,004" in message


def test_text_at_the_limit_is_accepted_by_the_check():
    assert len(check_text("a" * MAX_TEXT_CHARS)) == MAX_TEXT_CHARS


@pytest.mark.parametrize("rate", [0.3, 2.5, float("nan"), "fast"])
def test_bad_rate_is_refused(rate):
    with pytest.raises(InputError, match="rate"):
        synthesize("Hello.", rate=rate)


@pytest.mark.parametrize("text", ["...", " ??? -- "])
def test_text_without_anything_to_say_is_refused(text):
    with pytest.raises(InputError, match="nothing the voice can speak"):
        synthesize(text)


def test_timeline_folds_marks_into_sounds():
    sr = 100  # one sample = 10 ms keeps the arithmetic readable
    alignments = [
        ("^", 3), ("h", 5), ("ˈ", 4), ("ɑ", 6), ("ː", 2), (" ", 3), (",", 2),
        ("m", 5), ("ˌ", 1), ("i", 4), (".", 6), ("$", 3),
    ]
    timeline = [(p.ipa, round(p.start * sr), round(p.end * sr)) for p in _timeline(alignments, sr)]
    assert timeline == [
        (PAUSE, 0, 3),
        ("h", 3, 8),
        ("ɑ", 8, 20),  # stress time before it, length mark after it
        (PAUSE, 20, 25),  # space and comma merged
        ("m", 25, 30),
        ("i", 30, 35),
        (PAUSE, 35, 44),
    ]
    total = sum(count for _, count in alignments)
    assert timeline[-1][2] == total


def test_split_text_into_paragraphs_and_sentence_groups():
    text = "One line\ncontinues here.\n\n\n  Next paragraph!  "
    assert split_paragraphs(text) == ["One line continues here.", "Next paragraph!"]

    paragraph = 'She said "stop." He stopped! Why? Nobody knows.'
    assert split_sentences(paragraph, piece_chars=1) == ['She said "stop."', "He stopped!", "Why?", "Nobody knows."]
    pieces = split_sentences(paragraph, piece_chars=30)
    assert " ".join(pieces) == paragraph
    assert all(len(piece) <= 30 for piece in pieces)
    assert len(pieces) == 2

