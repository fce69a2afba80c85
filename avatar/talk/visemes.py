"""Which mouth shape each sound needs: the viseme table.

A viseme is the visible part of a phoneme. Many phonemes share one (p, b and m all
look like pressed lips), so the table below groups espeak's US-English inventory,
as Piper emits it, into a handful of shapes described by five numbers the
animation engine knows how to draw. All five are in 0..1:

- `open`   jaw opening: 0 = teeth together, 1 = the widest "ah".
- `wide`   lip-corner stretch: 0 = relaxed width, 1 = fully spread ("ee", "s").
           Narrowing is not negative width; it is `round`.
- `round`  lip rounding and protrusion: 1 = the small round opening of "oo", "w".
- `closed` lips pressed together: 1 = sealed (p, b, m). Wins over `open`.
- `teeth`  lower lip tucked under the upper teeth: 1 = "f", "v".

Diphthongs arrive from Piper as two phonemes ("aɪ" is "a" then "ɪ"), so only their
parts need rows. Silence (`PAUSE`, markers, punctuation) is `REST`: the relaxed,
closed mouth. A symbol missing from the table gets `NEUTRAL`, slightly open,
which looks like speech without claiming a particular sound.
"""

from __future__ import annotations

import unicodedata
from dataclasses import astuple, dataclass

import numpy as np


@dataclass(frozen=True)
class MouthShape:
    """Target mouth parameters for one sound; see the module docstring for the scales."""

    open: float = 0.0
    wide: float = 0.0
    round: float = 0.0
    closed: float = 0.0
    teeth: float = 0.0

    def as_array(self) -> np.ndarray:
        """The five values in `MOUTH_PARAMS` order, as float32."""
        return np.array(astuple(self), dtype=np.float32)


MOUTH_PARAMS: tuple[str, ...] = ("open", "wide", "round", "closed", "teeth")
"""Order of the columns of a mouth track (same as the fields of `MouthShape`)."""

REST = MouthShape()
NEUTRAL = MouthShape(open=0.39, wide=0.15)

# Shapes shared by groups of sounds.
_LIPS_PRESSED = MouthShape(closed=1.0)  # p b m
_LIP_TO_TEETH = MouthShape(open=0.08, wide=0.2, teeth=1.0)  # f v
_TONGUE_TIP = MouthShape(open=0.33, wide=0.3)  # t d n l ɾ (the tongue is hardly seen)
_TONGUE_TEETH = MouthShape(open=0.31, wide=0.3)  # θ ð
_HISS = MouthShape(open=0.21, wide=0.55)  # s z: teeth nearly together, lips spread
_HUSH = MouthShape(open=0.27, round=0.6)  # ʃ ʒ (tʃ dʒ): lips pushed forward
_BACK = MouthShape(open=0.44, wide=0.2)  # k g ŋ x
_GLIDE_ROUND = MouthShape(open=0.24, round=1.0)  # w
_R = MouthShape(open=0.33, round=0.5)  # American r is lightly rounded

VISEMES: dict[str, MouthShape] = {
    # --- open vowels: the jaw drops most -------------------------------------
    "ɑ": MouthShape(open=1.0, wide=0.1),  # father, lot
    "a": MouthShape(open=0.97, wide=0.3),  # first part of aɪ (my), aʊ (now)
    "æ": MouthShape(open=0.93, wide=0.5),  # cat
    "ɒ": MouthShape(open=0.93, round=0.4),
    "ɔ": MouthShape(open=0.88, round=0.6),  # thought, ɔɪ (boy)
    # --- mid vowels ----------------------------------------------------------
    "ʌ": MouthShape(open=0.85, wide=0.2),  # cup
    "ɐ": MouthShape(open=0.79, wide=0.2),  # unstressed "a"
    "ɛ": MouthShape(open=0.79, wide=0.5),  # bed
    "e": MouthShape(open=0.62, wide=0.6),  # first part of eɪ (day)
    "ə": MouthShape(open=0.56, wide=0.2),  # schwa
    "ɜ": MouthShape(open=0.62, wide=0.1, round=0.25),  # bird (ɜː)
    "ɚ": MouthShape(open=0.5, wide=0.1, round=0.3),  # butter
    "o": MouthShape(open=0.67, round=0.8),  # first part of oʊ (go)
    # --- close vowels: little jaw, lips spread or rounded ---------------------
    "ɪ": MouthShape(open=0.5, wide=0.55),  # bit, second part of aɪ eɪ ɔɪ
    "ᵻ": MouthShape(open=0.44, wide=0.45),  # roses
    "ɨ": MouthShape(open=0.44, wide=0.45),
    "i": MouthShape(open=0.39, wide=0.8),  # see
    "ʊ": MouthShape(open=0.44, round=0.65),  # book, second part of aʊ oʊ
    "u": MouthShape(open=0.33, round=1.0),  # blue
    # --- lips ----------------------------------------------------------------
    "p": _LIPS_PRESSED,
    "b": _LIPS_PRESSED,
    "m": _LIPS_PRESSED,
    "f": _LIP_TO_TEETH,
    "v": _LIP_TO_TEETH,
    "w": _GLIDE_ROUND,
    "ʍ": _GLIDE_ROUND,  # "wh"
    # --- tongue and palate ---------------------------------------------------
    "θ": _TONGUE_TEETH,
    "ð": _TONGUE_TEETH,
    "t": _TONGUE_TIP,
    "d": _TONGUE_TIP,
    "n": _TONGUE_TIP,
    "ɾ": _TONGUE_TIP,  # the flap in "pretty"
    "l": MouthShape(open=0.44, wide=0.3),
    "ɫ": MouthShape(open=0.44, wide=0.2),
    "s": _HISS,
    "z": _HISS,
    "ʃ": _HUSH,
    "ʒ": _HUSH,
    "ɹ": _R,
    "r": _R,
    "j": MouthShape(open=0.33, wide=0.7),  # yes
    "k": _BACK,
    "ɡ": _BACK,
    "g": _BACK,
    "ŋ": _BACK,
    "x": _BACK,
    "ç": _BACK,
    "h": MouthShape(open=0.5, wide=0.15),  # shaped by the next vowel; coarticulation does that
    "ʔ": MouthShape(open=0.21),  # glottal stop ("uh-oh")
}


def is_silence(ipa: str) -> bool:
    """True for pauses: empty/space, Piper's markers and punctuation."""
    symbol = ipa.strip()
    if not symbol or symbol in {"^", "$", "_"}:
        return True
    return all(unicodedata.category(ch).startswith("P") for ch in symbol)


def viseme(ipa: str) -> MouthShape:
    """The mouth shape for one phoneme as Piper spells it.

    Length and stress marks or diacritics attached to the symbol are ignored
    ("ɑː" looks like "ɑ"); a multi-letter symbol not in the table ("tʃ", "aɪ")
    takes the shape of its first letter that has a row.
    """
    if is_silence(ipa):
        return REST
    if ipa in VISEMES:
        return VISEMES[ipa]
    for ch in ipa:
        if ch in VISEMES:
            return VISEMES[ch]
    return NEUTRAL
