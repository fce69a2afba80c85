"""Face enhancement through time: flicker is measured, and the stabiliser keeps it near the input's own.

Seeded weights restore faces into garbage colours that jump with every small change of
the crop, the worst case for flicker: on a short real clip (dlib's landmarks per
frame, as unsteady as real ones), frame-by-frame enhancement flickers far more than
the clip itself; with the stabiliser (smoothed alignment, change limited by the
input's change) the flicker stays within 10% of the clip's own.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from avatar.enhance import FaceEnhancer
from avatar.enhance.checkpoint import load_checked
from avatar.enhance.gfpgan import UNUSED_PREFIXES, FaceRestorer
from avatar.enhance.temporal import StableFaceEnhancer, face_mask, flicker, relative_flicker
from avatar.face.detect import find_faces
from avatar.video.io import open_video
from tests.conftest import FIXTURES, PROJECT_DIR
from tests.seeded_weights import seeded_state_dict

FRAMES = 3


@pytest.fixture(scope="module")
def restorer() -> FaceRestorer:
    keys = json.loads((PROJECT_DIR / "tests" / "reference" / "gfpgan" / "keys.json").read_text())["keys"]
    return load_checked(FaceRestorer(), seeded_state_dict(keys), "GFPGAN", "advice", UNUSED_PREFIXES)


@pytest.fixture(scope="module")
def clip() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Consecutive frames of a real speaker at 192 px and dlib's landmarks in each."""
    frames = []
    with open_video(FIXTURES / "real_talk" / "woman_glasses.mp4") as video:
        for index, frame in enumerate(video.frames()):
            if index == FRAMES:
                break
            frames.append(cv2.resize(frame, (192, 192), interpolation=cv2.INTER_AREA))
    landmarks = [find_faces(frame)[0].landmarks for frame in frames]
    return frames, landmarks


@pytest.fixture(scope="module")
def enhanced(restorer, clip) -> dict[bool, list[np.ndarray]]:
    frames, landmarks = clip
    result = {}
    for stable in (False, True):
        enhancer = StableFaceEnhancer(FaceEnhancer(restorer), stable=stable)
        result[stable] = [enhancer.process(frame, points) for frame, points in zip(frames, landmarks)]
        assert enhancer.log.face_found == [True] * FRAMES
    return result


def test_flicker_is_the_mean_change_between_frames_inside_the_mask():
    still = [np.full((4, 4, 3), 10, np.uint8)] * 3
    assert flicker(still) == 0
    rising = [np.full((4, 4, 3), value, np.uint8) for value in (0, 6, 18)]
    assert flicker(rising) == pytest.approx(9.0)
    mask = np.zeros((4, 4), np.float32)
    mask[:2] = 1
    changed = [rising[0], rising[1].copy()]
    changed[1][2:] = 200  # outside the mask: not counted
    assert flicker(changed, mask) == pytest.approx(6.0)
    assert relative_flicker(rising, still[:1] + rising[1:]) == pytest.approx(9.0 / 8.0)  # (10, 6, 18) changes by 4 then 12


def test_frame_by_frame_enhancement_flickers_and_the_stabiliser_keeps_it_within_ten_percent(clip, enhanced):
    frames, landmarks = clip
    mask = face_mask(landmarks[0], (192, 192))
    off = relative_flicker(enhanced[False], frames, mask)
    on = relative_flicker(enhanced[True], frames, mask)
    assert off > 1.5, f"seeded weights should flicker without the stabiliser (relative flicker {off:.2f})"
    assert on <= 1.1, f"relative flicker with the stabiliser is {on:.2f}"
    assert not np.array_equal(enhanced[True][0], frames[0])  # the face was redrawn, not left alone


def test_a_lost_face_passes_through_and_restarts_the_memory(restorer, clip):
    frames, landmarks = clip
    enhancer = StableFaceEnhancer(FaceEnhancer(restorer))
    first = enhancer.process(frames[0], landmarks[0])
    lost = enhancer.process(frames[1], None, detect=False)
    assert np.array_equal(lost, frames[1])
    again = enhancer.process(frames[0], landmarks[0])
    assert np.array_equal(again, first)  # nothing carried over the gap: the same frame gives the same result
    assert enhancer.log.faces_lost == [1]
    assert enhancer.log.entry()["faces_lost"] == [[1, 1]]
