"""Landmark sidecars: `<name>.landmarks.json` next to a portrait.

A sidecar holds the 68 face landmarks (dlib order) for one image, so a portrait
whose points are already known (a drawn default avatar, or a photo whose points
were computed once) needs no detection at startup and cannot be mis-detected.

Format::

    {"format": "dlib-68", "image_size": [width, height],
     "landmarks": [[x, y], ... 68 pairs ...]}
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.errors import InputError

FORMAT = "dlib-68"
NUM_LANDMARKS = 68
SUFFIX = ".landmarks.json"


@dataclass
class Sidecar:
    """68 landmarks (float32, shape (68, 2), pixels) and the (width, height) they refer to."""

    landmarks: np.ndarray
    image_size: tuple[int, int]


def sidecar_path_for(image_path: str | Path) -> Path:
    """The sidecar that belongs to `image_path`: `portrait.png` -> `portrait.landmarks.json`."""
    image_path = Path(image_path)
    return image_path.with_name(image_path.stem + SUFFIX)


def read_sidecar(path: str | Path) -> Sidecar:
    """Read and validate a sidecar; any problem is an InputError naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"The landmark file {path.name} does not exist; check the path.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"The landmark file {path.name} is not valid JSON; regenerate it or remove it.") from None

    def bad(why: str) -> InputError:
        return InputError(f"The landmark file {path.name} is not usable ({why}); regenerate it or remove it.")

    if not isinstance(data, dict):
        raise bad("expected a JSON object")
    try:
        points = np.asarray(data["landmarks"], dtype=np.float64)
    except KeyError:
        raise bad("no 'landmarks' list") from None
    except (TypeError, ValueError):
        raise bad("landmarks must be numbers") from None
    if points.shape != (NUM_LANDMARKS, 2):
        raise bad(f"expected {NUM_LANDMARKS} [x, y] points, found shape {list(points.shape)}")
    if not np.all(np.isfinite(points)):
        raise bad("landmarks must be finite numbers")

    size = data.get("image_size")
    if (
        not isinstance(size, (list, tuple))
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise bad("'image_size' must be [width, height] in pixels")
    width, height = size
    margin = 0.25 * max(width, height)  # a jaw may run slightly off-frame, not far off
    if points.min() < -margin or points[:, 0].max() > width + margin or points[:, 1].max() > height + margin:
        raise bad("points lie outside the image")
    return Sidecar(landmarks=points.astype(np.float32), image_size=(width, height))


def write_sidecar(path: str | Path, landmarks: np.ndarray, image_size: tuple[int, int]) -> Path:
    """Write a sidecar atomically (temp file + rename), so a crash leaves no half file."""
    path = Path(path)
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (NUM_LANDMARKS, 2) or not np.all(np.isfinite(points)):
        raise ValueError(f"landmarks must be a finite ({NUM_LANDMARKS}, 2) array, got shape {points.shape}")
    width, height = (int(v) for v in image_size)
    data = {
        "format": FORMAT,
        "image_size": [width, height],
        "landmarks": [[_round(x), _round(y)] for x, y in points],
    }
    text = json.dumps(data, indent=None, separators=(", ", ": "))
    # One point per line keeps the file readable and diffs small.
    text = text.replace("], [", "],\n  [")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; a sidecar is ordinary data
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def fit_to_image(sidecar: Sidecar, width: int, height: int, name: str = "landmark file") -> np.ndarray:
    """The sidecar's points in an image of `width` x `height`.

    Images are sometimes resized on load (a size cap), so points are scaled when the
    aspect ratio matches; a different aspect ratio means the sidecar belongs to
    another image.
    """
    sw, sh = sidecar.image_size
    if (sw, sh) == (width, height):
        return sidecar.landmarks.copy()
    if not math.isclose(sw / sh, width / height, rel_tol=0.02):
        raise InputError(
            f"The {name} was made for a {sw}x{sh} image but the image is {width}x{height}; "
            "use the matching image or remove the landmark file."
        )
    scale = np.array([width / sw, height / sh], dtype=np.float32)
    return (sidecar.landmarks * scale).astype(np.float32)


def _round(v: float) -> float:
    return round(float(v), 2)
