"""Face detection, landmarks and landmark sidecars on real photos."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from avatar.errors import InputError, NoFaceError
from avatar.face.detect import find_face, find_faces, predictor_path
from avatar.face.sidecar import read_sidecar, sidecar_path_for, write_sidecar


def load(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def mean(face, idx) -> np.ndarray:
    return face.landmarks[list(idx)].mean(axis=0)


def test_predictor_is_found_without_importing_the_package():
    assert predictor_path().name == "shape_predictor_68_face_landmarks.dat"
    assert predictor_path().stat().st_size > 50_000_000


@pytest.mark.parametrize(
    "name, count",
    [("obama.jpg", 1), ("biden.jpg", 1), ("obama_small.jpg", 1), ("two_people.jpg", 2), ("no_face.png", 0)],
)
def test_detection_counts(fixtures, name, count):
    assert len(find_faces(load(fixtures / name))) == count


@pytest.mark.parametrize("name", ["obama.jpg", "biden.jpg", "obama_small.jpg"])
def test_landmarks_are_a_plausible_face(fixtures, name):
    image = load(fixtures / name)
    face = find_face(image)
    assert face.source == "dlib"
    assert face.landmarks.shape == (68, 2) and face.landmarks.dtype == np.float32
    x0, y0, x1, y1 = face.box
    assert 0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]
    margin = 0.2 * face.width  # the jaw line may run a little outside dlib's box
    pts = face.landmarks
    assert np.all(pts[:, 0] > x0 - margin) and np.all(pts[:, 0] < x1 + margin)
    assert np.all(pts[:, 1] > y0 - margin) and np.all(pts[:, 1] < y1 + margin)

    eyes_y = mean(face, range(36, 48))[1]
    brows_y = mean(face, range(17, 27))[1]
    nose_tip_y = face.landmarks[30, 1]
    mouth_y = mean(face, range(48, 68))[1]
    chin_y = face.landmarks[8, 1]
    assert brows_y < eyes_y < nose_tip_y < mouth_y < chin_y
    # dlib order: index 0/36/48 on the image left, 16/45/54 on the image right.
    assert pts[0, 0] < pts[16, 0]
    assert pts[36, 0] < pts[39, 0] < pts[42, 0] < pts[45, 0]
    assert pts[48, 0] < pts[51, 0] < pts[54, 0]
    # Mouth centred under the nose.
    assert abs(mean(face, range(48, 60))[0] - pts[33, 0]) < 0.1 * face.width


def test_small_face_is_found(fixtures):
    face = find_face(load(fixtures / "obama_small.jpg"))
    assert 60 <= face.width <= 160


def test_several_faces_largest_first_and_face_index(fixtures):
    image = load(fixtures / "two_people.jpg")
    faces = find_faces(image)
    areas = [f.width * f.height for f in faces]
    assert areas == sorted(areas, reverse=True)
    assert find_face(image).box == faces[0].box
    assert find_face(image, face_index=0).box == faces[0].box
    assert find_face(image, face_index=1).box == faces[1].box
    with pytest.raises(InputError, match="2 faces found") as info:
        find_face(image, face_index=2)
    assert not isinstance(info.value, NoFaceError)
    with pytest.raises(InputError, match="2 faces found"):
        find_face(image, face_index=-1)


def test_no_face_gives_a_clear_error(fixtures):
    with pytest.raises(NoFaceError, match="No face was found in the image"):
        find_face(load(fixtures / "no_face.png"))


def test_results_are_cached_but_callers_get_their_own_copy(fixtures):
    image = load(fixtures / "obama.jpg")
    first = find_face(image)
    first.landmarks[:] = 0
    again = find_face(image.copy())
    assert again.landmarks.max() > 0
    assert again.box == first.box


def test_large_image_detected_on_a_downscaled_copy_keeps_full_resolution_points(fixtures):
    image = load(fixtures / "obama.jpg")
    factor = 2.5  # long side 2843 px: detection runs on a copy, the predictor on the full image
    big = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    small_face = find_face(image)
    big_face = find_face(big)
    error = np.linalg.norm(big_face.landmarks / factor - small_face.landmarks, axis=1)
    assert error.mean() < 0.03 * small_face.width


def test_rejects_non_rgb_arrays():
    with pytest.raises(ValueError):
        find_faces(np.zeros((10, 10), np.uint8))


def test_sidecar_round_trip(tmp_path, fixtures):
    image = load(fixtures / "obama.jpg")
    face = find_face(image)
    image_path = tmp_path / "portrait.jpg"
    path = sidecar_path_for(image_path)
    assert path == tmp_path / "portrait.landmarks.json"
    write_sidecar(path, face.landmarks, (image.shape[1], image.shape[0]))
    assert [p.name for p in tmp_path.iterdir()] == ["portrait.landmarks.json"]  # no temp file left

    sidecar = read_sidecar(path)
    assert sidecar.image_size == (image.shape[1], image.shape[0])
    np.testing.assert_allclose(sidecar.landmarks, face.landmarks, atol=0.01)

    from_sidecar = find_face(image, landmarks_path=path)
    assert from_sidecar.source == "sidecar"
    np.testing.assert_allclose(from_sidecar.landmarks, face.landmarks, atol=0.01)
    x0, y0, x1, y1 = from_sidecar.box
    assert x0 <= face.landmarks[:, 0].min() and x1 >= face.landmarks[:, 0].max()
    assert y0 <= face.landmarks[:, 1].min() and y1 >= face.landmarks[:, 1].max()

    # The same image loaded at half size (a size cap): points are scaled to fit.
    half = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    scaled = find_face(half, landmarks_path=path)
    np.testing.assert_allclose(scaled.landmarks, face.landmarks * 0.5, atol=1.0)

    # Another image's shape: the sidecar does not belong to it.
    with pytest.raises(InputError, match="made for a 910x1137 image"):
        find_face(np.zeros((500, 500, 3), np.uint8), landmarks_path=path)


@pytest.mark.parametrize(
    "content, why",
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"image_size": [100, 100]}), "no 'landmarks'"),
        (json.dumps({"image_size": [100, 100], "landmarks": [[1, 2]] * 67}), "expected 68"),
        (json.dumps({"image_size": [100, 100], "landmarks": [[1, 2, 3]] * 68}), "expected 68"),
        (json.dumps({"image_size": [100, 100], "landmarks": [["a", 2]] * 68}), "must be numbers"),
        (json.dumps({"landmarks": [[1, 2]] * 68}), "image_size"),
        (json.dumps({"image_size": [0, 100], "landmarks": [[1, 2]] * 68}), "image_size"),
        (json.dumps({"image_size": [100, 100], "landmarks": [[1000, 2]] * 68}), "outside the image"),
    ],
)
def test_bad_sidecar_is_an_input_error(tmp_path, content, why):
    path = tmp_path / "x.landmarks.json"
    path.write_text(content)
    with pytest.raises(InputError, match=why):
        read_sidecar(path)
    with pytest.raises(InputError, match="x.landmarks.json"):
        find_face(np.zeros((100, 100, 3), np.uint8), landmarks_path=path)


def test_missing_sidecar_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_sidecar(tmp_path / "missing.landmarks.json")
