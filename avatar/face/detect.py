"""Face detection and 68-point landmarks with dlib.

The detector is dlib's HOG frontal-face detector (upsample 1); the landmarks come
from the 68-point shape predictor shipped in the `face_recognition_models` package.
Both are CPU-only and pip-installed, so the main job works offline.

Speed: HOG time grows with pixel count, so a large image is detected on a copy
whose long side is at most `DETECT_LONG_SIDE`; the box is scaled back and the shape
predictor runs on the full-resolution image, so landmarks keep full precision.
Results are cached by image content because the UI asks for the same image many
times.

Threads: dlib releases Python's lock while it works, so detections on two threads
run on two cores. A HOG detector is not safe to share between threads at once,
so each call borrows one of its own from a pool (a second is made only while the
first is busy; which one a call gets does not change its result). The shape
predictor is shared (one 68-point model in memory): dlib's rule is that an object
is used by one thread at a time unless documented otherwise, and its Python call
keeps Python's lock throughout (800 calls take as long on two threads as on one),
so two calls never overlap; it is fast (0.5 ms a face), so a pool would gain
nothing. The recognition network keeps buffers between calls, so it runs one call
at a time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from avatar.errors import InputError, ModelNotInstalled, NoFaceError
from avatar.face.face import Face
from avatar.face.sidecar import fit_to_image, read_sidecar

DETECT_LONG_SIDE = 1000
"""Detect on a copy no larger than this; with upsample 1 faces down to ~40 px of that copy are found."""

UPSAMPLE = 1
CACHE_SIZE = 16
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE, CHIP_PADDING = 150, 0.25
"""The aligned face picture the recognition network reads (its own size and dlib's default padding)."""
SAME_PERSON = 0.6
"""Face descriptors closer than this belong to the same person (dlib's own threshold;
on the real talking clips: 0.13-0.51 for one person, 0.80 or more between people)."""

_load_lock = threading.Lock()
_cache_lock = threading.Lock()
_predictor: object | None = None
_recognizer: object | None = None
_recognizer_lock = threading.Lock()
"""The recognition network keeps its layers' outputs between calls: one call at a time."""
_idle_detectors: list[object] = []
_cache: OrderedDict[str, list[Face]] = OrderedDict()


def predictor_path() -> Path:
    """Where the 68-point model lies, found without importing `face_recognition_models`.

    Importing that package fails on current setuptools (its `__init__` needs
    `pkg_resources`), so its folder is located through the import system instead.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is not None:
        folders = list(spec.submodule_search_locations or [])
        if spec.origin:
            folders.append(str(Path(spec.origin).parent))
        for folder in folders:
            path = Path(folder) / "models" / PREDICTOR_FILE
            if path.is_file():
                return path
    raise ModelNotInstalled(
        "The face landmark model is not installed; run `pip install face-recognition-models`."
    )


def _dlib():
    try:
        import dlib
    except ImportError:
        raise ModelNotInstalled("The dlib face detector is not installed; run `pip install dlib-bin`.") from None
    return dlib


def _shape_predictor():
    """The 68-point shape predictor, loaded once per process and shared by all threads (its calls keep Python's
    lock, so they never overlap: see the module docstring)."""
    global _predictor
    with _load_lock:
        if _predictor is None:
            _predictor = _dlib().shape_predictor(str(predictor_path()))
        return _predictor


@contextmanager
def _detector() -> Iterator[object]:
    """A HOG face detector used by no other thread while the block runs (kept for the next call afterwards)."""
    with _load_lock:
        detector = _idle_detectors.pop() if _idle_detectors else None
    if detector is None:
        detector = _dlib().get_frontal_face_detector()
    try:
        yield detector
    finally:
        with _load_lock:
            _idle_detectors.append(detector)


def _image_key(image: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((image.shape, image.dtype.str)).encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 array of shape (H, W, 3), got {getattr(image, 'shape', type(image))}")
    return np.ascontiguousarray(image)


def _copy(faces: list[Face]) -> list[Face]:
    """Copies, so a caller that edits landmarks does not change the cache."""
    return [Face(box=f.box, landmarks=f.landmarks.copy(), source=f.source) for f in faces]


def find_faces(image: np.ndarray) -> list[Face]:
    """All faces in an RGB uint8 image, largest box area first (equal areas: most confident first).

    Each Face has its dlib box clipped to the image and 68 landmarks in dlib order,
    in the pixel coordinates of `image`. An image without faces gives [].
    """
    image = _check_image(image)
    key = _image_key(image)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _copy(_cache[key])
    predictor = _shape_predictor()
    faces = []
    for full, box in _detections(image):
        shape = predictor(image, full)
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        faces.append(Face(box=box, landmarks=points, source="dlib"))
    with _cache_lock:
        _cache[key] = faces
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return _copy(faces)


def face_boxes(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The boxes `find_faces` gives for `image`, in its order, without fitting landmarks in them.

    For callers that fit the points themselves elsewhere (the video tracker fits
    them at full resolution in boxes found on a scaled copy), so the fit on the
    searched image would be thrown away. Not cached.
    """
    return [box for _, box in _detections(_check_image(image))]


def _detections(image: np.ndarray) -> list[tuple[object, tuple[int, int, int, int]]]:
    """(dlib rectangle, box clipped to the image) of each face, largest box area first.

    A large image is searched on a copy scaled to `DETECT_LONG_SIDE`; the rectangles
    are scaled back to `image`'s pixels.
    """
    dlib = _dlib()
    height, width = image.shape[:2]
    scale = min(1.0, DETECT_LONG_SIDE / max(height, width))
    small = image if scale == 1.0 else cv2.resize(
        image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
    )
    with _detector() as detector:
        rects, scores, _ = detector.run(small, UPSAMPLE, 0.0)
    found = []
    for rect, score in zip(rects, scores):
        full = dlib.rectangle(
            int(round(rect.left() / scale)),
            int(round(rect.top() / scale)),
            int(round(rect.right() / scale)),
            int(round(rect.bottom() / scale)),
        )
        box = (max(0, full.left()), max(0, full.top()), min(width, full.right()), min(height, full.bottom()))
        found.append((full, box, score))
    # HOG boxes come in a few pyramid sizes, so equal areas are common: break ties
    # by detector confidence (a real face beats a face-like badge of the same size).
    found.sort(key=lambda f: (-(f[1][2] - f[1][0]) * (f[1][3] - f[1][1]), -f[2]))
    return [(full, box) for full, box, _ in found]


def landmarks_in_box(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """dlib's 68 landmarks of the face in `box` (x0, y0, x1, y1), without detection.

    For measuring rendered frames, where the face is known to stay in place.
    """
    import dlib

    image = _check_image(image)
    shape = _shape_predictor()(image, dlib.rectangle(*(int(v) for v in box)))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def face_descriptor(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """dlib's 128-number description of who the face at `landmarks` (68 points) is.

    Two faces whose descriptors lie closer than `SAME_PERSON` are the same person;
    following a person through a video's cuts needs that, as place and size in the
    frame change from shot to shot. About 60-80 ms a face on a laptop CPU; the model
    ships in `face_recognition_models` beside the landmark model. The same as
    `chip_descriptor(face_chip(image, landmarks))`.
    """
    return chip_descriptor(face_chip(image, landmarks))


def face_chip(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The 150x150 RGB picture of the face at `landmarks` that `face_descriptor` describes (about 1 ms).

    Kept instead of the descriptor when it may never be needed: the network's 60-80 ms
    are then spent only if it is.
    """
    dlib = _dlib()
    image = _check_image(image)
    points = [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks]
    x0, y0 = np.floor(landmarks.min(axis=0)).astype(int)
    x1, y1 = np.ceil(landmarks.max(axis=0)).astype(int)
    shape = dlib.full_object_detection(dlib.rectangle(int(x0), int(y0), int(x1), int(y1)), points)
    return dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING)


def chip_descriptor(chip: np.ndarray) -> np.ndarray:
    """The descriptor of a `face_chip`."""
    global _recognizer
    dlib = _dlib()
    with _load_lock:
        if _recognizer is None:
            path = predictor_path().parent / RECOGNITION_FILE
            if not path.is_file():
                raise ModelNotInstalled(
                    "The face recognition model is not installed; run `pip install face-recognition-models`."
                )
            _recognizer = dlib.face_recognition_model_v1(str(path))
        recognizer = _recognizer
    with _recognizer_lock:
        return np.array(recognizer.compute_face_descriptor(np.ascontiguousarray(chip)), dtype=np.float32)


def inner_lip_gap(landmarks: np.ndarray) -> float:
    """The mean distance between the inner lips (pairs 61-67, 62-66, 63-65) over the eye distance."""
    eyes = float(np.linalg.norm(landmarks[36:42].mean(axis=0) - landmarks[42:48].mean(axis=0)))
    pairs = np.linalg.norm(landmarks[[67, 66, 65]] - landmarks[[61, 62, 63]], axis=1)
    return float(pairs.mean()) / eyes


def find_face(image: np.ndarray, face_index: int | None = None, landmarks_path: Path | None = None) -> Face:
    """The face to animate.

    - `landmarks_path` given: the sidecar's points (scaled if the image was resized),
      `source="sidecar"`, no detection.
    - otherwise detection; faces are ordered by box area, largest first, and
      `face_index` picks one of them (default 0, the largest).

    Raises NoFaceError when no face is found and InputError when `face_index` is out
    of range or the sidecar does not fit the image.
    """
    image = _check_image(image)
    height, width = image.shape[:2]
    if landmarks_path is not None:
        points = fit_to_image(read_sidecar(landmarks_path), width, height, name=f"landmark file {Path(landmarks_path).name}")
        return Face(box=box_from_landmarks(points, width, height), landmarks=points, source="sidecar")

    faces = find_faces(image)
    if not faces:
        raise NoFaceError("No face was found in the image; use a clear, front-facing portrait.")
    index = 0 if face_index is None else face_index
    if not 0 <= index < len(faces):
        found = f"{len(faces)} face" + ("" if len(faces) == 1 else "s")
        raise InputError(
            f"Face number {index} does not exist: {found} found (numbered 0 to {len(faces) - 1}, largest first)."
        )
    return faces[index]


def box_from_landmarks(points: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """A dlib-like box around 68 landmarks: the points' extent, padded a little (more above the brows)."""
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    w, h = x1 - x0, y1 - y0
    box = (x0 - 0.05 * w, y0 - 0.15 * h, x1 + 0.05 * w, y1 + 0.05 * h)
    return (
        max(0, int(np.floor(box[0]))),
        max(0, int(np.floor(box[1]))),
        min(width, int(np.ceil(box[2]))),
        min(height, int(np.ceil(box[3]))),
    )

