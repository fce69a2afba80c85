"""Sentences about models that are not installed read as English: one sentence, one pair of brackets after a name,
the verb agreeing with the name, and the pages do not wrap them in a second sentence that says the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from avatar.models.catalog import CATALOG
from avatar.models.registry import missing_error, model_subject

PAGES = Path(__file__).resolve().parent.parent / "app_pages"


def _outside_code(text: str) -> str:
    return re.sub(r"`[^`]*`", "CODE", text)


@pytest.mark.parametrize("model_id", sorted(CATALOG))
def test_every_missing_model_is_one_sentence(model_id):
    message = str(missing_error(CATALOG[model_id], Path("checkpoints")))
    prose = _outside_code(message)
    assert message.endswith(".") and not re.search(r"\.\s+[A-Z]", prose), message  # one sentence
    assert ") (" not in prose and "((" not in prose, message  # one pair of brackets after the name
    assert " is not installed: run" not in prose and "needs" not in prose, message
    assert model_id in message and CATALOG[model_id].install_command in message


def test_names_with_their_own_brackets_and_plural_names():
    assert model_subject(CATALOG["xtts-v2"]) == "Coqui XTTS-v2 (xtts-v2; voice cloning, 17 languages)"
    assert model_subject(CATALOG["sd2-inpaint"]) == "Stable Diffusion 2 inpainting (sd2-inpaint)"
    checkpoints = Path("checkpoints")
    assert str(missing_error(CATALOG["sadtalker"], checkpoints)) == (
        "SadTalker checkpoints (sadtalker, used for talking heads) are not installed: they are a 1.4 GB download; "
        "install them with `avatar models pull sadtalker` or put their files in checkpoints/sadtalker.")
    assert str(missing_error(CATALOG["dlib-landmarks"], checkpoints)).startswith(
        "dlib 68-point face landmarks (dlib-landmarks) are missing: they ship with the face-recognition-models package")
    assert str(missing_error(CATALOG["xtts-v2"], checkpoints)).startswith(
        "Coqui XTTS-v2 (xtts-v2; voice cloning, 17 languages) is not installed: it is a 1.9 GB download;")


def test_a_model_without_a_checksum_is_imported_not_downloaded():
    message = str(missing_error(CATALOG["wav2lip-gan"], Path("checkpoints")))
    assert message.startswith("Wav2Lip GAN (wav2lip-gan, used for lip sync) is not installed: it has no published "
                              "checksum, so it is not downloaded for you; import a copy you trust")
    assert "download;" not in message and "`avatar models import wav2lip-gan PATH`" in message


def test_video_tools_say_what_is_missing_in_one_sentence():
    at = AppTest.from_file(str(PAGES / "video_tools.py"), default_timeout=120).run()
    assert not at.exception
    needed = [i.value for i in at.info if i.value.startswith("This tool needs ModelScope")]
    assert needed and needed[0].startswith(
        "This tool needs ModelScope text-to-video 1.7B (`text2video-ms`, 3.6 GB), which is not installed: run "
        "`avatar models pull text2video-ms`, or install it on the ")
    optional = [c.value for c in at.caption if "optional" in c.value]
    assert any(c.startswith("DreamShaper 8 inpainting (`dreamshaper8-inpaint`, 4.3 GB) is optional and not installed; "
                            "to use it, run `avatar models pull dreamshaper8-inpaint`, or install it on the ")
               for c in optional), optional
    for text in [i.value for i in at.info] + [c.value for c in at.caption]:
        assert "is not installed: run" not in text.replace("which is not installed: run", ""), text


def test_object_shift_lists_missing_fill_models_once():
    import numpy as np

    from tests.test_box_picker import _png

    at = AppTest.from_file(str(PAGES / "object_shift.py"), default_timeout=60).run()
    at.file_uploader(key="shift_upload").set_value(("grey.png", _png(np.full((60, 80, 3), 128, np.uint8)),
                                                    "image/png")).run()
    notes = [c.value for c in at.caption if "not installed" in c.value]
    assert notes and all(not n.startswith("Not installed:") and n.count("not installed") == 1 for n in notes), notes


def test_rough_time_of_a_short_run_is_in_seconds(tmp_path, monkeypatch):
    """A short run reads "roughly 40 s", never "roughly 0 min"."""
    from avatar.video.generate import text_to_video_seconds_estimate
    from tests.tiny_video_models import save_tiny_text_to_video

    save_tiny_text_to_video(tmp_path / "checkpoints" / "text2video-ms")
    monkeypatch.setenv("AVATAR_CHECKPOINTS", str(tmp_path / "checkpoints"))
    at = AppTest.from_file(str(PAGES / "video_tools.py"), default_timeout=120).run()
    at.slider(key="t2v_frames").set_value(8)
    at.slider(key="t2v_steps").set_value(2)
    at.select_slider(key="t2v_size").set_value(128).run()
    assert not at.exception
    seconds = text_to_video_seconds_estimate(8, 2, 128, 128, at.slider(key="t2v_guidance").value, device="cpu")
    assert seconds < 90
    said = [c.value for c in [*at.caption, *at.warning] if c.value.startswith("A run takes roughly")]
    assert said == [f"A run takes roughly {seconds:.0f} s on this computer's CPU (a rough estimate)."]
