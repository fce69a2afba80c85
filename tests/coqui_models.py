"""Tiny Coqui voice-cloning models, built from their configs in the tests (no download).

They are the published architectures (XTTS-v2's GPT + HiFi-GAN decoder + speaker
encoder; YourTTS's VITS + language embedding + H/ASP speaker encoder) shrunk where
the configs allow, with seeded random weights, saved in the published file layout:
the same folders a user imports with `avatar models import`. They speak noise, but
every step (tokenizer, latents, sampling, decoding, loading) is Coqui's real code.
"""

from __future__ import annotations

from pathlib import Path

import torch

XTTS_LANGUAGES = ("en", "es", "fr", "de")
YOUR_TTS_LANGUAGES = ("en", "fr-fr", "pt-br")
_CHARACTERS = "abcdefghijklmnopqrstuvwxyz'.,!?-0123456789áéíóúñüöäàèçß"


def _xtts_vocab(path: Path) -> None:
    """A character-level BPE vocabulary with XTTS's special and language tokens."""
    from tokenizers import Tokenizer
    from tokenizers.models import BPE
    from tokenizers.pre_tokenizers import Whitespace

    specials = ["[STOP]", "[UNK]", "[SPACE]", "[START]"] + [f"[{code}]" for code in XTTS_LANGUAGES]
    vocab = {token: index for index, token in enumerate(specials + list(_CHARACTERS))}
    tokenizer = Tokenizer(BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.add_special_tokens(specials)
    tokenizer.save(str(path))


def write_tiny_xtts(folder: Path, seed: int = 0, legacy_config: bool = False) -> Path:
    """config.json, vocab.json and model.pth of a 22 M-parameter XTTS (GPT of one 32-wide layer).

    `legacy_config` pickles the config object into model.pth under its old module
    path, as the published XTTS-v2 file does.
    """
    from TTS.tts.configs.xtts_config import XttsArgs, XttsAudioConfig, XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _xtts_vocab(folder / "vocab.json")
    config = XttsConfig()
    config.languages = list(XTTS_LANGUAGES)
    args = config.model_args
    args.gpt_layers, args.gpt_n_model_channels, args.gpt_n_heads, args.decoder_input_dim = 1, 32, 2, 32
    args.gpt_max_audio_tokens, args.gpt_max_text_tokens, args.gpt_max_prompt_tokens = 24, 100, 20
    args.gpt_num_audio_tokens, args.gpt_start_audio_token, args.gpt_stop_audio_token = 64, 62, 63
    args.gpt_use_perceiver_resampler = True
    config.save_json(str(folder / "config.json"))
    torch.manual_seed(seed)
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(vocab_file=str(folder / "vocab.json"))
    model.init_models()
    checkpoint = {"model": model.state_dict()}
    if legacy_config:
        moved = (XttsArgs, XttsAudioConfig)
        try:
            for cls in moved:
                cls.__module__ = "TTS.tts.models.xtts"
            checkpoint["config"] = config
            torch.save(checkpoint, folder / "model.pth")
        finally:
            for cls in moved:
                cls.__module__ = "TTS.tts.configs.xtts_config"
    else:
        torch.save(checkpoint, folder / "model.pth")
    return folder


def write_tiny_your_tts(folder: Path, seed: int = 0) -> Path:
    """config.json, model_file.pth, config_se.json, model_se.pth and language_ids.json of a small YourTTS."""
    import json

    from TTS.encoder.configs.speaker_encoder_config import SpeakerEncoderConfig
    from TTS.encoder.utils.generic_utils import setup_encoder_model
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "language_ids.json").write_text(json.dumps({code: i for i, code in enumerate(YOUR_TTS_LANGUAGES)}))
    config = VitsConfig()
    config.audio.sample_rate = 16000
    config.use_phonemes = False
    config.text_cleaner = "multilingual_cleaners"
    config.use_language_embedding = True
    args = config.model_args
    args.hidden_channels, args.hidden_channels_ffn_text_encoder = 16, 32
    args.num_heads_text_encoder, args.num_layers_text_encoder = 2, 1
    args.num_layers_flow, args.num_layers_posterior_encoder = 1, 1
    args.upsample_rates_decoder, args.upsample_kernel_sizes_decoder = [8, 8, 4], [16, 16, 8]
    args.upsample_initial_channel_decoder = 32
    args.resblock_kernel_sizes_decoder, args.resblock_dilation_sizes_decoder = [3], [[1, 3, 5]]
    args.use_d_vector_file, args.d_vector_dim = True, 64
    args.use_language_embedding, args.embedded_language_dim = True, 4
    args.use_sdp = True
    config.model_args.language_ids_file = config.language_ids_file = str(folder / "language_ids.json")
    torch.manual_seed(seed)
    model = Vits(config)
    # The published config names files on its author's disk; the builder must not follow them.
    config.model_args.language_ids_file = config.language_ids_file = "/nonexistent/language_ids.json"
    config.save_json(str(folder / "config.json"))
    torch.save({"model": model.state_dict(), "step": 1}, folder / "model_file.pth")

    encoder_config = SpeakerEncoderConfig(num_loader_workers=0, num_classes_in_batch=1, num_utter_per_class=1)
    encoder_config.audio.update({"sample_rate": 16000, "hop_length": 160, "win_length": 400, "fft_size": 512,
                                 "num_mels": 64, "preemphasis": 0.97, "resample": False})
    encoder_config.model_params = {"model_name": "resnet", "input_dim": 64, "proj_dim": 64,
                                   "use_torch_spec": True, "log_input": True}
    encoder_config.save_json(str(folder / "config_se.json"))
    encoder = setup_encoder_model(encoder_config)
    torch.save({"model": encoder.state_dict()}, folder / "model_se.pth")
    return folder
