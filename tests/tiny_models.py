"""Tiny diffusers pipelines built from configs, for tests that cannot reach a model hub.

Each helper builds a real pipeline (UNet, VAE, CLIP text encoder, tokenizer,
scheduler) with a handful of channels and saves it with `save_pretrained` in
safetensors, exactly as a downloaded checkpoint folder looks. The weights are
random (seeded), so the images are noise, but every line of the real loading and
inference code runs. A 2-step 64x64 run takes a fraction of a second on a CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

# Byte-level BPE needs every byte-mapped character as a token; a few words and
# merges on top make prompts tokenise into more than single characters.
_WORDS = ["a", "portrait", "of", "face", "person", "photo", "cat", "sky", "red", "blue"]


# A CLIP text encoder small enough to run in milliseconds; both tiny pipelines use it.
TINY_TEXT_ENCODER = dict(
    vocab_size=1000,
    hidden_size=16,
    intermediate_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    max_position_embeddings=77,
    bos_token_id=0,
    eos_token_id=1,
    pad_token_id=1,
)


def _bytes_to_unicode() -> list[str]:
    """The 256 printable characters CLIP's BPE uses to stand for raw bytes."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            chars.append(256 + extra)
            extra += 1
    return [chr(c) for c in chars]


def save_tiny_tokenizer(path: Path) -> Path:
    """Write a CLIPTokenizer (vocab.json + merges.txt) with model_max_length=77 into `path`."""
    from transformers import CLIPTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokens = ["<|startoftext|>", "<|endoftext|>"]
    base = _bytes_to_unicode()
    tokens += base + [c + "</w>" for c in base]
    merges = []
    for word in _WORDS:
        # Merge the word left to right so it ends as one "word</w>" token.
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            merged = pieces[0] + pieces[1]
            merges.append(f"{pieces[0]} {pieces[1]}")
            if merged not in tokens:
                tokens.append(merged)
            pieces = [merged] + pieces[2:]
    merges = list(dict.fromkeys(merges))
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    (path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"), model_max_length=77)
    tokenizer.save_pretrained(str(path))
    return path


def _tiny_parts(in_channels: int, seed: int):
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    import tempfile

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=in_channels,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(4, 4, 4, 4),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        sample_size=64,
    )
    text_config = CLIPTextConfig(**TINY_TEXT_ENCODER, projection_dim=16)
    text_encoder = CLIPTextModel(text_config)
    with tempfile.TemporaryDirectory() as tmp:
        save_tiny_tokenizer(Path(tmp))
        tokenizer = CLIPTokenizer.from_pretrained(tmp)
    assert len(tokenizer) <= text_config.vocab_size, "the tiny vocabulary must fit the text encoder"
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return dict(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler)


def save_tiny_sd(path: Path, seed: int = 0) -> Path:
    """Save a tiny text-to-image StableDiffusionPipeline into `path` (a diffusers folder)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(**_tiny_parts(in_channels=4, seed=seed), safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    path = Path(path)
    pipe.save_pretrained(str(path), safe_serialization=True)
    return path


def save_tiny_sd_inpaint(path: Path, seed: int = 0) -> Path:
    """Save a tiny StableDiffusionInpaintPipeline (9-channel UNet) into `path`."""
    from diffusers import StableDiffusionInpaintPipeline

    pipe = StableDiffusionInpaintPipeline(
        **_tiny_parts(in_channels=9, seed=seed), safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    path = Path(path)
    pipe.save_pretrained(str(path), safe_serialization=True)
    return path


def save_tiny_clipseg(path: Path, seed: int = 0) -> Path:
    """Save a tiny CLIPSeg model and its processor into `path` (a transformers folder)."""
    from transformers import (
        CLIPSegConfig,
        CLIPSegForImageSegmentation,
        CLIPSegProcessor,
        CLIPTokenizer,
        ViTImageProcessor,
    )
    import tempfile

    torch.manual_seed(seed)
    config = CLIPSegConfig(
        text_config=TINY_TEXT_ENCODER,
        vision_config=dict(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=16,
        reduce_dim=8,
        extract_layers=[1],
        decoder_num_attention_heads=2,
        decoder_intermediate_size=16,
    )
    model = CLIPSegForImageSegmentation(config).eval()
    with tempfile.TemporaryDirectory() as tmp:
        save_tiny_tokenizer(Path(tmp))
        tokenizer = CLIPTokenizer.from_pretrained(tmp)
    image_processor = ViTImageProcessor(
        do_resize=True,
        size={"height": 32, "width": 32},
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    processor = CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer)
    path = Path(path)
    model.save_pretrained(str(path), safe_serialization=True)
    processor.save_pretrained(str(path))
    return path
