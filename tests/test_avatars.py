"""The shipped default portraits: listing, lookup, thumbnails, and usable faces."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from avatar import config
from avatar.avatars import get_default_avatar, list_default_avatars, thumbnail
from avatar.errors import InputError
from avatar.face.detect import find_face, find_faces
from avatar.face.sidecar import write_sidecar

DRAWN = ("maya", "noor", "sam")


def load(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_the_shipped_avatars_are_listed_sorted_with_sidecars():
    avatars = list_default_avatars()
    names = [a.name for a in avatars]
    assert names == sorted(names)
    assert {"astronaut", *DRAWN} <= set(names)
    for avatar in avatars:
        assert avatar.image_path.is_file()
        assert avatar.landmarks_path is not None and avatar.landmarks_path.is_file()
        assert avatar.title


def test_credits_name_every_image():
    credits = (config.default_avatars_dir() / "CREDITS.md").read_text()
    for avatar in list_default_avatars():
        assert avatar.image_path.name in credits


def test_get_default_avatar_and_unknown_name():
    assert get_default_avatar("astronaut").image_path.name == "astronaut.png"
    with pytest.raises(InputError, match="no default avatar called 'nobody'.*astronaut") as info:
        get_default_avatar("nobody")
    for name in DRAWN:
        assert name in str(info.value)


@pytest.mark.parametrize("name", ["astronaut", *DRAWN])
def test_every_default_avatar_yields_a_plausible_face(name):
    avatar = get_default_avatar(name)
    image = load(avatar.image_path)
    face = find_face(image, landmarks_path=avatar.landmarks_path)
    assert face.source == "sidecar"
    pts = face.landmarks
    x0, y0, x1, y1 = face.box
    assert np.all((pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1))
    assert face.width > 80 and face.height > 80

    eyes_y = pts[36:48, 1].mean()
    nose_base_y = pts[33, 1]
    outer_top = pts[[50, 51, 52], 1].mean()
    outer_bottom = pts[[56, 57, 58], 1].mean()
    inner_y = pts[60:68, 1].mean()
    assert eyes_y < nose_base_y < outer_top < inner_y < outer_bottom < pts[8, 1]
    mouth_width = pts[54, 0] - pts[48, 0]
    jaw_width = pts[16, 0] - pts[0, 0]
    assert 0.25 < mouth_width / jaw_width < 0.65
    assert abs(pts[48:60, 0].mean() - pts[33, 0]) < 0.08 * jaw_width


def test_astronaut_sidecar_matches_dlib():
    avatar = get_default_avatar("astronaut")
    image = load(avatar.image_path)
    detected = find_faces(image)[0]
    stored = find_face(image, landmarks_path=avatar.landmarks_path)
    assert np.abs(detected.landmarks - stored.landmarks).max() < 1.0


@pytest.mark.parametrize("name", DRAWN)
def test_drawn_avatar_roughly_agrees_with_dlib(name):
    """Informative: dlib need not see a drawn face, but where it does, the drawn points should agree."""
    avatar = get_default_avatar(name)
    image = load(avatar.image_path)
    stored = find_face(image, landmarks_path=avatar.landmarks_path)
    faces = find_faces(image)
    if not faces:
        pytest.skip(f"dlib finds no face in the drawn portrait {name}")
    closest = min(faces, key=lambda f: np.linalg.norm(f.landmarks.mean(0) - stored.landmarks.mean(0)))
    jaw_width = stored.landmarks[16, 0] - stored.landmarks[0, 0]
    for idx in (range(36, 42), range(42, 48), range(48, 68)):
        a = closest.landmarks[list(idx)].mean(0)
        b = stored.landmarks[list(idx)].mean(0)
        assert np.linalg.norm(a - b) < 0.12 * jaw_width


def test_thumbnail_is_small_and_cached():
    avatar = get_default_avatar("maya")
    thumb = thumbnail(avatar)
    assert thumb.dtype == np.uint8 and thumb.ndim == 3 and thumb.shape[2] == 3
    assert max(thumb.shape[:2]) == 160
    assert thumbnail(avatar) is thumb
    assert max(thumbnail(avatar, size=64).shape[:2]) == 64


def test_other_folder_image_without_sidecar(tmp_path, monkeypatch):
    monkeypatch.setenv("AVATAR_DEFAULT_AVATARS", str(tmp_path))
    assert list_default_avatars() == []
    with pytest.raises(InputError, match="none installed"):
        get_default_avatar("astronaut")

    Image.new("RGB", (40, 30), (200, 100, 50)).save(tmp_path / "my_photo.jpg")
    Image.new("RGB", (40, 30)).save(tmp_path / "b.png")
    write_sidecar(tmp_path / "b.landmarks.json", np.full((68, 2), 10.0), (40, 30))
    (tmp_path / "notes.txt").write_text("not an image")
    avatars = list_default_avatars()
    assert [a.name for a in avatars] == ["b", "my_photo"]
    assert avatars[0].landmarks_path == tmp_path / "b.landmarks.json"
    assert avatars[1].landmarks_path is None
    assert avatars[1].title == "My Photo"
    assert thumbnail(avatars[1]).shape == (30, 40, 3)
