"""Wav2Lip on a video reproduces the original's video path: the face boxes it averages over frames, the crops the
network sees, the audio window of each frame, the frame each output step shows, and the network's output.

The numbers in `tests/reference/wav2lip_video/` come from the original inference script run on twelve frames with
a stand-in face detector (its README says how); no original code is here.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from avatar.talk.wav2lip.audio import mel_windows, melspectrogram
from avatar.talk.wav2lip.checkpoint import load_wav2lip
from avatar.talk.wav2lip.engine import BOX_SMOOTHING, network_input, padded_box, smoothed_boxes
from avatar.video.dub import plan_frames
from tests.conftest import PROJECT_DIR
from tests.test_wav2lip_audio import samples  # noqa: F401 - the fixture's sound as the original loaded it
from tests.wav2lip_weights import write_checkpoint

REFERENCE = PROJECT_DIR / "tests" / "reference" / "wav2lip_video"
FIXTURES = PROJECT_DIR.parent / "shared" / "fixtures"


@pytest.fixture(scope="module")
def original() -> dict:
    with np.load(REFERENCE / "video_path.npz") as data:
        numbers = {key: data[key] for key in data.files}
    return {**json.loads((REFERENCE / "video_path.json").read_text()), **numbers}


@pytest.fixture(scope="module")
def frames(original) -> list[np.ndarray]:
    """The twelve RGB frames the original was given (as BGR): the fixture moved a little further each frame."""
    base = cv2.imread(str(FIXTURES / "obama_small.jpg"))
    return [np.ascontiguousarray(np.roll(base, (k // 3, 2 * k), axis=(0, 1))[..., ::-1])
            for k in range(original["frames"])]


def _boxes(original, shape) -> np.ndarray:
    padded = [padded_box(tuple(rect), shape, tuple(original["pads"])) for rect in original["rects"]]
    return smoothed_boxes(np.array(padded))


def test_face_boxes_are_padded_and_averaged_over_frames_as_the_original_does(original, frames):
    ours = _boxes(original, frames[0].shape[:2])
    y0, y1, x0, x1 = original["coords"].T  # the original's order: top, bottom, left, right
    assert np.array_equal(ours, np.stack([x0, y0, x1, y1], axis=1))
    raw = np.array([padded_box(tuple(rect), frames[0].shape[:2]) for rect in original["rects"]])
    assert not np.array_equal(ours, raw)  # the averaging is there to be checked


def test_a_short_run_of_boxes_is_averaged_whole():
    boxes = np.array([[0, 0, 10, 10], [3, 1, 13, 11], [5, 2, 16, 13]])
    assert len(boxes) < BOX_SMOOTHING
    assert smoothed_boxes(boxes).tolist() == [[2, 1, 13, 11]] * 3


def test_the_network_sees_the_originals_crops(original, frames):
    for frame, box, face in zip(frames, _boxes(original, frames[0].shape[:2]), original["faces"]):
        seen = network_input(frame, tuple(int(v) for v in box))
        whole = seen[3:].transpose(1, 2, 0)
        assert np.array_equal(np.round(whole * 255).astype(np.uint8), face)  # BGR, resized as the original did
        assert not seen[:3, 48:].any() and np.array_equal(seen[:3, :48], seen[3:, :48])


def test_each_step_shows_the_frame_and_hears_the_window_the_original_gives_it(original, samples):  # noqa: F811
    steps, count, fps = original["steps"], original["frames"], original["fps"]
    assert plan_frames(count, steps, "loop").tolist() == [step % count for step in range(steps)]
    windows = mel_windows(melspectrogram(samples), steps, fps)
    assert float(np.abs(windows[original["mel_steps"], 0] - original["mel"]).max()) <= 1e-3  # as the whole mel


def test_the_network_draws_the_originals_mouths_from_our_inputs(original, frames, samples, tmp_path):  # noqa: F811
    model = load_wav2lip(write_checkpoint(tmp_path / "wav2lip_gan.pth", prefix="module."))
    steps, count = original["pred_steps"], original["frames"]
    boxes = _boxes(original, frames[0].shape[:2])
    faces = np.stack([network_input(frames[step % count], tuple(int(v) for v in boxes[step % count]))
                      for step in steps])
    windows = mel_windows(melspectrogram(samples), original["steps"], original["fps"])[steps]
    with torch.inference_mode():
        mouths = model(torch.from_numpy(np.ascontiguousarray(windows)), torch.from_numpy(faces)).numpy()
    error = float(np.abs(mouths - original["pred"]).max())
    assert error <= 1e-4, error  # as the network alone (test_wav2lip_model)
