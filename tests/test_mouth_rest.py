"""Rest pose and mouth interior: portraits that show their teeth close, and reuse them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar.face.detect import inner_lip_gap, landmarks_in_box
from avatar.speech.timeline import Phoneme, Speech
from avatar.talk.builtin.engine import BuiltinEngine
from avatar.talk.engine import TalkOptions
from avatar.talk.builtin.mouth_lips import opening_outline
from avatar.talk.builtin.mouth_rest import close_mouth
from avatar.talk.pipeline import prepare_portrait
from avatar.talk.builtin.rig import crop_box, face_axes

ROOT = Path(__file__).resolve().parents[1]
FPS = 25
OPTIONS = TalkOptions(size=512, still=True, blinks=False, lead=0.05)
# (ipa, seconds): speech with two long pauses and lip closures.
PHRASE = [(" ", 0.5), ("h", 0.08), ("ɑ", 0.3), ("m", 0.12), ("ə", 0.2), (" ", 0.5), ("b", 0.1), ("æ", 0.3),
          ("t", 0.1), (" ", 0.6)]


def phrase() -> tuple[Speech, list[Phoneme]]:
    phonemes, t = [], 0.0
    for ipa, seconds in PHRASE:
        phonemes.append(Phoneme(ipa, t, t + seconds))
        t += seconds
    rate = 16000
    samples = (0.1 * np.sin(np.arange(int(t * rate)) * 0.06)).astype(np.float32)
    return Speech(samples, rate, phonemes), phonemes


def render(portrait_path):
    picture = prepare_portrait(portrait_path, OPTIONS.size)
    speech, phonemes = phrase()
    frames = [f.copy() for f in BuiltinEngine().render(picture.image, picture.face, speech, OPTIONS)]
    return picture, frames, phonemes


def gaps(picture, frames, indices):
    return np.array([inner_lip_gap(landmarks_in_box(frames[i], picture.face.box)) for i in indices])


def pause_frames(phonemes, margin=0.1):
    """Frames well inside pauses of 0.3 s or more (the mouth leads the sound by OPTIONS.lead)."""
    out = []
    for p in phonemes:
        if p.ipa == " " and p.end - p.start >= 0.3:
            first = int(np.ceil((p.start + margin - OPTIONS.lead) * FPS))
            last = int(np.floor((p.end - margin - OPTIONS.lead) * FPS))
            out += list(range(max(first, 0), last + 1))
    return out


@pytest.mark.parametrize("portrait", ["astronaut", "smile_teeth"])
def test_teeth_showing_portraits_close_in_pauses(portrait, fixtures):
    path = ROOT / "default_avatars/astronaut.png" if portrait == "astronaut" else fixtures / "smile_teeth.png"
    picture, frames, phonemes = render(path)
    landmarks = landmarks_in_box(picture.image, picture.face.box)
    assert inner_lip_gap(landmarks) > 0.06, "the portrait itself shows its teeth"
    paused = pause_frames(phonemes)
    assert len(paused) >= 15
    assert gaps(picture, frames, paused).max() <= 0.03
    vowels = [int(round(((p.start + p.end) / 2 - OPTIONS.lead) * FPS)) for p in phonemes if p.ipa in ("ɑ", "æ")]
    assert gaps(picture, frames, vowels).min() > 0.08


def prepared(path, size=512):
    picture = prepare_portrait(path, size)
    return picture, BuiltinEngine().prepare(picture.image, picture.face)


def test_a_closed_mouth_is_left_as_it_is():
    picture = prepare_portrait(ROOT / "default_avatars/maya.png", 512)
    x0, y0, x1, y1 = crop_box(picture.face, picture.image.shape[:2])
    crop = picture.image[y0:y1, x0:x1]
    eye_distance, down = face_axes(picture.face.landmarks)
    closed = close_mouth(crop, picture.face.landmarks - [x0, y0], down, eye_distance)
    assert closed.image is crop and closed.gap < 1.0


@pytest.mark.parametrize("name,source", [("astronaut", "portrait"), ("smile_teeth", "portrait"), ("obama", "portrait"),
                                         ("maya", "synthesized"), ("biden", "synthesized")])
def test_teeth_are_reused_only_when_the_portrait_shows_them(name, source, fixtures):
    path = ROOT / f"default_avatars/{name}.png" if name in ("astronaut", "maya") else next(fixtures.glob(f"{name}.*"))
    _, rig = prepared(path)
    assert rig.interior.source == source


def test_upper_teeth_stay_with_the_skull_and_lower_teeth_follow_the_jaw():
    picture, rig = prepared(ROOT / "default_avatars/astronaut.png")
    landmarks = rig.rig.landmarks[48:68].astype(np.float64)
    landmarks[[17, 18, 19], 1] += 0.4 * rig.rig.eye_distance  # a wide-open mouth, the upper lip lifted
    landmarks[[13, 14, 15], 1] -= 0.1 * rig.rig.eye_distance
    lips = landmarks[12:]

    def paint(jaw_drop: float) -> np.ndarray:
        crop = rig.source.copy()
        rig.interior.paint(crop, opening_outline(landmarks), np.zeros(2), np.array([0.0, jaw_drop]))
        return crop.astype(np.float32)

    changed = np.abs(paint(6.0) - paint(0.0)).mean(axis=2)
    upper = next(layer for layer in rig.interior.layers if layer.rides == "skull")
    lower = next(layer for layer in rig.interior.layers if layer.rides == "jaw" and layer is not upper)
    (ux, uy), (lx, ly) = upper.origin.astype(int), lower.origin.astype(int)
    # Well inside the opening, where the upper teeth are opaque, nothing moves.
    opaque = upper.rgba[..., 3] >= 0.999
    rows, cols = np.nonzero(opaque)
    inside = (rows + uy > lips[[1, 2, 3], 1].max() + 1) & (cols + ux > lips[1, 0]) & (cols + ux < lips[3, 0])
    assert inside.sum() > 20
    assert changed[rows[inside] + uy, cols[inside] + ux].max() < 1.0, "the upper teeth must not move with the jaw"
    assert changed[ly:, lx:lx + lower.rgba.shape[1]].max() > 20, "the lower teeth must move with the jaw"


def test_the_same_portrait_rigs_to_the_same_interior():
    _, first = prepared(ROOT / "default_avatars/noor.png")
    _, second = prepared(ROOT / "default_avatars/noor.png")
    for a, b in zip(first.interior.layers, second.interior.layers):
        assert np.array_equal(a.rgba, b.rgba)
