"""Image and audio input, with the validation and limits every task relies on.

Everything a user hands us passes through here, so that a corrupt file, a wrong
type or an enormous picture ends in one clear `InputError` instead of a traceback
deep inside a model. Video writing lives in `avatar/video_writer.py`.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import BinaryIO, Optional, Union

import av
import numpy as np
from PIL import Image, ImageOps

from avatar.errors import InputError
from avatar.speech.timeline import Speech

ImageSource = Union[str, Path, bytes, BinaryIO, np.ndarray]
AudioSource = Union[str, Path, bytes, BinaryIO]

IMAGE_FORMATS = {"PNG", "JPEG", "WEBP"}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
MAX_IMAGE_SIDE = 4096
# Anything larger than this many pixels is refused before decoding: a small file
# that claims a huge canvas is a decompression bomb, not a portrait.
MAX_IMAGE_PIXELS = 80_000_000

AUDIO_EXTENSIONS = (".wav", ".mp3", ".m4a", ".ogg", ".flac")
MAX_AUDIO_SECONDS = 600.0


def _name_of(source: object) -> str:
    if isinstance(source, (str, Path)):
        return Path(source).name
    return getattr(source, "name", "") or ""


def _called(name: str) -> str:
    """' name' to splice into a message after a noun, or '' for an unnamed upload."""
    return f" {name}" if name else ""


def read_source(source: Union[str, Path, bytes, BinaryIO], kind: str) -> tuple[bytes, str]:
    """The bytes and a display name of a path, raw bytes, or an open/uploaded file."""
    name = _name_of(source)
    if isinstance(source, bytes):
        return source, name
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"The {kind} file {path} does not exist; check the path.")
        return path.read_bytes(), name
    if hasattr(source, "getvalue"):
        return source.getvalue(), name
    return source.read(), name


def load_image(source: ImageSource, max_side: int = MAX_IMAGE_SIDE, name: Optional[str] = None) -> np.ndarray:
    """Decode a PNG, JPEG or WebP into an RGB uint8 array, upright and size-capped.

    EXIF orientation is applied (phones store portraits sideways), transparency is
    composited on white, grayscale, palette and 16-bit images are converted, and the
    long side is scaled down to `max_side`.
    """
    if isinstance(source, np.ndarray):
        return _as_rgb_array(source, max_side)
    data, source_name = read_source(source, "image")
    name = name or source_name
    try:
        with warnings.catch_warnings():
            # Our own pixel limit below gives the clearer message.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image_format = image.format
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise InputError(
                    f"The image{_called(name)} is {width}x{height} pixels, more than this app accepts "
                    f"({MAX_IMAGE_PIXELS // 1_000_000} megapixels); scale it down and try again."
                )
            if image_format not in IMAGE_FORMATS:
                raise InputError(
                    f"The image{_called(name)} is a {image_format or 'unknown'} file; use a PNG, JPEG or WebP image."
                )
            image.load()
    except InputError:
        raise
    except Image.DecompressionBombError:
        raise InputError(f"The image{_called(name)} claims an enormous canvas (over {MAX_IMAGE_PIXELS // 1_000_000} megapixels); it is refused as unsafe to decode.") from None
    except Exception:
        raise InputError(f"Cannot read image{_called(name)}: the file is corrupt or not an image; try another file.") from None
    image = ImageOps.exif_transpose(image)
    return _as_rgb_array(np.asarray(_to_rgb(image)), max_side)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0, 0, 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def _as_rgb_array(array: np.ndarray, max_side: int) -> np.ndarray:
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise InputError("The image must be RGB or grayscale; convert it and try again.")
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    image = Image.fromarray(array[..., :3])
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.asarray(image))


def resize_long_side(image: np.ndarray, long_side: int, even: bool = True) -> np.ndarray:
    """Scale an RGB array so its long side is at most `long_side` (never upscale).

    With `even`, both sides are made even by trimming at most one pixel, as H.264's
    yuv420p needs.
    """
    height, width = image.shape[:2]
    scale = min(1.0, long_side / max(height, width))
    if scale < 1.0:
        size = (max(2, round(width * scale)), max(2, round(height * scale)))
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
    if even:
        image = image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]
    return np.ascontiguousarray(image)


def save_image(path: Union[str, Path], image: np.ndarray) -> Path:
    """Write an image atomically (temp file, then rename), format from the suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix or ".png", dir=path.parent)
    os.close(fd)
    try:
        Image.fromarray(image).save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class AudioTooLong(InputError):
    """A recording longer than the caller's limit (raised while decoding, so it is not decoded in full)."""


def load_audio(source: AudioSource, max_seconds: float = MAX_AUDIO_SECONDS, name: Optional[str] = None) -> Speech:
    """Decode a wav, mp3, m4a, ogg or flac recording to mono float32 at its own rate.

    Refuses files that are not audio, are corrupt, or are longer than `max_seconds`
    (checked while decoding, so a long file is not decoded in full).
    """
    name = name or _name_of(source)
    suffix = Path(name).suffix.lower()
    if suffix and suffix not in AUDIO_EXTENSIONS:
        raise InputError(f"The file {name} is not a supported audio type; use one of {', '.join(AUDIO_EXTENSIONS)}.")
    data, _ = read_source(source, "audio")
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise InputError(f"The file{_called(name)} has no audio track; upload a voice recording.")
            speech = decode_sound(container, max_seconds, name)
    except InputError:
        raise
    except Exception:
        raise InputError(f"Cannot read audio{_called(name)}: the file is corrupt or not audio; try another recording.") from None
    if speech.duration < 0.1:
        raise InputError(f"The recording{_called(name)} holds less than 0.1 s of audio; upload a longer recording.")
    return speech


def decode_sound(container, max_seconds: float = float("inf"), name: Optional[str] = None) -> Speech:
    """The first audio stream of an open PyAV container, mixed to mono float32 at its own rate.

    Shared by recordings and by the sound tracks of videos. Raises InputError once
    more than `max_seconds` has been decoded, so a long file is not decoded in full;
    PyAV's own errors are left to the caller, which knows what the file was.
    """
    stream = container.streams.audio[0]
    rate = stream.codec_context.sample_rate or stream.rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    chunks: list[np.ndarray] = []
    total = 0
    for frame in container.decode(stream):
        for out in resampler.resample(frame):
            chunks.append(out.to_ndarray().reshape(-1))
            total += len(chunks[-1])
        if total > max_seconds * rate:
            raise AudioTooLong(
                f"The recording{_called(name)} is longer than {max_seconds / 60:g} minutes; trim it and try again."
            )
    chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return Speech(samples=np.clip(samples, -1.0, 1.0), sample_rate=int(rate))


def write_wav(path: Union[str, Path], speech: Speech) -> Path:
    """Write 16-bit mono PCM, atomically, a slice at a time (memory stays flat)."""
    import wave

    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    with wave.open(str(tmp), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(speech.sample_rate)
        for start in range(0, len(speech.samples), 1 << 16):
            piece = np.clip(speech.samples[start : start + (1 << 16)], -1.0, 1.0)
            handle.writeframes((piece * 32767.0).astype("<i2").tobytes())
    os.replace(tmp, path)
    return path
