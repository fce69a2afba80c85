"""Which voices can speak typed text: the bundled one and the cloning models, installed or not.

Torch-free and cheap (reads only small config files), so the CLI's `avatar voices
list` and the page's voice picker can call it on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

from avatar.models.catalog import get_spec
from avatar.speech.cloned_voice import CLONING_MODELS, INSTALL_CODE, coqui_installed, read_languages
PUBLISHED_LANGUAGES = {
    "xtts-v2": ("en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar", "zh-cn", "ja", "hu", "ko", "hi"),
    "your-tts": ("en", "fr-fr", "pt-br"),
}
"""What the published models speak; an installed model's own config files are read instead."""


@dataclass(frozen=True)
class VoiceInfo:
    """One voice choice as the CLI and the page show it."""

    name: str
    title: str
    cloning: bool
    state: str  # "bundled", "installed", "missing" (model not installed) or "no coqui-tts"
    languages: tuple[str, ...]
    note: str  # what to run to use it, or its license

    @property
    def kind(self) -> str:
        return "cloning" if self.cloning else "bundled"

    @property
    def ready(self) -> bool:
        return self.state in ("bundled", "installed")


def list_voices(registry=None) -> list[VoiceInfo]:
    """The bundled voice, then each cloning model with its state and languages."""
    if registry is None:
        from avatar.models.registry import get_registry

        registry = get_registry()
    voices = [VoiceInfo("joe", "Joe (bundled Piper voice, US English)", False, "bundled", ("en",), "CC0-1.0")]
    has_coqui = coqui_installed()
    for model_id in CLONING_MODELS:
        spec = get_spec(model_id)
        state, path = registry.resolve(model_id)
        languages = (read_languages(path, model_id) if path else ()) or PUBLISHED_LANGUAGES[model_id]
        if not has_coqui:
            state, note = "no coqui-tts", f"`{INSTALL_CODE}`, then `{spec.install_command}`"
        elif state == "missing":
            note = f"`{spec.install_command}` ({spec.license})"
        else:
            note = spec.license
        voices.append(VoiceInfo(model_id, spec.name, True, state, languages, note))
    return voices
