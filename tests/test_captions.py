"""Captions: grouping word timings into readable cues, and SRT output."""

from __future__ import annotations

import pytest

from avatar.captions import MIN_CUE_SECONDS, Cue, cues_from_words, ends_sentence, srt_text, write_srt
from avatar.speech.timeline import Word


def timed(text: str, start: float = 0.0, step: float = 0.3, pauses: dict[int, float] | None = None) -> list[Word]:
    """Words of `text` spoken one every `step` s (0.25 s each), with extra pauses before given word indexes."""
    words, t = [], start
    for i, token in enumerate(text.split()):
        t += (pauses or {}).get(i, 0.0)
        words.append(Word(token, t, t + 0.25))
        t += step
    return words


def spoken(cues: list[Cue]) -> list[str]:
    return " ".join(cue.text.replace("\n", " ") for cue in cues).split()


def test_sentences_end_cues():
    cues = cues_from_words(timed("Hello there. How are you today? Fine!"))
    assert [c.text for c in cues] == ["Hello there.", "How are you today?", "Fine!"]
    assert [c.index for c in cues] == [1, 2, 3]


def test_quotes_and_abbreviations_do_not_fool_sentence_ends():
    assert ends_sentence('"Stop!"') and ends_sentence("end.)")
    assert not ends_sentence("Dr.") and not ends_sentence("J.") and not ends_sentence("3.5")
    cues = cues_from_words(timed("Dr. J. Lee said hi. Then left."))
    assert [c.text for c in cues] == ["Dr. J. Lee said hi.", "Then left."]


def test_a_long_pause_starts_a_new_cue():
    cues = cues_from_words(timed("so we wait and then go on", pauses={3: 0.8}), gap=0.6)
    assert [c.text for c in cues] == ["so we wait", "and then go on"]


def test_long_speech_is_cut_into_two_line_cues_that_fit():
    text = ("The quick brown fox jumps over the lazy dog while the studio records every "
            "single word it says without stopping for breath at all because it never tires")
    cues = cues_from_words(timed(text, step=0.2), max_chars=30, max_seconds=100)
    assert spoken(cues) == text.split(), "every word once, in order"
    for cue in cues:
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 30 for line in lines)
    assert len(cues) > 1 and any("\n" in c.text for c in cues)


def test_two_lines_are_balanced():
    cues = cues_from_words(timed("one two three four five six seven eight nine ten"), max_chars=32, max_seconds=100)
    top, bottom = cues[0].text.split("\n")
    assert abs(len(top) - len(bottom)) <= 6


def test_cues_last_at_most_max_seconds():
    cues = cues_from_words(timed(" ".join(["word"] * 40), step=0.4), max_chars=200, max_seconds=3.0)
    assert len(cues) > 1
    assert all(c.end - c.start <= 3.0 for c in cues)


def test_cues_never_overlap_and_short_ones_are_stretched_when_there_is_room():
    words = [Word("Yes.", 0.0, 0.2), Word("No.", 1.0, 1.2), Word("Maybe.", 1.3, 1.6), Word("Bye", 1.7, 1.9)]
    cues = cues_from_words(words)
    assert [round(c.end - c.start, 3) for c in cues[:1]] == [MIN_CUE_SECONDS]  # room until 1.0
    assert cues[1].end == pytest.approx(1.3)  # stretched only up to the next cue
    for before, after in zip(cues, cues[1:]):
        assert before.end <= after.start


def test_overlapping_recogniser_timings_still_give_ordered_cues():
    words = [Word("first.", 0.0, 1.2), Word("second", 1.0, 1.5), Word("", 1.6, 1.7), Word("  third ", 1.55, 2.0)]
    cues = cues_from_words(words)
    assert [c.text for c in cues] == ["first.", "second third"]
    assert cues[0].end <= cues[1].start


def test_no_words_no_cues():
    assert cues_from_words([]) == []


def test_srt_text_format():
    cues = [Cue(1, 0.0, 1.5, "Hello.\nSecond line"), Cue(2, 3661.0004, 3662.9996, "Ünïcode ✓")]
    assert srt_text(cues) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello.\nSecond line\n\n"
        "2\n01:01:01,000 --> 01:01:03,000\nÜnïcode ✓\n\n"
    )


def test_srt_times_of_touching_cues_do_not_overlap():
    cues = cues_from_words([Word("a.", 0.0, 0.1), Word("b.", 0.1234, 0.2)])
    text = srt_text(cues)
    assert "00:00:00,000 --> 00:00:00,123" in text and "00:00:00,123 --> " in text


def test_write_srt_is_utf8_and_leaves_no_temp_file(tmp_path):
    path = write_srt(tmp_path / "captions.srt", [Cue(1, 0.0, 1.0, "Grüße, 世界")])
    assert path.read_bytes().decode("utf-8") == "1\n00:00:00,000 --> 00:00:01,000\nGrüße, 世界\n\n"
    assert [p.name for p in tmp_path.iterdir()] == ["captions.srt"]
