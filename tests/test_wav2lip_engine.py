"""The Wav2Lip engine end to end, with seeded weights imported as a user imports the published checkpoint."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from avatar.cli import main
from avatar.errors import InputError
from avatar.media import load_audio
from avatar.models.registry import Registry
from avatar.speech.timeline import Speech
from avatar.talk.builtin.engine import BuiltinEngine
from avatar.talk.engine import TalkOptions
from avatar.talk.pipeline import make_talking_video, prepare_portrait
from avatar.talk.wav2lip.engine import Wav2LipEngine, face_box, network_input
from avatar.talk.wav2lip.options import Wav2LipOptions
from tests.wav2lip_weights import seeded_state_dict, write_checkpoint

OPTIONS = TalkOptions(size=256, still=True)


@pytest.fixture(scope="module")
def seeded_checkpoint(tmp_path_factory):
    """The seeded weights laid out like the published file, with DataParallel's `module.` prefix."""
    return write_checkpoint(tmp_path_factory.mktemp("wav2lip") / "wav2lip_gan.pth", prefix="module.")


@pytest.fixture(scope="module")
def speech(fixtures) -> Speech:
    """The first 2 s of a real recording (50 frames keep the test quick)."""
    recording = load_audio((fixtures / "RD_Radio31_000.wav").read_bytes(), name="RD_Radio31_000.wav")
    return Speech(recording.samples[: 2 * recording.sample_rate], recording.sample_rate)


def imported(path) -> Wav2LipEngine:
    """`avatar models import wav2lip-gan PATH`, then an engine on a fresh registry (no model shared between tests)."""
    assert main(["models", "import", "wav2lip-gan", str(path)]) == 0
    return Wav2LipEngine(registry=Registry())


def test_wav2lip_job_end_to_end(seeded_checkpoint, speech, fixtures, tmp_path):
    engine = imported(seeded_checkpoint)
    result = make_talking_video(fixtures / "obama.jpg", audio=speech, engine=engine, options=OPTIONS,
                                job_dir=tmp_path / "job")
    assert result.manifest["engine"] == "wav2lip" and result.manifest["model"] == "wav2lip-gan"
    assert result.frames == 50 and abs(result.duration - 2.0) < 1e-6
    assert result.audio_path.stat().st_size > 2 * speech.sample_rate * 2  # 16-bit mono, intact

    picture = prepare_portrait(fixtures / "obama.jpg", OPTIONS.size)
    # a still head, and a moving one with its own face box pads
    for options in (OPTIONS, TalkOptions(size=256, seed=2, engine=Wav2LipOptions(pads=(0, 20, 6, 6)))):
        frames = [f.copy() for f in engine.render(picture.image, picture.face, speech, options)]
        assert len(frames) == 50
        builtin = BuiltinEngine()
        weights = Wav2LipEngine.base_weights(builtin, speech, options)
        reference = [f.copy() for f in builtin.render_weights(picture.image, builtin.prepare(picture.image, picture.face),
                                                                weights)]
        for frame, base in zip(frames, reference):
            # Outside the lower face, every pixel is the built-in engine's (blinks, head motion, background).
            changed = np.any(frame != base, axis=2)
            rows, cols = np.nonzero(changed)
            x0, y0, x1, y1 = face_box(picture.face, picture.image.shape[:2], options.own(Wav2LipOptions).pads)
            assert rows.min() >= y0 + (y1 - y0) // 2 - 8 and rows.max() < y1 + 8
            assert cols.min() >= x0 - 8 and cols.max() < x1 + 8
        # The lower face is the network's (seeded weights draw no real mouth, but it is pasted in).
        lower = (slice(y0 + (y1 - y0) * 3 // 4, y0 + (y1 - y0) * 7 // 8), slice(x0 + (x1 - x0) // 3, x1 - (x1 - x0) // 3))
        assert np.abs(frames[0][lower].astype(np.float32) - reference[0][lower]).mean() > 10


def test_engine_input_is_bgr_with_the_lower_half_masked(fixtures):
    picture = prepare_portrait(fixtures / "obama.jpg", 256)
    x0, y0, x1, y1 = box = face_box(picture.face, picture.image.shape[:2])
    inputs = network_input(picture.image, box)
    masked, full = inputs[:3], inputs[3:]
    assert inputs.shape == (6, 96, 96)
    assert not masked[:, 48:].any() and np.array_equal(masked[:, :48], full[:, :48])
    assert y1 >= picture.face.landmarks[8, 1] + 10 - 1  # down to the chin, plus the bottom pad
    red = picture.image[y0:y1, x0:x1, 0].mean() / 255
    assert abs(full[2].mean() - red) < 0.02  # channel 2 is red: BGR order


def test_a_checkpoint_with_a_wrong_key_is_refused(tmp_path, fixtures, speech):
    weights = seeded_state_dict()
    weights.pop("output_block.1.bias")
    engine = imported(write_checkpoint(tmp_path / "broken.pth", sd=weights))
    with pytest.raises(InputError, match="missing output_block.1.bias"):
        make_talking_video(fixtures / "obama.jpg", audio=speech, engine=engine, options=OPTIONS, job_dir=tmp_path / "job")
    assert not (tmp_path / "job" / "video.mp4").exists()


class _RunsCode:
    def __reduce__(self):
        return (print, ("this pickle ran code",))


def test_a_pickle_that_runs_code_is_refused_at_import(tmp_path, capsys):
    path = tmp_path / "wav2lip_gan.pth"
    torch.save({"state_dict": {"x": _RunsCode()}}, str(path))
    assert main(["models", "import", "wav2lip-gan", str(path)]) == 2
    captured = capsys.readouterr()
    assert "refused" in captured.err and "this pickle ran code" not in captured.out
    assert not Registry().is_installed("wav2lip-gan")
