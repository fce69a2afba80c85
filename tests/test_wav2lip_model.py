"""The Wav2Lip port reproduces the original network's output and refuses files that are not its weights."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.errors import InputError
from avatar.talk.wav2lip.checkpoint import load_wav2lip, read_state_dict
from tests.wav2lip_weights import REFERENCE, seeded_state_dict, write_checkpoint


@pytest.fixture(scope="module")
def forward() -> dict[str, np.ndarray]:
    """Inputs and output of the original code with the seeded weights."""
    with np.load(REFERENCE / "forward.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.mark.parametrize("prefix", ["", "module."])
def test_checkpoint_reproduces_the_original_output(tmp_path, forward, prefix):
    model = load_wav2lip(write_checkpoint(tmp_path / "wav2lip_gan.pth", prefix=prefix))
    with torch.inference_mode():
        out = model(torch.from_numpy(forward["mel_input"]), torch.from_numpy(forward["face_input"]))
    assert out.shape == (2, 3, 96, 96)
    error = float(np.abs(out.numpy() - forward["output"]).max())
    assert error <= 1e-4, error


def test_a_bare_state_dict_reads_like_a_wrapped_one(tmp_path):
    sd = seeded_state_dict()
    torch.save(sd, tmp_path / "bare.pth")
    read = read_state_dict(tmp_path / "bare.pth")
    assert list(read) == list(sd)
    assert torch.equal(read["output_block.1.weight"], sd["output_block.1.weight"])


def _refused(tmp_path: Path, sd: dict[str, torch.Tensor]) -> str:
    path = write_checkpoint(tmp_path / "wav2lip.pth", sd=sd)
    with pytest.raises(InputError) as caught:
        load_wav2lip(path)
    return str(caught.value)


def test_missing_key_is_named(tmp_path):
    sd = seeded_state_dict()
    del sd["face_decoder_blocks.3.0.conv_block.0.weight"]
    message = _refused(tmp_path, sd)
    assert "missing face_decoder_blocks.3.0.conv_block.0.weight" in message


def test_unexpected_key_is_named(tmp_path):
    sd = seeded_state_dict()
    sd["face_decoder_blocks.7.0.conv_block.0.weight"] = torch.zeros(64, 64, 3, 3)
    message = _refused(tmp_path, sd)
    assert "unexpected key face_decoder_blocks.7.0.conv_block.0.weight" in message


def test_misshaped_tensor_is_named(tmp_path):
    sd = seeded_state_dict()
    sd["audio_encoder.4.conv_block.1.running_var"] = torch.ones(32)
    message = _refused(tmp_path, sd)
    assert "audio_encoder.4.conv_block.1.running_var has shape (32,)" in message
    assert "(64,)" in message


class _RunsCode:
    """Unpickling this object calls os.system, as a booby-trapped checkpoint would."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


@pytest.mark.parametrize("save", ["torch", "pickle"])
def test_pickle_that_runs_code_is_refused_without_running(tmp_path, save):
    marker = tmp_path / "hacked"
    path = tmp_path / "wav2lip_gan.pth"
    payload = {"state_dict": seeded_state_dict(), "trap": _RunsCode(marker)}
    if save == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(InputError, match="not a plain checkpoint"):
        load_wav2lip(path)
    assert not marker.exists()
