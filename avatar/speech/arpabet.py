"""ARPAbet, the phone set of pocketsphinx's English model, and the words it can align.

Three small pieces the recording aligner needs:

- `ipa_of(phone)`: the espeak IPA symbols (as Piper spells them, so
  `avatar.talk.visemes.VISEMES` has rows for them) that one ARPAbet phone stands
  for. Diphthongs become two symbols, as Piper emits them ("AY" is "a" then "ɪ").
- `spoken_words(token)`: what a typed token sounds like as dictionary-style words:
  punctuation stripped, numbers read out ("42" -> "forty two"), hyphenated words
  split.
- `guess_pronunciation(word)`: letter-to-sound rules for words the dictionary does
  not know (names, brands, typos). Crude, but the aligner only needs roughly the
  right sounds in the right order to find where the word is; a word dropped from
  the alignment text would instead pull its neighbours' timing off.
"""

from __future__ import annotations

import re
from typing import Optional

__all__ = ["PAUSE_PHONES", "guess_pronunciation", "ipa_of", "number_words", "spoken_words"]

_IPA: dict[str, tuple[str, ...]] = {
    # vowels (pocketsphinx's dictionary carries no stress digits)
    "AA": ("ɑ",),
    "AE": ("æ",),
    "AH": ("ə",),  # mostly unstressed in running speech; long ones become "ʌ", see ipa_of
    "AO": ("ɔ",),
    "AW": ("a", "ʊ"),
    "AY": ("a", "ɪ"),
    "EH": ("ɛ",),
    "ER": ("ɚ",),
    "EY": ("e", "ɪ"),
    "IH": ("ɪ",),
    "IY": ("i",),
    "OW": ("o", "ʊ"),
    "OY": ("ɔ", "ɪ"),
    "UH": ("ʊ",),
    "UW": ("u",),
    # consonants
    "B": ("b",),
    "CH": ("tʃ",),
    "D": ("d",),
    "DH": ("ð",),
    "F": ("f",),
    "G": ("ɡ",),
    "HH": ("h",),
    "JH": ("dʒ",),
    "K": ("k",),
    "L": ("l",),
    "M": ("m",),
    "N": ("n",),
    "NG": ("ŋ",),
    "P": ("p",),
    "R": ("ɹ",),
    "S": ("s",),
    "SH": ("ʃ",),
    "T": ("t",),
    "TH": ("θ",),
    "V": ("v",),
    "W": ("w",),
    "Y": ("j",),
    "Z": ("z",),
    "ZH": ("ʒ",),
}

PAUSE_PHONES = frozenset({"SIL", "+NSN+", "+SPN+", "+BREATH+", "+COUGH+", "+UM+", "+UH+", "+SMACK+"})
"""Silence and the noise models: no articulation, the mouth rests."""

STRESSED_AH_S = 0.05
"""An AH at least this long is a stressed "cup" vowel (ʌ, jaw wider) rather than a schwa.

Piper says about one AH in three as ʌ or ɐ; 50 ms gives recognised recordings the
same share (benchmarks/recording.py: jaw correlation 0.794 at 80 ms, 0.803 at 50 ms)."""


def ipa_of(phone: str, duration: float = 0.0) -> Optional[tuple[str, ...]]:
    """IPA symbols for one ARPAbet phone; None for silence, noise or an unknown phone.

    The dictionary does not mark stress, so AH is told apart by length: a long AH
    is the open "ʌ" of "cup", a short one the schwa of "about".
    """
    phone = phone.upper().rstrip("012")
    if phone == "AH" and duration >= STRESSED_AH_S:
        return ("ʌ",)
    return _IPA.get(phone)


# --- numbers ---------------------------------------------------------------------

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"))


def number_words(number: int) -> list[str]:
    """A non-negative integer as spoken English words, e.g. 342 -> three hundred forty two."""
    if number < 20:
        return [_ONES[number]]
    if number < 100:
        tens, ones = divmod(number, 10)
        return [_TENS[tens]] + ([_ONES[ones]] if ones else [])
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return [_ONES[hundreds], "hundred"] + (number_words(rest) if rest else [])
    for scale, name in _SCALES:
        if number >= scale:
            high, rest = divmod(number, scale)
            return number_words(high) + [name] + (number_words(rest) if rest else [])
    raise AssertionError("unreachable")


def _digits_words(digits: str) -> list[str]:
    """How a run of digits is read: years in pairs (1984), very long runs digit by digit."""
    value = int(digits)
    if len(digits) == 4 and 1100 <= value <= 1999 and value % 100:
        return number_words(value // 100) + number_words(value % 100)
    if len(digits) > 12 or (len(digits) > 1 and digits.startswith("0")):
        return [_ONES[int(d)] for d in digits]
    return number_words(value)


_SYMBOL_WORDS = {"%": "percent", "&": "and", "+": "plus", "@": "at", "$": "dollars", "€": "euros", "£": "pounds"}
_CURRENCIES = {"$", "€", "£"}
_PIECE = re.compile(r"[a-z]+(?:'[a-z]+)*|\d+(?:[.,]\d+)*|[%&+@$€£]")


def spoken_words(token: str) -> list[str]:
    """The lowercase words a typed token is spoken as ("Hello," -> hello, "42%" -> forty two percent).

    Letters keep inner apostrophes (don't, o'clock); hyphens and other punctuation
    separate words. Returns [] for a token that is only punctuation.
    """
    token = token.lower().replace("’", "'")
    words: list[str] = []
    currency: list[str] = []  # "$5" is said "five dollars"
    for piece in _PIECE.findall(token):
        if piece[0].isdigit():
            whole, _, fraction = piece.replace(",", "").partition(".")
            words += _digits_words(whole) if whole else []
            if fraction:
                words += ["point"] + [_ONES[int(d)] for d in fraction]
        elif piece in _CURRENCIES:
            currency.append(_SYMBOL_WORDS[piece])
        elif piece in _SYMBOL_WORDS:
            words.append(_SYMBOL_WORDS[piece])
        else:
            words.append(piece)
    return words + currency


# --- letter-to-sound rules for unknown words --------------------------------------

# Longest spellings first; each maps to the phones it usually stands for in English.
_LETTER_RULES: list[tuple[str, tuple[str, ...]]] = sorted(
    {
        "tch": ("CH",), "sch": ("S", "K"), "igh": ("AY",), "ough": ("AO",), "tion": ("SH", "AH", "N"),
        "sion": ("ZH", "AH", "N"), "ch": ("CH",), "sh": ("SH",), "th": ("TH",), "ph": ("F",),
        "wh": ("W",), "ng": ("NG",), "ck": ("K",), "qu": ("K", "W"), "gh": (), "kn": ("N",),
        "wr": ("R",), "ee": ("IY",), "ea": ("IY",), "oo": ("UW",), "ou": ("AW",), "ow": ("OW",),
        "oi": ("OY",), "oy": ("OY",), "ai": ("EY",), "ay": ("EY",), "au": ("AO",), "aw": ("AO",),
        "ie": ("IY",), "ei": ("EY",), "ey": ("IY",), "er": ("ER",), "ir": ("ER",), "ur": ("ER",),
        "ar": ("AA", "R"), "or": ("AO", "R"), "x": ("K", "S"), "a": ("AE",), "e": ("EH",),
        "i": ("IH",), "o": ("AA",), "u": ("AH",), "b": ("B",), "d": ("D",), "f": ("F",),
        "g": ("G",), "h": ("HH",), "j": ("JH",), "k": ("K",), "l": ("L",), "m": ("M",),
        "n": ("N",), "p": ("P",), "q": ("K",), "r": ("R",), "s": ("S",), "t": ("T",), "v": ("V",),
        "w": ("W",), "z": ("Z",),
    }.items(),
    key=lambda rule: -len(rule[0]),
)
_VOWELS = set("aeiouy")


def guess_pronunciation(word: str) -> list[str]:
    """ARPAbet phones for a word spelled with letters a-z, by simple English spelling rules.

    Doubled letters sound once ("ll"), a final silent "e" is dropped, "c" is soft
    before e/i/y, "y" is a consonant at the start of a word and a vowel elsewhere.
    Returns [] if the word has no letters.
    """
    letters = re.sub(r"(.)\1", r"\1", re.sub(r"[^a-z]", "", word.lower()))
    if len(letters) > 3 and letters.endswith("e") and letters[-2] not in _VOWELS:
        letters = letters[:-1]
    phones: list[str] = []
    i = 0
    while i < len(letters):
        rest = letters[i:]
        if rest[0] == "c" and rest[1:2] not in ("h", "k"):
            phones.append("S" if rest[1:2] in ("e", "i", "y") else "K")
            i += 1
            continue
        if rest[0] == "y":
            phones.append("Y" if i == 0 and len(letters) > 1 else "IY")
            i += 1
            continue
        for spelling, sounds in _LETTER_RULES:
            if rest.startswith(spelling):
                phones.extend(sounds)
                i += len(spelling)
                break
        else:  # not reachable for a-z, but never loop forever
            i += 1
    return phones
