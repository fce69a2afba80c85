"""The phoneme -> mouth shape table."""

from __future__ import annotations

import unicodedata

import pytest

from avatar.speech.piper_voice import load_voice
from avatar.talk.visemes import MOUTH_PARAMS, NEUTRAL, REST, VISEMES, MouthShape, viseme

OPEN_VOWELS = ["ɑ", "a", "æ"]
BILABIALS = ["m", "b", "p"]
CLOSE_VOWELS = ["i", "ɪ", "u", "ʊ"]


def test_open_vowels_open_more_than_everything_else():
    for vowel in OPEN_VOWELS:
        assert viseme(vowel).open >= 0.8
        for other in BILABIALS + CLOSE_VOWELS + ["s", "f", "t"]:
            assert viseme(vowel).open > viseme(other).open


@pytest.mark.parametrize("symbol", BILABIALS)
def test_bilabials_press_the_lips(symbol):
    shape = viseme(symbol)
    assert shape.closed == 1.0 and shape.open == 0.0 and shape.teeth == 0.0


@pytest.mark.parametrize("symbol", ["f", "v"])
def test_labiodentals_put_lip_to_teeth(symbol):
    shape = viseme(symbol)
    assert shape.teeth == 1.0 and shape.closed == 0.0 and shape.open < 0.15


@pytest.mark.parametrize("symbol", ["u", "o", "w"])
def test_rounded_sounds_round_the_lips(symbol):
    assert viseme(symbol).round >= 0.8
    assert viseme(symbol).round > viseme("i").round
    assert viseme("i").wide > viseme(symbol).wide


@pytest.mark.parametrize("symbol", [" ", "", ".", ",", "!", "?", "^", "$", "_"])
def test_silence_is_rest(symbol):
    assert viseme(symbol) == REST
    assert REST.as_array().tolist() == [0.0] * 5


def test_unknown_symbols_are_neutral_and_marks_are_ignored():
    assert viseme("☃") == NEUTRAL
    assert 0.0 < NEUTRAL.open < 0.5 and NEUTRAL.closed == 0.0
    assert viseme("ɑː") == viseme("ɑ")
    assert viseme("aɪ") == viseme("a")


def test_all_values_are_in_range_and_ordered_like_the_track():
    assert MOUTH_PARAMS == tuple(MouthShape.__dataclass_fields__)
    for symbol, shape in VISEMES.items():
        values = shape.as_array()
        assert values.shape == (5,)
        assert ((values >= 0.0) & (values <= 1.0)).all(), symbol


def test_table_covers_what_piper_says():
    """Every sound espeak produces for varied English text has its own row."""
    text = (
        "The quick brown fox jumps over the lazy dog. Judge my vow, she says: "
        "what a thousand happy voices sing! Measure the church bells and the thin hour, "
        "rather oily boys pursue their wild yellow kites. Uh-oh, the button butter bottle."
    )
    voice = load_voice()
    symbols = {s for sentence in voice.phonemize(text) for s in sentence}
    # Stress, length and combining marks are folded into neighbouring sounds by the timeline.
    marks = {s for s in symbols if s in "ˈˌːˑ" or unicodedata.combining(s)}
    sounds = {s for s in symbols - marks if viseme(s) != REST}
    missing = sorted(s for s in sounds if s not in VISEMES)
    assert not missing, f"no viseme for {missing}"
    assert len(sounds) >= 30
