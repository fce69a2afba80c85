"""Checking and splitting the text a voice is asked to speak.

Validation lives here, not in a page, so the CLI, the pages and the library all
refuse the same inputs with the same sentence. Splitting exists so that long text
is synthesized piece by piece and progress can be reported between pieces.
"""

from __future__ import annotations

import re

from avatar.errors import InputError

MAX_TEXT_CHARS = 5000
"""Longest text accepted (about five minutes of speech): longer jobs belong in batches."""

PIECE_CHARS = 400
"""Target size of one synthesis piece; a sentence longer than this stays whole."""

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# Whitespace after . ! ? or …, or after one of them followed by a closing quote or
# bracket, ends a sentence. (Two fixed-width look-behinds: Python has no variable one.)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'”’)\]])\s+")


def check_text(text: object) -> str:
    """Return `text` with outer whitespace removed, or raise InputError saying why it cannot be spoken."""
    if not isinstance(text, str):
        raise InputError("The text must be a string; type what the avatar should say.")
    stripped = text.strip()
    if not stripped:
        raise InputError("The text is empty; type what the avatar should say.")
    if not any(character.isalnum() for character in stripped):
        raise InputError("The text has nothing the voice can speak; use words or numbers.")
    if len(stripped) > MAX_TEXT_CHARS:
        raise InputError(
            f"The text has {len(stripped):,} characters, more than the limit of "
            f"{MAX_TEXT_CHARS:,}; shorten it or split it into several videos."
        )
    return stripped


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs (separated by blank lines), with inner line breaks turned into spaces."""
    paragraphs = (" ".join(part.split()) for part in _PARAGRAPH_BREAK.split(text))
    return [paragraph for paragraph in paragraphs if paragraph]


def split_sentences(paragraph: str, piece_chars: int = PIECE_CHARS) -> list[str]:
    """Group a paragraph's sentences into pieces of at most about `piece_chars` characters.

    Piper itself speaks sentence by sentence, so cutting between sentences does not
    change the audio; it only gives the caller points to report progress at.
    """
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        sentence = sentence.strip()
        if not sentence:
            continue
        if current and len(current) + 1 + len(sentence) > piece_chars:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return pieces
