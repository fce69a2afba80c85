"""Voice cloning end to end with tiny Coqui models built here, imported as a user imports the published ones.

Needs the optional `coqui-tts` package (`pip install -e .[voices]`); without it the
tests are skipped, except under CI=true, where they must run.
"""

from __future__ import annotations

import json
import os
import pickle
import wave
from pathlib import Path

import numpy as np
import pytest

from avatar.cli import main
from avatar.errors import InputError
from avatar.models.registry import get_registry
from avatar.speech.cloned_voice import LATENTS, synthesize_cloned
from avatar.speech.voice_sample import check_voice_sample
from avatar.speech.voice import join_chunks, mouth_of
from avatar.speech.voices import DEFAULT_VOICE, get_voice, list_voices
from avatar.talk.engine import TalkOptions
from avatar.talk.pipeline import make_talking_video
from tests.conftest import coqui_missing


_MISSING = coqui_missing()
if _MISSING and os.environ.get("CI") != "true":
    pytest.skip(_MISSING, allow_module_level=True)

OPTIONS = TalkOptions(size=256, still=True)
TEXT = "Hello there. This is my own voice."


@pytest.fixture
def installed(tiny_coqui_models):
    """Both models imported into this test's checkpoints folder with `avatar models import`."""
    for model_id, folder in tiny_coqui_models.items():
        assert main(["models", "import", model_id, str(folder)]) == 0
    return tiny_coqui_models


@pytest.fixture(scope="module")
def sample(fixtures):
    return check_voice_sample(fixtures / "RD_Radio31_000.wav")


def test_talking_video_in_a_cloned_voice(installed, fixtures, tmp_path):
    result = make_talking_video(fixtures / "obama_small.jpg", text=TEXT, voice="xtts-v2",
                                voice_sample=fixtures / "RD_Radio31_000.wav", language="en", options=OPTIONS,
                                job_dir=tmp_path / "first")
    speech = result.manifest["speech"]
    assert speech["voice"] == "xtts-v2" and speech["language"] == "en" and speech["sample_rate"] == 24000
    assert speech["voice_sample"]["name"] == "RD_Radio31_000.wav" and len(speech["voice_sample"]["sha256"]) == 64
    assert speech["mouth"]["method"] in ("dtw", "forced", "loudness")
    assert result.frames > 0 and result.video_path.stat().st_size > 0
    with wave.open(str(result.audio_path)) as wav:
        assert wav.getframerate() == 24000 and wav.getnframes() > 0

    again = make_talking_video(fixtures / "obama_small.jpg", text=TEXT, voice="xtts-v2",
                               voice_sample=fixtures / "RD_Radio31_000.wav", language="en", options=OPTIONS,
                               job_dir=tmp_path / "second")
    assert again.audio_path.read_bytes() == result.audio_path.read_bytes()  # same text, sample and seed


def test_latents_are_computed_once_per_sample(installed, sample):
    LATENTS.clear()
    first = synthesize_cloned("One sentence.", sample, model_id="xtts-v2", seed=1)
    second = synthesize_cloned("Another sentence, same voice.", sample, model_id="xtts-v2", seed=1)
    assert (LATENTS.misses, LATENTS.hits) == (1, 1)
    assert first.speech.sample_rate == second.speech.sample_rate == 24000
    other = synthesize_cloned("One sentence.", sample, model_id="xtts-v2", seed=2)
    assert not np.array_equal(other.speech.samples, first.speech.samples) or len(other.speech.samples) != len(
        first.speech.samples)


def test_your_tts_speaks_its_languages_with_a_contiguous_timeline(installed, sample):
    cloned = synthesize_cloned("Bonjour à tous.\n\nÀ bientôt.", sample, model_id="your-tts", language="fr-fr", seed=3)
    speech = cloned.speech
    assert speech.sample_rate == 16000 and cloned.language == "fr-fr"
    if speech.phonemes is not None:
        assert speech.phonemes[0].start == 0.0
        assert abs(speech.phonemes[-1].end - speech.duration) < 1e-3
        assert all(a.end == pytest.approx(b.start) for a, b in zip(speech.phonemes, speech.phonemes[1:]))
    with pytest.raises(InputError, match="does not speak 'de'"):
        synthesize_cloned("Hallo.", sample, model_id="your-tts", language="de")


def test_a_cloning_voice_speaks_through_the_voice_interface(installed, sample):
    """The table's cloning voice streams piece by piece what `synthesize_cloned` speaks as a whole."""
    voice = get_voice("xtts-v2")
    assert voice.needs_sample and voice.model_id == "xtts-v2" and voice.title.startswith("Coqui XTTS-v2")
    voice.check_ready("es")
    with pytest.raises(InputError, match="xtts-v2 does not speak 'ja'"):
        voice.check_ready("ja")
    with pytest.raises(InputError, match="copies a speaker"):
        voice.speak("Hello.", language="en")
    text = "Hello there.\n\nThis is my own voice."
    stream = voice.speak(text, language="en", seed=4, sample=sample)
    first = next(stream)
    assert first.start == 0 and first.sample_rate == 24000 and len(first.samples) > 0
    chunks = [first, *stream]
    assert len(chunks) == 3 and chunks[1].method == "" and not np.any(chunks[1].samples)
    assert [c.start for c in chunks[1:]] == [chunks[0].end, chunks[1].end]
    whole = synthesize_cloned(text, sample, model_id="xtts-v2", language="en", seed=4)
    assert join_chunks(chunks).samples.tobytes() == whole.speech.samples.tobytes()
    assert mouth_of(chunks)["method"] == whole.method


def test_voices_list_shows_installed_models_and_their_languages(installed, capsys):
    voices = {voice.name: voice for voice in list_voices()}
    assert voices[DEFAULT_VOICE].state == "bundled"
    assert voices["xtts-v2"].state == "installed" and voices["xtts-v2"].languages == ("en", "es", "fr", "de")
    assert voices["your-tts"].languages == ("en", "fr-fr", "pt-br")
    assert main(["voices", "list"]) == 0
    out = capsys.readouterr().out
    assert "xtts-v2" in out and "installed" in out and "fr-fr" in out


def test_cli_talks_in_a_cloned_voice(installed, fixtures, tmp_path):
    out = tmp_path / "me.mp4"
    code = main(["talk", "--image", str(fixtures / "obama_small.jpg"), "--text", TEXT, "--voice-sample",
                 str(fixtures / "RD_Radio31_000.wav"), "--language", "es", "--size", "256", "--still", "-o", str(out)])
    assert code == 0 and out.stat().st_size > 0
    (manifest,) = Path(os.environ["AVATAR_OUTPUTS"]).rglob("manifest.json")
    speech = json.loads(manifest.read_text())["speech"]
    assert speech["voice"] == "xtts-v2" and speech["language"] == "es"


def test_missing_model_and_bad_choices_fail_before_any_work(fixtures, capsys):
    code = main(["talk", "--image", str(fixtures / "obama_small.jpg"), "--text", TEXT, "--voice-sample",
                 str(fixtures / "RD_Radio31_000.wav")])
    err = capsys.readouterr().err
    assert code == 2 and "avatar models pull xtts-v2" in err and "Traceback" not in err
    with pytest.raises(InputError, match="voice sample"):
        make_talking_video(fixtures / "obama_small.jpg", text=TEXT, voice="xtts-v2", options=OPTIONS)
    with pytest.raises(InputError, match="English only"):
        make_talking_video(fixtures / "obama_small.jpg", text=TEXT, language="fr", options=OPTIONS)
    with pytest.raises(InputError, match="only used to speak typed text"):
        make_talking_video(fixtures / "obama_small.jpg", audio=fixtures / "RD_Radio31_000.wav", voice="xtts-v2",
                           voice_sample=fixtures / "RD_Radio31_000.wav", options=OPTIONS)


def test_import_checks_the_folder(tiny_coqui_models, tmp_path, capsys):
    assert main(["models", "import", "xtts-v2", str(tiny_coqui_models["xtts-v2"] / "model.pth")]) == 2
    assert "not a single file" in capsys.readouterr().err

    broken = tmp_path / "xtts"
    broken.mkdir()
    for name in ("config.json", "model.pth"):
        (broken / name).symlink_to(tiny_coqui_models["xtts-v2"] / name)
    assert main(["models", "import", "xtts-v2", str(broken)]) == 2
    assert "vocab.json is missing" in capsys.readouterr().err

    (broken / "vocab.json").symlink_to(tiny_coqui_models["xtts-v2"] / "vocab.json")
    (broken / "model.pth").unlink()
    (broken / "model.pth").write_bytes(pickle.dumps(_RunsCode()))
    assert main(["models", "import", "xtts-v2", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "model.pth" in err and "Traceback" not in err
    assert not get_registry().is_installed("xtts-v2")


class _RunsCode:
    """A pickle that would run a command when loaded without weights_only."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


class _PiperSpeaker:
    """Stands in for a cloning network in the registry: speaks with Piper, slower, so the timing is not Piper's own.

    It lets the test check what the studio adds around a model (pieces, seeds,
    alignment, joined timelines) on real speech, which the tiny models cannot give.
    """

    def __init__(self) -> None:
        from avatar.speech.coqui_models import CloningModel

        class Speaker(CloningModel):
            model_id = "xtts-v2"
            encoded = 0

            def voice_latents(self, samples, sample_rate):
                Speaker.encoded += 1
                return None

            def _generate(self, text, language, latents, rate):
                from avatar.speech.piper_voice import synthesize

                return synthesize(text, rate=0.85 * rate, seed=int(torch.initial_seed()) % 1000).samples

        import torch

        self.model = Speaker(torch.nn.Linear(1, 1), ("en",), 22050)

    def __call__(self, spec, path, policy):
        return self.model


def test_cloned_speech_is_aligned_piece_by_piece(sample, tmp_path):
    from avatar.models.registry import Registry

    folder = tmp_path / "checkpoints" / "xtts-v2"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    speaker = _PiperSpeaker()
    registry = Registry(checkpoints=tmp_path / "checkpoints", loader=speaker)
    LATENTS.clear()
    text = "The first sentence is here. Then a second one follows.\n\nA new paragraph starts now."
    cloned = synthesize_cloned(text, sample, model_id="xtts-v2", registry=registry, seed=5)
    speech = cloned.speech
    assert cloned.method == "dtw" and speech.phonemes is not None
    assert [w.text for w in speech.words] == text.split()
    assert speech.phonemes[0].start == 0.0 and speech.phonemes[-1].end == pytest.approx(speech.duration, abs=1e-3)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(speech.phonemes, speech.phonemes[1:]))
    assert all(w.start < w.end <= speech.duration + 1e-6 for w in speech.words)
    assert all(a.end <= b.start + 1e-6 for a, b in zip(speech.words, speech.words[1:]))
    # The paragraph pause: silence between "follows." and "A", inside a PAUSE.
    follows, new = speech.words[9], speech.words[10]
    assert new.start - follows.end >= 0.3
    assert any(p.ipa == " " and p.start <= follows.end + 0.05 and p.end >= new.start - 0.05 for p in speech.phonemes)
    again = synthesize_cloned(text, sample, model_id="xtts-v2", registry=registry, seed=5)
    assert np.array_equal(again.speech.samples, speech.samples) and type(speaker.model).encoded == 1


def test_a_language_the_installed_model_lacks_fails_before_any_work(installed, fixtures, tmp_path):
    with pytest.raises(InputError, match="xtts-v2 does not speak 'ja'; choose one of: en, es, fr, de"):
        make_talking_video(fixtures / "no_face.png", text=TEXT, voice="xtts-v2", language="ja",
                           voice_sample=fixtures / "RD_Radio31_000.wav", options=OPTIONS, job_dir=tmp_path / "job")
    assert not (tmp_path / "job").exists()
