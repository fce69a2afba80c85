"""Coqui's voice-cloning models (XTTS-v2, YourTTS) made ready for the registry.

The registry calls `build_xtts` / `build_your_tts` (the catalog's `builder`) with
an installed folder. Each returns a `CloningModel`: a torch module holding the
Coqui network, with the two things voice cloning needs:

- `voice_latents(samples, sample_rate)`: what the model keeps of a speaker (for
  XTTS the GPT conditioning latents and the decoder's speaker embedding; for
  YourTTS the speaker encoder's d-vector). Computed from arrays, never from a file
  path, so Coqui's own audio loading (torchaudio/torchcodec) is never needed.
- `speak(text, language, latents, seed, rate)`: samples at `sample_rate`.

Loading. The Coqui package (`coqui-tts`, import name `TTS`) builds the networks
from the folder's config.json; the weights are read by `loaders.load_weights_file`
with `weights_only=True`, as every checkpoint in the app is. XTTS-v2's published
`model.pth` pickles its config object (Coqui's `XttsConfig` dataclasses, under
their old module path) beside the weights, so exactly those config classes are
allowlisted for that one read; a pickle asking for anything else is refused. Coqui's
own `Xtts.load_checkpoint` would, for such a file, rewrite it on disk; here the
user's files are only read.

Reproducible: both models sample (XTTS's GPT draws its audio tokens, VITS draws
durations and latent noise) from torch's global generator. Each sentence runs with
that generator forked and seeded from (seed, sentence index), one sentence at a
time in the process, so the same text, sample and seed give the same samples.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from avatar.models.devices import DevicePolicy
from avatar.errors import AvatarError, InputError, ModelNotInstalled
from avatar.models.loaders import load_weights_file
from avatar.speech.cloned_voice import INSTALL_CODE, check_language

XTTS_FILES = ("config.json", "model.pth", "vocab.json")
YOUR_TTS_FILES = ("config.json", "config_se.json", "language_ids.json")
YOUR_TTS_MODEL = ("model_file.pth", "model_file.pth.tar")  # either name has been published
YOUR_TTS_ENCODER = ("model_se.pth", "model_se.pth.tar")

_SPEAK_LOCK = threading.Lock()  # the seeded sentence owns torch's global generator


def import_coqui() -> None:
    """Import Coqui TTS, or raise ModelNotInstalled with the one command that fixes it.

    Coqui imports torchaudio at package import; a torchaudio whose compiled
    extension cannot load (PyPI's CUDA build beside a CPU torch) imports without
    it (`avatar.torchaudio_guard`), which is all cloning needs.
    """
    try:
        import TTS  # noqa: F401
    except ModuleNotFoundError as exc:
        missing = exc.name or "TTS"
        raise ModelNotInstalled(
            f"Voice cloning needs the optional Coqui TTS package ({missing} is not installed); "
            f"install it with `{INSTALL_CODE}`."
        ) from None
    except (ImportError, OSError) as exc:
        raise ModelNotInstalled(f"Coqui TTS could not be imported ({_first_line(exc)}); reinstall it with `{INSTALL_CODE}`.") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def require_files(folder: Path, model_id: str, names: tuple[str, ...]) -> None:
    """InputError naming the files a model folder lacks (before anything is built)."""
    missing = [name for name in names if not (Path(folder) / name).is_file()]
    if missing:
        raise InputError(
            f"{folder} is not a complete {model_id} folder: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing; give the folder with all of {', '.join(names)}."
        )


def first_present(folder: Path, model_id: str, names: tuple[str, ...]) -> Path:
    """The first of `names` present in `folder`, or InputError saying none is."""
    for name in names:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    raise InputError(f"{folder} is not a complete {model_id} folder: it has no {' or '.join(names)}.")


@dataclass
class VoiceLatents:
    """What a cloning model keeps of one speaker, on the CPU (cached per sample)."""

    tensors: dict[str, torch.Tensor]


class CloningModel(torch.nn.Module):
    """A Coqui network and the way to clone a voice with it (see the module docstring)."""

    model_id: str = ""

    def __init__(self, network: torch.nn.Module, languages: tuple[str, ...], sample_rate: int) -> None:
        super().__init__()
        self.network = network
        self.languages = languages
        self.sample_rate = sample_rate

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def check_language(self, language: str) -> str:
        return check_language(self.model_id, language, self.languages)

    def voice_latents(self, samples: np.ndarray, sample_rate: int) -> VoiceLatents:
        raise NotImplementedError

    def speak(self, text: str, language: str, latents: VoiceLatents, seed: int, rate: float = 1.0) -> np.ndarray:
        """Samples (float32, mono, in [-1, 1]) of one sentence, the same for the same seed."""
        self.check_language(language)
        with _SPEAK_LOCK, torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)
            wav = self._generate(text, language, latents, rate)
        return np.clip(np.asarray(wav, dtype=np.float32).reshape(-1), -1.0, 1.0)

    def _generate(self, text: str, language: str, latents: VoiceLatents, rate: float) -> Any:
        raise NotImplementedError


def _resampled(samples: np.ndarray, sample_rate: int, target: int) -> torch.Tensor:
    """[1, T] float tensor at `target` Hz, clipped as Coqui's own loader does."""
    import torchaudio

    audio = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).reshape(1, -1)
    if sample_rate != target:
        audio = torchaudio.functional.resample(audio, sample_rate, target)
    return audio.clamp_(-1.0, 1.0)


class XttsModel(CloningModel):
    """XTTS-v2: GPT audio tokens conditioned on the speaker, HiFi-GAN decoder with the speaker embedding."""

    model_id = "xtts-v2"

    def voice_latents(self, samples: np.ndarray, sample_rate: int) -> VoiceLatents:
        xtts, config = self.network, self.network.config
        load_rate = 22050  # the rate Coqui loads reference audio at
        audio = _resampled(samples, sample_rate, load_rate)[:, : load_rate * int(config.max_ref_len)]
        if config.sound_norm_refs:
            audio = audio / audio.abs().max() * 0.75
        audio = audio.to(self.device)
        with torch.inference_mode():
            speaker = xtts.get_speaker_embedding(audio, load_rate)
            gpt = xtts.get_gpt_cond_latents(
                audio, load_rate, length=int(config.gpt_cond_len), chunk_length=int(config.gpt_cond_chunk_len)
            )
        return VoiceLatents({"gpt_cond_latent": gpt.cpu(), "speaker_embedding": speaker.cpu()})

    def _generate(self, text: str, language: str, latents: VoiceLatents, rate: float) -> Any:
        config = self.network.config
        out = self.network.inference(
            text, language, latents.tensors["gpt_cond_latent"], latents.tensors["speaker_embedding"],
            temperature=config.temperature, length_penalty=config.length_penalty,
            repetition_penalty=config.repetition_penalty, top_k=config.top_k, top_p=config.top_p, speed=rate,
        )
        return out["wav"]


class YourTtsModel(CloningModel):
    """YourTTS: VITS with language embeddings, conditioned on a speaker encoder's d-vector."""

    model_id = "your-tts"

    def __init__(self, network, languages, sample_rate, encoder, encoder_audio) -> None:
        super().__init__(network, languages, sample_rate)
        self.encoder = encoder
        self._encoder_audio = encoder_audio  # Coqui AudioProcessor of the encoder's config

    def voice_latents(self, samples: np.ndarray, sample_rate: int) -> VoiceLatents:
        audio = _resampled(samples, sample_rate, int(self._encoder_audio.sample_rate))
        if not self.encoder.use_torch_spec:
            mel = self._encoder_audio.melspectrogram(audio[0].numpy())
            audio = torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32))[None]
        with torch.inference_mode():
            d_vector = self.encoder.compute_embedding(audio.to(self.device))
        return VoiceLatents({"d_vector": d_vector.reshape(1, -1).cpu()})

    def _generate(self, text: str, language: str, latents: VoiceLatents, rate: float) -> Any:
        vits = self.network
        ids = vits.tokenizer.text_to_ids(text, language=language)
        if not ids:
            raise InputError(f"The sentence {text[:40]!r} has no characters {self.model_id} can speak.")
        language_id = vits.language_manager.name_to_id[language]
        vits.length_scale = float(vits.config.model_args.length_scale) / rate
        outputs = vits.inference(
            torch.tensor([ids], dtype=torch.long, device=self.device),
            aux_input={"d_vectors": latents.tensors["d_vector"].to(self.device),
                       "language_ids": torch.tensor([language_id], device=self.device)},
        )
        return outputs["model_outputs"][0, 0].cpu().numpy()


def _config_error(folder: Path, model_id: str, exc: BaseException) -> InputError:
    return InputError(f"{folder / 'config.json'} is not a {model_id} configuration ({_first_line(exc)}); "
                      f"give the folder of the published {model_id} files.")


def _load_state(model: torch.nn.Module, state: dict, folder: Path, model_id: str) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(
            f"The weights in {folder} do not fit {model_id}'s configuration ({_first_line(exc)}); "
            "give the config.json that came with them."
        ) from None


def _xtts_checkpoint(path: Path) -> dict:
    """XTTS-v2's model.pth: weights only, plus the config dataclasses its pickle names."""
    from TTS.config.shared_configs import BaseDatasetConfig
    from TTS.tts.configs.xtts_config import XttsArgs, XttsAudioConfig, XttsConfig

    allowed = [XttsConfig, XttsArgs, XttsAudioConfig, BaseDatasetConfig,
               (XttsArgs, "TTS.tts.models.xtts.XttsArgs"), (XttsAudioConfig, "TTS.tts.models.xtts.XttsAudioConfig")]
    with torch.serialization.safe_globals(allowed):
        checkpoint = load_weights_file(path, advice="use the model.pth published with XTTS-v2")
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise InputError(f"{path.name} holds no XTTS weights; use the model.pth published with XTTS-v2.")
    # Files saved by Coqui's trainer prefix keys with "xtts." and keep training-only parts.
    training_only = ("torch_mel_spectrogram_style_encoder", "torch_mel_spectrogram_dvae", "dvae")
    return {key.removeprefix("xtts."): value for key, value in state.items()
            if key.removeprefix("xtts.").split(".")[0] not in training_only}


def build_xtts(path: Path, policy: DevicePolicy, part: Optional[str] = None) -> XttsModel:
    """The registry's builder for "xtts-v2": config.json + vocab.json + model.pth -> XttsModel."""
    folder = Path(path)
    require_files(folder, "xtts-v2", XTTS_FILES)
    import_coqui()
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    try:
        config = XttsConfig()
        config.load_json(str(folder / "config.json"))
        network = Xtts(config)
        network.tokenizer = VoiceBpeTokenizer(vocab_file=str(folder / "vocab.json"))
        network.init_models()
    except (ValueError, KeyError, TypeError, AttributeError, Exception) as exc:  # coqpit raises plain Exceptions
        raise _config_error(folder, "xtts-v2", exc) from None
    _load_state(network, _xtts_checkpoint(folder / "model.pth"), folder, "xtts-v2")
    network.gpt.init_gpt_for_inference(kv_cache=network.args.kv_cache)
    network.eval()
    model = XttsModel(network, tuple(config.languages), int(config.audio.output_sample_rate))
    return model.to(policy.device).eval()


def build_your_tts(path: Path, policy: DevicePolicy, part: Optional[str] = None) -> YourTtsModel:
    """The registry's builder for "your-tts": VITS + speaker encoder + language ids -> YourTtsModel."""
    folder = Path(path)
    require_files(folder, "your-tts", YOUR_TTS_FILES)
    model_file = first_present(folder, "your-tts", YOUR_TTS_MODEL)
    encoder_file = first_present(folder, "your-tts", YOUR_TTS_ENCODER)
    import_coqui()
    from TTS.config import load_config
    from TTS.encoder.utils.generic_utils import setup_encoder_model
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits
    from TTS.utils.audio import AudioProcessor

    try:
        config = VitsConfig()
        config.load_json(str(folder / "config.json"))
        # Paths inside the published config point at its author's disk: use this folder's files,
        # and no training-time speaker files (the voice comes from the sample).
        config.model_args.use_speaker_encoder_as_loss = False
        config.model_args.speakers_file = config.speakers_file = None
        config.model_args.d_vector_file = config.d_vector_file = None
        config.model_args.language_ids_file = config.language_ids_file = str(folder / "language_ids.json")
        network = Vits(config)
        encoder_config = load_config(str(folder / "config_se.json"))
        encoder = setup_encoder_model(encoder_config)
    except Exception as exc:  # coqpit and Coqui's builders raise plain Exceptions for a wrong config
        raise _config_error(folder, "your-tts", exc) from None
    advice = "use the files published with YourTTS"
    state = load_weights_file(model_file, advice=advice)
    state = {k: v for k, v in state.get("model", state).items() if "speaker_encoder" not in k}
    _load_state(network, state, folder, "your-tts")
    encoder_state = load_weights_file(encoder_file, advice=advice)
    _load_state(encoder, encoder_state.get("model", encoder_state), folder, "your-tts speaker encoder")
    network.eval()
    encoder.eval()
    languages = tuple(network.language_manager.name_to_id)
    model = YourTtsModel(network, languages, int(config.audio.sample_rate), encoder,
                         AudioProcessor(encoder_config.audio))
    if not languages:
        raise AvatarError(f"{folder / 'language_ids.json'} lists no languages; give the folder of the published files.")
    return model.to(policy.device).eval()
