"""Captions from word timings: readable cues, SRT text and files.

A cue holds at most two lines of at most `max_chars` characters (the common
broadcast limit is 42) and lasts at most `max_seconds`. Cues end at sentence ends
and at pauses, so a caption never runs across a silence or into the next thought;
two lines rather than one because a talking avatar speaks about 15 characters a
second, so one 42-character line would change every 2-3 seconds and be hard to
follow. The lines of a cue are balanced, which reads more easily than a full
line over a stub.

Captions made from recognised words are *automatic*: they are said to be so (the
file is `captions.auto.srt`, the manifest says `"automatic": true`) and words the
recogniser was unsure of are left out (`confident_words`). Captions from typed
text or a typed transcript are exact and named `captions.srt`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from avatar.speech.timeline import Word

MIN_CUE_SECONDS = 0.5  # shorter flashes cannot be read; kept when the next cue allows
_SENTENCE_END = (".", "!", "?", "…")
_CLOSERS = "\"'”’)]»"
# Words ending in "." that rarely end a sentence; keeps "Dr. Lee" in one cue.
_ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "mt.", "jr.", "sr.", "vs.", "etc.", "e.g.", "i.e."}

MIN_WORD_CONFIDENCE = 0.5
"""Recognised words whose posterior is below this are not shown as captions.

Chosen on the real recordings at hand: the two RD_Radio fixtures and the sound of
the four real_talk clips (110 recognised words), each recognised word checked
against what the sentence around it must say. The 20 wrong or doubtful words
("melinda was", "send it", "sign at him", "in my life", "his laces", "ringing"
for "bringing") had posteriors of 0.01-0.35 but one; every word between 0.36 and
0.85 was right. 0.5 leaves a margin above the highest wrong word and hides 19 of
the 20, at the cost of 27 of the 90 right ones (mostly short words such as "of",
"i", "when"): a missing word is a smaller harm than a wrong one. A wrong word the
recogniser is sure of (one clip's last, cut-off word, at 1.00) cannot be caught
this way; that is why such captions are marked automatic.
"""
CAPTIONS_FILE = "captions.srt"
AUTOMATIC_CAPTIONS_FILE = "captions.auto.srt"
CAPTION_SOURCES = {
    "text": "the typed text",
    "transcript": "the typed transcript",
    "recognized": "words recognised from the recording",
}
"""Where a video's caption words come from (the manifest's captions.source)."""


@dataclass(frozen=True)
class Cue:
    """One caption: 1-based index, times in seconds, text with "\\n" between its lines."""

    index: int
    start: float
    end: float
    text: str


def confident_words(
    words: Sequence[Word], confidences: Sequence[float], threshold: float = MIN_WORD_CONFIDENCE
) -> tuple[list[Word], int]:
    """The words to show as captions and how many were hidden: those whose confidence is below `threshold`.

    `confidences` runs alongside `words`; an empty sequence means every word is
    known for sure (typed text, a transcript) and all are kept.
    """
    if not confidences:
        return list(words), 0
    if len(confidences) != len(words):
        raise ValueError(f"{len(confidences)} confidences for {len(words)} words")
    kept = [word for word, confidence in zip(words, confidences) if confidence >= threshold]
    return kept, len(words) - len(kept)


def captions_file_name(automatic: bool) -> str:
    """`captions.auto.srt` for recognised words, `captions.srt` for typed ones."""
    return AUTOMATIC_CAPTIONS_FILE if automatic else CAPTIONS_FILE


def caption_entry(source: str, words: Sequence[Word], confidences: Sequence[float] = (),
                  threshold: float = MIN_WORD_CONFIDENCE) -> tuple[list[Word], dict[str, Any]]:
    """The words to caption and the manifest's record of them.

    `source` is "text", "transcript" or "recognized"; recognised captions are
    automatic, lose their unsure words, and keep every recognised word (shown or
    not) in the record's "recognized_text", for the person to read and correct.
    """
    if source not in CAPTION_SOURCES:
        raise ValueError(f"unknown caption source {source!r}")
    automatic = source == "recognized"
    kept, hidden = confident_words(words, confidences if automatic else (), threshold)
    entry: dict[str, Any] = {"source": source, "automatic": automatic, "hidden_words": hidden}
    if automatic:
        entry["min_confidence"] = threshold
        entry["recognized_text"] = " ".join(" ".join(w.text.split()) for w in words)
    return kept, entry


AUTOMATIC_NOTE = "Automatic captions: recognised from the recording, check them"


def captions_note(captions: Optional[dict[str, Any]]) -> str:
    """One sentence about a manifest's speech.captions record: empty for exact captions, else what to check."""
    if not is_automatic(captions):
        return ""
    hidden = int(captions.get("hidden_words", 0))
    if hidden and hidden == len(captions.get("recognized_text", "").split()):
        return (f"{AUTOMATIC_NOTE}: the recogniser was unsure of every word, so none are shown; "
                "give the words spoken for exact captions.")
    if hidden:
        return f"{AUTOMATIC_NOTE} ({hidden} unsure word{'s' if hidden != 1 else ''} left out)."
    return f"{AUTOMATIC_NOTE}."


def is_automatic(captions: Optional[dict[str, Any]]) -> bool:
    """Whether a manifest's captions record is of recognised words."""
    return bool(captions and captions.get("automatic"))


def ends_sentence(word: str) -> bool:
    """True for "done." or 'so?"', false for "Dr." and initials such as "J."."""
    bare = word.rstrip(_CLOSERS)
    if not bare.endswith(_SENTENCE_END):
        return False
    if bare.lower() in _ABBREVIATIONS:
        return False
    return not (len(bare) == 2 and bare[0].isupper() and bare[1] == ".")


def split_lines(words: Sequence[str], max_chars: int) -> list[str]:
    """One line if it fits, else the two-line split whose longer line is shortest.

    A split where both lines fit is returned when one exists; otherwise the lines
    are as even as they can be (a single very long word cannot be broken).
    """
    line = " ".join(words)
    if len(line) <= max_chars or len(words) < 2:
        return [line]
    splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
    top, bottom = min(splits, key=lambda pair: (max(len(pair[0]), len(pair[1])), len(pair[0])))
    return [top, bottom]


def _fits(words: Sequence[str], max_chars: int) -> bool:
    return len(words) < 2 or all(len(line) <= max_chars for line in split_lines(words, max_chars))


def cues_from_words(
    words: list[Word], max_chars: int = 42, max_seconds: float = 5.0, gap: float = 0.6
) -> list[Cue]:
    """Group timed words into caption cues.

    A new cue starts after a sentence end, after a pause longer than `gap`, and
    before a word that would make the cue longer than two lines of `max_chars` or
    than `max_seconds`. Each cue is shown from its first word's start to its last
    word's end, stretched to `MIN_CUE_SECONDS` when the next cue starts late
    enough, and never past the next cue's start: cues do not overlap.
    """
    timed = sorted((w for w in words if w.text.strip()), key=lambda w: w.start)
    groups: list[list[Word]] = []
    current: list[Word] = []
    for word in timed:
        text = " ".join(word.text.split())  # recognisers may leave stray spaces
        word = Word(text, word.start, max(word.end, word.start))
        if current and (
            word.start - current[-1].end > gap
            or word.end - current[0].start > max_seconds
            or not _fits([w.text for w in current] + [text], max_chars)
        ):
            groups.append(current)
            current = []
        current.append(word)
        if ends_sentence(text):
            groups.append(current)
            current = []
    if current:
        groups.append(current)

    cues = []
    for i, group in enumerate(groups):
        start = group[0].start
        end = max(w.end for w in group)
        end = max(end, start + MIN_CUE_SECONDS)
        if i + 1 < len(groups):
            end = min(end, groups[i + 1][0].start)
        text = "\n".join(split_lines([w.text for w in group], max_chars))
        cues.append(Cue(index=i + 1, start=start, end=max(end, start), text=text))
    return cues


def srt_time(seconds: float) -> str:
    """`HH:MM:SS,mmm`; rounding is monotonic, so touching cues stay touching, not overlapping."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def srt_text(cues: Sequence[Cue]) -> str:
    """SubRip text: index, time range, text lines, blank line, for each cue."""
    return "".join(f"{cue.index}\n{srt_time(cue.start)} --> {srt_time(cue.end)}\n{cue.text}\n\n" for cue in cues)


def write_srt(path: Union[str, Path], cues: Sequence[Cue]) -> Path:
    """Write UTF-8 SRT under a temporary name and rename it, so no half file is left."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        tmp.write_text(srt_text(cues), encoding="utf-8", newline="\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
