"""SadTalker's audio -> motion coefficients against the original code's numbers (seeded weights).

tests/reference/sadtalker/coefficients/README.md says how each number was made.
The seeded weights are written into a real safetensors file with the published
`audio2exp.` / `audio2pose.` key layout and read back through the project's
checkpoint reader and loaders, so the loading path is tested too.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from scipy.io import wavfile

from avatar.errors import InputError
from avatar.talk.sadtalker.audio import (
    MelWindows,
    frame_count,
    mel_windows,
    speech_windows,
    whole_frames,
    window_starts,
)
from avatar.talk.sadtalker.audio2exp import Audio2Exp, expressions, load_audio2exp
from avatar.talk.sadtalker.audio2pose import Audio2Pose, load_audio2pose, poses
from avatar.talk.sadtalker.checkpoint import read_checkpoint, section
from avatar.talk.sadtalker.coefficients import (
    blink_ratio,
    motion_coefficients,
    smooth_poses,
)
from avatar.talk.wav2lip.audio import melspectrogram
from tests.conftest import FIXTURES, PROJECT_DIR
from tests.seeded_weights import seeded_state_dict

REFERENCE = PROJECT_DIR / "tests" / "reference" / "sadtalker" / "coefficients"
TOLERANCE = 1e-4
FILE = "SadTalker_V0.0.2_256.safetensors"


def reference(name: str) -> dict[str, np.ndarray]:
    with np.load(REFERENCE / name) as data:
        return dict(data)


@pytest.fixture(scope="module")
def published_keys() -> dict[str, list[int]]:
    return json.loads((REFERENCE / "keys.json").read_text())["keys"]


@pytest.fixture(scope="module")
def tensors(published_keys, tmp_path_factory) -> dict[str, torch.Tensor]:
    """The seeded weights, written as the published file lays them out and read back."""
    path = tmp_path_factory.mktemp("sadtalker") / FILE
    save_file(seeded_state_dict(published_keys), str(path))
    return read_checkpoint(path)


@pytest.fixture(scope="module")
def audio2exp(tensors) -> Audio2Exp:
    return load_audio2exp(section(tensors, "audio2exp", FILE))


@pytest.fixture(scope="module")
def audio2pose(tensors) -> Audio2Pose:
    return load_audio2pose(section(tensors, "audio2pose", FILE))


@pytest.fixture(scope="module")
def audio() -> dict[str, np.ndarray]:
    return reference("audio.npz")


@pytest.fixture(scope="module")
def samples(audio) -> np.ndarray:
    """The clip the original read: the fixture's first samples, int16 / 32768, mean of channels (librosa.load)."""
    rate, data = wavfile.read(FIXTURES / "RD_Radio31_000.wav")
    assert rate == 16000 and data.dtype == np.int16
    return (data[: int(audio["clip_samples"])].astype(np.float32) / 32768.0).mean(axis=1, dtype=np.float32)


def max_error(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(np.asarray(a, np.float64) - b).max())


# --- audio front end -------------------------------------------------------------------


def test_whole_frames_as_the_original_counts_them():
    assert frame_count(48333) == 75 and frame_count(640) == 1 and frame_count(639) == 0
    assert len(whole_frames(np.zeros(48333, np.float32))) == 48000
    with pytest.raises(InputError, match="shorter than one video frame"):
        whole_frames(np.zeros(600, np.float32))


def test_windows_start_two_frames_early_and_clamp_each_step():
    assert window_starts(range(6)).tolist() == [-6, -3, 0, 3, 6, 9]  # int() truncates -6.4 and -3.2 towards zero
    mel = np.arange(80 * 20, dtype=np.float32).reshape(80, 20)
    windows = mel_windows(mel, 8)
    assert windows.shape == (8, 80, 16)
    np.testing.assert_array_equal(windows[0, 0], [0] * 7 + list(range(1, 10)))
    np.testing.assert_array_equal(windows[7, 0], list(range(16, 20)) + [19] * 12)  # starts at step 16 of 20
    lazy = MelWindows(mel, 8)
    assert len(lazy) == 8
    np.testing.assert_array_equal(lazy[3:6], windows[3:6])
    np.testing.assert_array_equal(lazy[5:100], windows[5:])


def test_mel_and_windows_match_get_data(samples, audio):
    mel = melspectrogram(whole_frames(samples))
    error_mel = max_error(mel, audio["mel"])
    windows = speech_windows(samples)
    assert len(windows) == int(audio["frames"]) == 75
    error_windows = max_error(windows[0:75], audio["windows"])
    print(f"max abs error vs original get_data: mel {error_mel:.3g}, windows {error_windows:.3g}")
    assert error_mel <= TOLERANCE and error_windows <= TOLERANCE


# --- the networks -------------------------------------------------------------------------


def test_state_dicts_are_the_published_ones(published_keys, audio2pose):
    def ours(net: torch.nn.Module, prefix: str) -> dict[str, list[int]]:
        return {prefix + k: list(v.shape) for k, v in net.state_dict().items()}

    published_exp = {k: v for k, v in published_keys.items() if k.startswith("audio2exp.")}
    assert ours(Audio2Exp(), "audio2exp.") == published_exp
    from avatar.talk.sadtalker.audio2pose import _training_only_shapes

    fresh = Audio2Pose()
    inference = ours(fresh, "audio2pose.")
    training = {"audio2pose." + k: list(v) for k, v in _training_only_shapes(fresh).items()}
    assert not set(inference) & set(training)
    assert inference | training == {k: v for k, v in published_keys.items() if k.startswith("audio2pose.")}


def test_audio2exp_matches_the_original(audio2exp, audio):
    ref = reference("audio2exp.npz")
    out = expressions(audio2exp, audio["windows"], ref["ref_exp"], ref["blink"])
    error = max_error(out, ref["output"])
    print(f"Audio2Exp max abs error vs original: {error:.3g} (output std {ref['output'].std():.3g})")
    assert out.dtype == np.float32 and error <= TOLERANCE


def test_audio2pose_matches_the_original(audio2pose, audio):
    ref = reference("audio2pose.npz")
    windows = audio["windows"]  # 75 frames: two full 32-frame clips, then the last 10 from a last clip
    out = poses(audio2pose, windows, ref["ref_pose"], int(ref["pose_style"]), torch.Generator().manual_seed(int(ref["seed"])))
    error = max_error(out, ref["output"])
    np.testing.assert_array_equal(out[0], ref["ref_pose"])
    short = int(ref["short_frames"])  # fewer than 33 frames: one clip padded at the front
    out_short = poses(audio2pose, windows[:short], ref["ref_pose"], int(ref["pose_style"]),
                      torch.Generator().manual_seed(int(ref["short_seed"])))
    error_short = max_error(out_short, ref["output_short"])
    print(f"Audio2Pose max abs error vs original: {error:.3g} (75 frames), {error_short:.3g} ({short} frames)")
    assert out.dtype == np.float32 and error <= TOLERANCE and error_short <= TOLERANCE


def test_pose_style_must_be_one_of_46(audio2pose, audio):
    for style in (-1, 46, 7.5, True, "3"):
        with pytest.raises(InputError, match="pose style"):
            poses(audio2pose, audio["windows"][:3], np.zeros(6), style, None)


def test_audio2pose_weights_are_checked(tensors):
    sd = section(tensors, "audio2pose", FILE)
    without_training = {k: v for k, v in sd.items() if not k.startswith(("netG.encoder.", "netD_motion."))}
    assert len(without_training) < len(sd)
    load_audio2pose(without_training)  # the training-only halves are not needed
    with pytest.raises(InputError, match="unexpected key netG.extra"):
        load_audio2pose({**sd, "netG.extra": torch.zeros(1)})
    with pytest.raises(InputError, match="netD_motion.seq.3.bias"):
        load_audio2pose({**sd, "netD_motion.seq.3.bias": torch.zeros(2)})
    missing = dict(sd)
    del missing["netG.decoder.classbias"]
    with pytest.raises(InputError, match="missing netG.decoder.classbias"):
        load_audio2pose(missing)
    with pytest.raises(InputError, match="audio2exp weights' mapping1.weight"):
        load_audio2exp({**section(tensors, "audio2exp", FILE), "mapping1.weight": torch.zeros(64, 576)})


# --- the whole stage ----------------------------------------------------------------------------


def test_motion_coefficients_match_audio2coeff_generate(audio2exp, audio2pose, samples):
    ref = reference("coefficients.npz")
    motion = motion_coefficients(audio2exp, audio2pose, samples, ref["source"], int(ref["pose_style"]),
                                 int(ref["seed"]), blink=ref["blink"])
    error = max_error(motion.coeffs, ref["coeffs"])
    print(f"coefficients max abs error vs original Audio2Coeff.generate: {error:.3g}")
    assert motion.frames == 75 and motion.coeffs.dtype == np.float32 and error <= TOLERANCE
    np.testing.assert_array_equal(motion.blink, ref["blink"])


def test_blink_reference_matches_the_original(audio2exp, audio2pose, samples):
    ref = reference("coefficients.npz")
    motion = motion_coefficients(audio2exp, audio2pose, samples, ref["source"], int(ref["ref_pose_style"]),
                                 int(ref["ref_seed"]), blink_reference=ref["blink_reference"])
    error = max_error(motion.coeffs, ref["coeffs_blink_reference"])
    print(f"coefficients with a blink reference video, max abs error vs original: {error:.3g}")
    assert error <= TOLERANCE and not motion.blink.any()
    with pytest.raises(InputError, match="not both"):
        motion_coefficients(audio2exp, audio2pose, samples, ref["source"], 0, 0, blink=ref["blink"],
                            blink_reference=ref["blink_reference"])


def test_seed_decides_blinks_and_head_motion(audio2exp, audio2pose, samples):
    source = reference("coefficients.npz")["source"]
    short = samples[: 40 * 640]
    first = motion_coefficients(audio2exp, audio2pose, short, source, 3, seed=5)
    again = motion_coefficients(audio2exp, audio2pose, short, source, 3, seed=5)
    other = motion_coefficients(audio2exp, audio2pose, short, source, 3, seed=6)
    np.testing.assert_array_equal(first.coeffs, again.coeffs)
    np.testing.assert_array_equal(first.blink, blink_ratio(40, np.random.default_rng(5)))
    assert np.abs(first.coeffs[:, 64:] - other.coeffs[:, 64:]).max() > 1e-3
    still_eyes = motion_coefficients(audio2exp, audio2pose, short, source[:70], 3, seed=5, blinks=False)
    assert not still_eyes.blink.any()
    with pytest.raises(InputError, match="one per frame"):
        motion_coefficients(audio2exp, audio2pose, short, source, 3, seed=5, blink=np.zeros(39))
    with pytest.raises(InputError, match=r"not \(70,\) or \(73,\)"):
        motion_coefficients(audio2exp, audio2pose, short, source[:64], 3, seed=5)


def test_blink_ratio_draws_whole_blinks():
    assert not blink_ratio(20, np.random.default_rng(0)).any()
    for frames, seed in ((21, 0), (60, 1), (500, 2)):
        ratio = blink_ratio(frames, np.random.default_rng(seed))
        assert ratio.shape == (frames,) and ratio.dtype == np.float32
        starts = [i for i in range(frames) if ratio[i] > 0 and (i == 0 or ratio[i - 1] == 0)]
        assert starts, "at least one blink"
        previous_end = 0
        for start in starts:
            np.testing.assert_allclose(ratio[start:start + 5], [0.5, 0.9, 1.0, 0.9, 0.5])
            assert start - previous_end >= 10 and start + 5 <= frames - 1
            previous_end = start + 5
        assert np.count_nonzero(ratio) == 5 * len(starts)
    np.testing.assert_array_equal(blink_ratio(500, np.random.default_rng(9)), blink_ratio(500, np.random.default_rng(9)))


def test_pose_smoothing_fits_short_recordings():
    rng = np.random.default_rng(0)
    for frames in (1, 2):
        pose = rng.standard_normal((frames, 6)).astype(np.float32)
        np.testing.assert_array_equal(smooth_poses(pose), pose)
    line = np.outer(np.arange(20, dtype=np.float32), np.ones(6, np.float32))
    for frames in (3, 8, 20):  # a quadratic filter keeps a straight line
        np.testing.assert_allclose(smooth_poses(line[:frames]), line[:frames], atol=1e-4)
