"""Rest pose and mouth interior: portraits that show their teeth close, and reuse them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar.face.detect import inner_lip_gap, landmarks_in_box
from avatar.speech.timeline import Phoneme, Speech
from avatar.talk.engine import BuiltinEngine, TalkOptions
from avatar.talk.mouth_rest import close_mouth
from avatar.talk.pipeline import prepare_portrait
from avatar.talk.rig import crop_box, face_axes

ROOT = Path(__file__).resolve().parents[1]
FPS = 25
OPTIONS = TalkOptions(max_size=512, still=True, blinks=False, lead=0.05)
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
    picture = prepare_portrait(portrait_path, OPTIONS.max_size)
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
