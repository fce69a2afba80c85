"""A tiny Stable Diffusion x4 upscaler built from configs, for tests without a model hub.

It has the real upscaler's shape where the code depends on it: a 7-channel UNet
(4 latent + 3 noisy low-res image channels) that takes the noise level as a class
label, a VAE with three blocks (two upsamplings: 4x4 output pixels per latent
pixel) and the upscaler's latent scaling 0.08333, a DDIM v-prediction scheduler
and a DDPM scheduler that noises the low-res input. The weights are random
(seeded), so the pictures are noise, but loading, tiling and inference run the
real diffusers code.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from tests.tiny_models import TINY_TEXT_ENCODER, save_tiny_tokenizer


def save_tiny_sd_upscaler(path: Path, seed: int = 0) -> Path:
    """Save a tiny StableDiffusionUpscalePipeline into `path` (a diffusers folder)."""
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=7,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
        num_class_embeds=1000,  # the noise level, as in the real upscaler
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(4, 4, 4),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        sample_size=32,
        scaling_factor=0.08333,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(**TINY_TEXT_ENCODER, projection_dim=16))
    with tempfile.TemporaryDirectory() as tmp:
        save_tiny_tokenizer(Path(tmp))
        tokenizer = CLIPTokenizer.from_pretrained(tmp)
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.0001, beta_end=0.02,
                              prediction_type="v_prediction", clip_sample=False, set_alpha_to_one=False)
    low_res_scheduler = DDPMScheduler(beta_schedule="linear", beta_start=0.0001, beta_end=0.02)
    pipe = StableDiffusionUpscalePipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                          low_res_scheduler=low_res_scheduler, scheduler=scheduler,
                                          max_noise_level=350)
    path = Path(path)
    pipe.save_pretrained(str(path), safe_serialization=True)
    return path


# -- text-to-video and image-to-video ------------------------------------------------


def save_tiny_text_to_video(path: Path, seed: int = 0) -> Path:
    """Save a tiny TextToVideoSDPipeline (ModelScope layout) into `path`.

    A two-level UNet3DConditionModel with 8 and 16 channels (spatial and temporal
    attention on the second level), the tiny SD VAE (4 levels: 8x8 pixels per
    latent, as in ModelScope) and the shared tiny CLIP text encoder and tokenizer.
    """
    from diffusers import DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel

    from tests.tiny_models import _tiny_parts

    parts = _tiny_parts(in_channels=4, seed=seed)
    torch.manual_seed(seed)
    unet = UNet3DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock3D", "CrossAttnDownBlock3D"),
        up_block_types=("CrossAttnUpBlock3D", "UpBlock3D"),
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        cross_attention_dim=16,
        attention_head_dim=4,
    )
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = TextToVideoSDPipeline(vae=parts["vae"], text_encoder=parts["text_encoder"], tokenizer=parts["tokenizer"],
                                 unet=unet, scheduler=scheduler)
    path = Path(path)
    pipe.save_pretrained(str(path), safe_serialization=True)
    return path


def save_tiny_svd(path: Path, seed: int = 0) -> Path:
    """Save a tiny StableVideoDiffusionPipeline into `path`.

    The temporal VAE and the spatio-temporal UNet hard-code GroupNorm with 32
    groups, so their channels cannot go below 32; the VAE has two levels (2x2
    pixels per latent) and the UNet two (attention only on the lower one). The
    UNet takes 8 input channels (noisy latents + the image's latents) and three
    added time ids (fps, motion bucket, noise augmentation), as the real one does.
    The CLIP vision encoder sees 224x224 images (the pipeline always resizes to
    that) in 32-px patches, and projects to the UNet's cross-attention width.
    """
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    unet = UNetSpatioTemporalConditionModel(
        sample_size=16,
        in_channels=8,
        out_channels=4,
        down_block_types=("DownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal"),
        up_block_types=("CrossAttnUpBlockSpatioTemporal", "UpBlockSpatioTemporal"),
        block_out_channels=(32, 32),
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=24,
        layers_per_block=1,
        cross_attention_dim=16,
        num_attention_heads=(2, 2),
        num_frames=25,
    )
    vae = AutoencoderKLTemporalDecoder(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        block_out_channels=(32, 32),
        layers_per_block=1,
        latent_channels=4,
        sample_size=32,
    )
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        image_size=224, patch_size=32, projection_dim=16,
    ))
    feature_extractor = CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224})
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       prediction_type="v_prediction", interpolation_type="linear",
                                       use_karras_sigmas=True, timestep_spacing="leading", steps_offset=1,
                                       sigma_min=0.002, sigma_max=700.0)
    pipe = StableVideoDiffusionPipeline(vae=vae, image_encoder=image_encoder, unet=unet, scheduler=scheduler,
                                        feature_extractor=feature_extractor)
    path = Path(path)
    pipe.save_pretrained(str(path), safe_serialization=True)
    return path
