"""The SadTalker engine around its networks: options, installs, paste-back, and whole jobs with seeded weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.models.devices import GB, DevicePolicy
from avatar.errors import InputError, ModelNotInstalled
from avatar.models.registry import Registry
from avatar.talk.engine import TalkOptions
from avatar.talk.engines import engine_choices
from avatar.talk.sadtalker.engine import SadTalkerEngine, crop_output_size, paste_back
from avatar.talk.sadtalker.options import SadTalkerOptions
from avatar.talk.sadtalker.files import MAPPING_FILES, renderer_file

CPU = DevicePolicy("cpu", torch.float32, gpu_budget=0, cpu_budget=16 * GB)


def registry_with(tmp_path: Path, *names: str) -> Registry:
    """A registry whose sadtalker folder holds files with these names (contents do not matter here)."""
    folder = tmp_path / "ckpt" / "sadtalker"
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(b"\0")
    return Registry(policy=CPU, checkpoints=tmp_path / "ckpt", hf_cache=tmp_path / "hub")


def test_not_installed_names_the_command(tmp_path):
    registry = Registry(policy=CPU, checkpoints=tmp_path / "ckpt", hf_cache=tmp_path / "hub")
    with pytest.raises(ModelNotInstalled, match="`avatar models pull sadtalker`"):
        SadTalkerEngine(registry).check_ready(TalkOptions())
    choice = {c.name: c for c in engine_choices(registry)}["sadtalker"]
    assert choice.title == "SadTalker" and choice.install_command == "avatar models pull sadtalker"


def test_a_missing_file_is_named_before_any_work(tmp_path):
    registry = registry_with(tmp_path, renderer_file(256), MAPPING_FILES["crop"])
    engine = SadTalkerEngine(registry)
    engine.check_ready(TalkOptions(engine=SadTalkerOptions(preprocess="crop", face_size=256)))
    with pytest.raises(ModelNotInstalled, match=r"mapping_00109-model\.pth\.tar is missing .*`avatar models pull sadtalker`"):
        engine.check_ready(TalkOptions(engine=SadTalkerOptions(preprocess="full", face_size=256)))
    with pytest.raises(ModelNotInstalled, match=r"SadTalker_V0\.0\.2_512\.safetensors and mapping_00109"):
        engine.check_ready(TalkOptions(engine=SadTalkerOptions(preprocess="full", face_size=512)))


@pytest.mark.parametrize("options, message", [
    (TalkOptions(engine=SadTalkerOptions(pose_style=46)), "pose_style must be from 0 to 45, not 46"),
    (TalkOptions(engine=SadTalkerOptions(pose_style=-1)), "pose_style must be from 0 to 45, not -1"),
    (TalkOptions(engine=SadTalkerOptions(preprocess="resize")), "preprocess must be one of full, crop, not 'resize'"),
    (TalkOptions(engine=SadTalkerOptions(face_size=384)), "face_size must be one of 256, 512, not 384"),
    (TalkOptions(fps=30), "25 frames per second only"),
    (TalkOptions(engine=SadTalkerOptions(blink_video="/nowhere/blink.mp4")), "blink video /nowhere/blink.mp4 does not exist"),
])
def test_bad_options_are_refused_before_any_work(tmp_path, options, message):
    registry = registry_with(tmp_path, renderer_file(256), *MAPPING_FILES.values())
    with pytest.raises(InputError, match=message):
        SadTalkerEngine(registry).check_ready(options)


def test_paste_back_changes_only_the_crop_box():
    rng = np.random.default_rng(0)
    portrait = rng.integers(0, 256, (300, 240, 3), dtype=np.uint8)
    face = np.full((256, 256, 3), (200, 120, 90), np.uint8)
    box = (40, 60, 181, 203)  # odd sizes on purpose
    frame = paste_back(portrait, face, box)
    outside = np.ones(portrait.shape[:2], bool)
    outside[box[1]:box[3], box[0]:box[2]] = False
    assert np.array_equal(frame[outside], portrait[outside])
    inside = frame[box[1] + 20:box[3] - 20, box[0] + 20:box[2] - 20].astype(float)
    # A flat face blended in: the inside is near-uniform, pulled toward the portrait only at the edges.
    assert inside.std(axis=(0, 1)).max() < 25


def test_crop_videos_keep_the_crop_box_aspect_with_even_sides():
    assert crop_output_size((0, 0, 300, 300), 256) == (256, 256)
    assert crop_output_size((10, 0, 310, 270), 512) == (512, 460)
    assert crop_output_size((0, 0, 301, 150), 256)[1] % 2 == 0


def test_pull_fetches_exactly_the_files_the_port_reads():
    from fnmatch import fnmatch

    from avatar.models.catalog import get_spec
    from avatar.talk.sadtalker.files import part_files

    spec = get_spec("sadtalker")
    used = {name for part in spec.parts for name in part_files(part)}
    assert len(used) == 4
    assert all(any(fnmatch(name, pattern) for pattern in spec.allow_patterns) for name in used)
    assert all(any(fnmatch(name, pattern) for name in used) for pattern in spec.allow_patterns)
    for stale in ("epoch_20.pth", "wav2lip.pth", "facevid2vid_00189-model.pth.tar", "auido2exp_00300-model.pth"):
        assert not any(fnmatch(stale, pattern) for pattern in spec.allow_patterns)


# -- whole jobs with seeded weights --------------------------------------------------------------

from avatar.cli import main  # noqa: E402
from avatar.media import load_audio  # noqa: E402
from avatar.speech.timeline import Speech  # noqa: E402
from avatar.talk.pipeline import make_talking_video, prepare_portrait  # noqa: E402
from tests.sadtalker_weights import mapping_checkpoint, write_checkpoints  # noqa: E402

SHORT = TalkOptions(size=320, engine=SadTalkerOptions(preprocess="full", face_size=256))


@pytest.fixture(scope="module")
def seeded_folder(tmp_path_factory) -> Path:
    """Seeded weights in the published files' layout: the 256 renderer file and both mapping files."""
    return write_checkpoints(tmp_path_factory.mktemp("sadtalker") / "sadtalker", sizes=(256,), modes=("crop", "full"))


@pytest.fixture(scope="module")
def registry(seeded_folder, tmp_path_factory) -> Registry:
    """One registry for the module, so each part is built once."""
    checkpoints = tmp_path_factory.mktemp("ckpt")
    (checkpoints / "sadtalker").symlink_to(seeded_folder, target_is_directory=True)
    return Registry(policy=CPU, checkpoints=checkpoints, hf_cache=checkpoints / "hub")


def clip(fixtures, seconds: float) -> Speech:
    """The start of a real recording; a few frames keep the renderer's share of the tests short."""
    recording = load_audio((fixtures / "RD_Radio31_000.wav").read_bytes(), name="RD_Radio31_000.wav")
    return Speech(recording.samples[: int(seconds * recording.sample_rate)], recording.sample_rate)


@pytest.fixture(scope="module")
def picture():
    from avatar.avatars import get_default_avatar

    avatar = get_default_avatar("maya")
    return prepare_portrait(avatar.image_path, SHORT.size, landmarks_path=avatar.landmarks_path)


def frames_of(engine, picture, speech, options) -> list[np.ndarray]:
    return [frame.copy() for frame in engine.render(picture.image, picture.face, speech, options)]


def test_full_mode_pastes_into_the_crop_box_only(registry, picture, fixtures):
    from avatar.talk.sadtalker.crop import crop_face

    frames = frames_of(SadTalkerEngine(registry), picture, clip(fixtures, 0.08), SHORT)
    assert len(frames) == int(0.08 * 16000) // 640 == 2
    x0, y0, x1, y1 = crop_face(picture.image, picture.face.landmarks, 256).box
    outside = np.ones(picture.image.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    for frame in frames:
        assert frame.shape == picture.image.shape and frame.dtype == np.uint8
        assert np.array_equal(frame[outside], picture.image[outside])
    inside = np.stack([f[y0:y1, x0:x1] for f in frames]).astype(np.float32)
    assert np.abs(inside - picture.image[y0:y1, x0:x1]).mean() > 1  # the face was redrawn
    assert inside.std(axis=0).mean() > 0.1  # and it moves from frame to frame


def test_same_seed_same_frames(registry, picture, fixtures):
    engine = SadTalkerEngine(registry)
    options = TalkOptions(size=320, seed=3, engine=SadTalkerOptions(preprocess="crop", pose_style=5))
    speech = clip(fixtures, 0.08)
    first = frames_of(engine, picture, speech, options)
    assert len(first) == 2 and all(np.array_equal(a, b) for a, b in zip(first, frames_of(engine, picture, speech, options)))
    width, height = engine.output_size(picture.image, picture.face, options)
    assert first[0].shape == (height, width, 3) and width == 256


def test_pose_style_and_seed_steer_the_head(registry, fixtures):
    from avatar.talk.sadtalker.coefficients import motion_coefficients
    from avatar.talk.wav2lip.audio import to_model_rate

    samples = to_model_rate(clip(fixtures, 2.0))
    source = np.zeros(73, np.float32)
    with registry.use("sadtalker", part="256-crop") as networks:
        def motion(style: int, seed: int) -> np.ndarray:
            return motion_coefficients(networks.audio2exp, networks.audio2pose, samples, source, style, seed).coeffs

        base = motion(5, 3)
        assert np.array_equal(base, motion(5, 3))
        assert not np.allclose(base[:, 64:], motion(30, 3)[:, 64:])  # pose columns
        assert not np.allclose(base[:, 64:], motion(5, 4)[:, 64:])
        assert np.array_equal(base[:, :64], motion(30, 3)[:, :64])  # the style moves the head, not the mouth


def test_make_talking_video_with_sadtalker(registry, fixtures, tmp_path):
    from avatar.avatars import get_default_avatar
    from avatar.video.io import open_video

    avatar = get_default_avatar("maya")
    stages = []
    result = make_talking_video(avatar.image_path, audio=clip(fixtures, 0.08), engine=SadTalkerEngine(registry),
                                options=SHORT, landmarks_path=avatar.landmarks_path, job_dir=tmp_path / "job",
                                progress=lambda stage, fraction: stages.append(stage))
    assert result.manifest["engine"] == "sadtalker" and result.manifest["model"] == "sadtalker"
    assert result.manifest["options"]["preprocess"] == "full" and result.frames == 2
    with open_video(result.video_path) as video:
        assert (video.info.width, video.info.height) == (result.width, result.height)
        assert video.info.has_audio and video.info.frames == 2
    assert any("3D face coefficients" in s for s in stages) and "SadTalker: rendering" in stages


def test_wrong_checkpoint_is_refused_naming_the_key(tmp_path):
    from safetensors.torch import save_file

    from tests.sadtalker_weights import safetensors_shapes

    folder = tmp_path / "ckpt" / "sadtalker"
    folder.mkdir(parents=True)
    shapes = safetensors_shapes()
    shapes.pop("audio2exp.mapping1.weight")
    save_file({key: torch.zeros(shape) for key, shape in shapes.items()}, str(folder / renderer_file(256)))
    torch.save(mapping_checkpoint("crop"), str(folder / MAPPING_FILES["crop"]))
    registry = Registry(policy=CPU, checkpoints=tmp_path / "ckpt", hf_cache=tmp_path / "hub")
    with pytest.raises(InputError, match=r"missing mapping1\.weight"):
        with registry.use("sadtalker", part="256-crop"):
            pass


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_mapping_pickle_that_would_run_code_is_refused(tmp_path, seeded_folder):
    folder = tmp_path / "ckpt" / "sadtalker"
    folder.mkdir(parents=True)
    (folder / renderer_file(256)).symlink_to(seeded_folder / renderer_file(256))
    marker = tmp_path / "ran"
    torch.save({"mapping": {}, "trap": _RunsCode(marker)}, str(folder / MAPPING_FILES["crop"]))
    registry = Registry(policy=CPU, checkpoints=tmp_path / "ckpt", hf_cache=tmp_path / "hub")
    with pytest.raises(InputError, match="asks to run code"):
        with registry.use("sadtalker", part="256-crop"):
            pass
    assert not marker.exists()


def test_import_refuses_a_folder_without_a_complete_set(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    torch.save(mapping_checkpoint("crop"), str(folder / MAPPING_FILES["crop"]))
    assert main(["models", "import", "sadtalker", str(folder)]) == 2
    assert "holds no complete SadTalker set" in capsys.readouterr().err



def test_cli_without_the_model_names_the_command(capsys):
    assert main(["talk", "--avatar", "maya", "--text", "Hello.", "--engine", "sadtalker", "--pose-style", "3"]) == 2
    err = capsys.readouterr().err
    assert "`avatar models pull sadtalker`" in err and "Traceback" not in err
    assert main(["talk", "--avatar", "maya", "--text", "Hello.", "--engine", "sadtalker", "--pose-style", "46"]) == 2


def _write_video(path: Path, frames: list[np.ndarray]) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.options = {"crf": "12"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_blinks_from_a_video_are_its_expression_coefficients(registry, fixtures, tmp_path):
    from avatar.errors import NoFaceError
    from avatar.face.detect import find_face
    from avatar.media import load_image, resize_long_side
    from avatar.talk.sadtalker.blink_video import video_expressions
    from avatar.talk.sadtalker.crop import crop_face
    from avatar.talk.sadtalker.face3d import source_coefficients

    image = resize_long_side(load_image(fixtures / "obama.jpg"), 480)
    video = _write_video(tmp_path / "still.mp4", [image] * 6)
    with registry.use("sadtalker", part="256-crop") as networks:
        rows = video_expressions(networks.face_recon, video, max_frames=4)
        expected = source_coefficients(networks.face_recon, crop_face(image, find_face(image).landmarks, 256))[:64]
        assert rows.shape == (4, 64)
        # A still face: every frame gives the portrait's own expression, up to the codec's small changes.
        assert np.abs(rows - expected).max() < 0.1 * np.abs(expected).max()
        blank = _write_video(tmp_path / "blank.mp4", [np.full((240, 320, 3), 128, np.uint8)] * 3)
        with pytest.raises(NoFaceError, match="first frame of blank.mp4"):
            video_expressions(networks.face_recon, blank)


def test_import_checks_each_complete_set_then_registers_it(seeded_folder, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in (renderer_file(256), MAPPING_FILES["crop"]):
        (folder / name).symlink_to(seeded_folder / name)
    assert main(["models", "import", "sadtalker", str(folder)]) == 0
    assert "sadtalker imported" in capsys.readouterr().out
    registry = Registry(policy=CPU)  # the test's own AVATAR_CHECKPOINTS
    assert registry.status("sadtalker").state == "installed"
    SadTalkerEngine(registry).check_ready(TalkOptions(engine=SadTalkerOptions(preprocess="crop")))
    with pytest.raises(ModelNotInstalled, match="mapping_00109-model.pth.tar is missing"):
        SadTalkerEngine(registry).check_ready(TalkOptions(engine=SadTalkerOptions(preprocess="full")))
