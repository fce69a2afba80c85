"""Captions: grouping word timings into readable cues, and SRT output."""

from __future__ import annotations

import pytest

from avatar.captions import (AUTOMATIC_CAPTIONS_FILE, CAPTIONS_FILE, MIN_CUE_SECONDS, MIN_WORD_CONFIDENCE, Cue,
                             caption_entry, captions_file_name, captions_note, confident_words, cues_from_words,
                             ends_sentence, is_automatic, srt_text, write_srt)
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


# -- automatic captions: unsure recognised words are hidden --------------------------------------


def test_words_under_the_confidence_are_hidden():
    words = timed("the heart of my california district")
    confidences = [0.45, 0.39, 0.69, 0.75, 1.0, 0.05]
    kept, hidden = confident_words(words, confidences, threshold=0.5)
    assert [w.text for w in kept] == ["of", "my", "california"] and hidden == 3
    assert kept[0] is words[2]  # timings untouched
    assert confident_words(words, confidences, threshold=0.0) == (words, 0)
    assert confident_words(words, [])[1] == 0  # no confidences: typed words, all kept
    with pytest.raises(ValueError):
        confident_words(words, [1.0])


def test_a_cue_made_only_of_hidden_words_disappears():
    words = timed("Holidays are here. melinda was back. But for many", pauses={3: 1.0, 6: 1.0})
    confidences = [0.95, 0.9, 0.8, 0.02, 0.17, 0.11, 0.6, 0.8, 0.9]
    assert len(cues_from_words(words)) == 3
    kept, entry = caption_entry("recognized", words, confidences)
    cues = cues_from_words(kept)
    assert [c.text for c in cues] == ["Holidays are here.", "But for many"]
    assert entry == {"source": "recognized", "automatic": True, "hidden_words": 3, "min_confidence": MIN_WORD_CONFIDENCE,
                     "recognized_text": "Holidays are here. melinda was back. But for many"}


def test_the_threshold_hides_the_wrong_words_of_real_recordings():
    """Posteriors pocketsphinx gave wrong words on the real recordings (see MIN_WORD_CONFIDENCE) are hidden; the
    right ones it was sure of are kept."""
    assert all(p < MIN_WORD_CONFIDENCE for p in (0.01, 0.02, 0.05, 0.06, 0.09, 0.17, 0.25, 0.29, 0.35))
    assert all(p >= MIN_WORD_CONFIDENCE for p in (0.55, 0.69, 0.85, 0.99))


def test_typed_words_give_exact_captions_named_captions_srt():
    words = timed("Hello there, how are you?")
    for source in ("text", "transcript"):
        kept, entry = caption_entry(source, words, [0.0] * len(words))  # confidences are ignored for typed words
        assert kept == words and entry == {"source": source, "automatic": False, "hidden_words": 0}
        assert not is_automatic(entry) and captions_note(entry) == ""
    assert captions_file_name(False) == CAPTIONS_FILE == "captions.srt"
    assert captions_file_name(True) == AUTOMATIC_CAPTIONS_FILE == "captions.auto.srt"
    with pytest.raises(ValueError):
        caption_entry("guessed", words)


def test_the_note_says_captions_are_automatic_and_what_was_left_out():
    words = timed("one two three")
    _, sure = caption_entry("recognized", words, [0.9, 0.9, 0.9])
    _, some = caption_entry("recognized", words, [0.9, 0.1, 0.9])
    _, none = caption_entry("recognized", words, [0.1, 0.1, 0.1])
    assert captions_note(sure) == "Automatic captions: recognised from the recording, check them."
    assert captions_note(some) == "Automatic captions: recognised from the recording, check them (1 unsure word left out)."
    assert "unsure of every word, so none are shown" in captions_note(none)
