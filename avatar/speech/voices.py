"""The voices that speak typed text, one line each, and the voice settings every entry point offers.

`VOICES` is the table: the bundled Piper voice, then each cloning model, every one
a `voice.Voice`. `get_voice(name)` is how the pipeline, the job kind and the CLI
find one; nothing else names a voice. A new voice is a `Voice` subclass and one
line here.

`VoiceOptions` declares the voice's own settings once (voice, language, speaking
rate; the sample for cloning beside them): the talk job, the CLI flags and the
page take their defaults and limits from it.

`list_voices()` is torch-free and cheap (reads only small config files), so the
CLI's `avatar voices list` and the page's voice picker can call it on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from avatar.errors import InputError, quoted
from avatar.options import OptionSpec, check_value, option, specs
from avatar.speech.cloned_voice import CloningVoice
from avatar.speech.piper_voice import MAX_RATE, MIN_RATE, BundledVoice
from avatar.speech.voice import Voice, VoiceInfo
from avatar.speech.voice_sample import MAX_SAMPLE_S, MIN_SAMPLE_S

__all__ = ["DEFAULT_CLONING_VOICE", "DEFAULT_VOICE", "VOICES", "VOICE_SPECS", "VoiceInfo", "VoiceOptions",
           "cloning_names", "get_voice", "list_voices"]

BUNDLED = BundledVoice("joe", "Joe (bundled Piper voice, US English)")
XTTS = CloningVoice("xtts-v2", ("en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar", "zh-cn",
                                "ja", "hu", "ko", "hi"))
YOUR_TTS = CloningVoice("your-tts", ("en", "fr-fr", "pt-br"))

VOICES: dict[str, Voice] = {voice.name: voice for voice in (BUNDLED, XTTS, YOUR_TTS)}
"""Every voice by name: the bundled one first, then the cloning models (languages as published)."""

DEFAULT_VOICE = BUNDLED.name
"""Who speaks typed text when nobody says."""
DEFAULT_CLONING_VOICE = XTTS.name
"""Who speaks when only a voice sample is given."""


def get_voice(name: str) -> Voice:
    """The voice called `name`, or one sentence naming the voices there are."""
    try:
        return VOICES[name]
    except (KeyError, TypeError):
        raise InputError(f"Unknown voice {quoted(name)}; choose one of: {', '.join(VOICES)}.") from None


def cloning_names() -> list[str]:
    """The voices that speak in the voice of a sample."""
    return [voice.name for voice in VOICES.values() if voice.needs_sample]


@dataclass(frozen=True)
class VoiceOptions:
    """Who speaks typed text, in which language, and how fast.

    The voice sample a cloning voice needs is a file, not a setting: it is an
    input named `SAMPLE`, described by `SAMPLE_HELP`.
    """

    voice: str = option(DEFAULT_VOICE, "who speaks typed text: the bundled voice or a cloning model "
                        "(see `avatar voices list`)", choices=tuple(VOICES))
    language: str = option("en", "language of the text, e.g. en, es, fr, de (the bundled voice speaks en only)")
    rate: float = option(1.0, "speaking rate for typed text", min=MIN_RATE, max=MAX_RATE,
                         label="The speaking rate")

    SAMPLE: ClassVar[str] = "voice_sample"
    SAMPLE_HELP: ClassVar[str] = (f"{MIN_SAMPLE_S:.0f}-{MAX_SAMPLE_S:.0f} s of one person speaking, whose voice "
                                  "speaks the text (you must have their consent)")

    def validate(self) -> "VoiceOptions":
        """The declared range of the rate, then the voice (from the table as it is now) and its language;
        one sentence for the first problem."""
        check_value(VOICE_SPECS["rate"], self.rate)
        get_voice(self.voice).check_language(self.language)
        return self


VOICE_SPECS: dict[str, OptionSpec] = {spec.name: spec for spec in specs(VoiceOptions)}
"""The declarations by name (default, help, range), for the CLI flags and the page's widgets."""


def list_voices(registry=None) -> list[VoiceInfo]:
    """The bundled voice, then each cloning model with its state and languages."""
    if registry is None:
        from avatar.models.registry import get_registry

        registry = get_registry()
    return [voice.describe(registry) for voice in VOICES.values()]
