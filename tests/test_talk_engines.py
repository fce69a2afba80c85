"""Engines are plug-ins: a toy engine, registered here in one line of the engine table, brings its options to the
CLI, the talk job (checks, queue and schema) and the page by itself, and a job with it runs end to end."""

from __future__ import annotations

import json
from dataclasses import dataclass

import av
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from avatar.cli import build_parser, main
from avatar.commands.talk import talk_params
from avatar.errors import InputError
from avatar.options import option
from avatar.service.jobs import get_service
from avatar.service.kinds import get_kind
from avatar.service.talk_kind import talk_job
from avatar.talk import engines
from avatar.talk.engine import TalkOptions, frame_count
from tests.conftest import PROJECT_DIR, page_job_record

PAGE = str(PROJECT_DIR / "app_pages" / "talking_avatar.py")
WIDTH, HEIGHT = 64, 48


@dataclass(frozen=True)
class ToyOptions:
    shade: int = option(90, "grey level of the toy's frames", min=0, max=255)
    pattern: str = option("flat", "how the toy fills its frames", choices=("flat", "stripes"))


class ToyEngine:
    """Grey frames of a fixed size, as many as the speech needs."""

    name = "toy"
    title = "Toy"
    model_id = None
    Options = ToyOptions
    queue = "cpu"

    def check_ready(self, options: TalkOptions | None = None) -> None:
        if options is not None:
            options.own(ToyOptions)

    def output_size(self, portrait, face, options: TalkOptions) -> tuple[int, int]:
        return WIDTH, HEIGHT

    def render(self, portrait, face, speech, options: TalkOptions, progress=None):
        own = options.own(ToyOptions)
        frame = np.full((HEIGHT, WIDTH, 3), own.shade, np.uint8)
        if own.pattern == "stripes":
            frame[::8] = 255 - own.shade
        for _ in range(frame_count(speech.duration, options.fps)):
            yield frame


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(engines.ENGINES, "toy", ToyEngine)  # the one line a new engine adds
    return ToyEngine


def test_the_cli_offers_the_toys_flags(toy, capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["talk", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "Toy options (--engine toy):" in shown and "--shade SHADE grey level of the toy's frames (from 0 to 255)" in shown
    assert "--pattern" in shown and "{builtin,wav2lip,sadtalker,toy}" in shown
    args = parser.parse_args(["talk", "--avatar", "maya", "--text", "Hi.", "--engine", "toy", "--shade", "200"])
    params, files = talk_params(args)
    assert params["engine"] == "toy" and params["shade"] == 200 and "pattern" not in params and files == {}
    with pytest.raises(InputError, match="shade must be from 0 to 255, not 300."):
        talk_params(parser.parse_args(["talk", "--avatar", "maya", "--text", "Hi.", "--engine", "toy",
                                       "--shade", "300"]))


def test_the_talk_job_checks_and_documents_the_toys_options(toy):
    kind = get_kind("talk")
    schema = kind.schema()
    assert schema["properties"]["shade"] == {"type": "integer", "description": "Toy only: grey level of the toy's frames",
                                             "default": 90, "minimum": 0, "maximum": 255}
    assert schema["properties"]["pattern"]["enum"] == ["flat", "stripes"]
    assert "toy" in schema["properties"]["engine"]["enum"]
    from avatar.service.api import create_app

    document = create_app(auth=False).openapi()  # the API's /docs
    assert document["components"]["schemas"]["params_talk"]["properties"]["shade"]["maximum"] == 255
    job = talk_job({"text": "Hi.", "avatar": "maya", "engine": "toy", "shade": "12"}, {})
    assert job.engine.name == "toy" and job.options.engine == ToyOptions(shade=12)
    assert kind.check({"text": "Hi.", "avatar": "maya", "engine": "toy"}, {}) == "cpu"
    with pytest.raises(InputError, match="pattern must be one of flat, stripes, not 'dots'."):
        kind.check({"text": "Hi.", "avatar": "maya", "engine": "toy", "pattern": "dots"}, {})
    with pytest.raises(InputError, match="shade is an option of the Toy engine, which the builtin engine does not take; "
                                         "choose engine toy, or leave shade out."):
        kind.check({"text": "Hi.", "avatar": "maya", "shade": 5}, {})
    with pytest.raises(InputError, match="pads is an option of the Wav2Lip engine, which the toy engine"):
        kind.check({"text": "Hi.", "avatar": "maya", "engine": "toy", "pads": [0, 0, 0, 0]}, {})


def test_a_toy_job_runs_end_to_end_from_the_cli(toy, tmp_path, capsys):
    out = tmp_path / "toy.mp4"
    assert main(["talk", "--avatar", "maya", "--text", "Hello from a toy.", "--engine", "toy", "--shade", "200",
                 "--pattern", "stripes", "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out and out.with_suffix(".srt").is_file()
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) > 10 and frames[0].shape == (HEIGHT, WIDTH, 3)
    assert abs(float(frames[0][4:7].mean()) - 200) < 6 and abs(float(frames[0][0].mean()) - 55) < 12  # the stripes
    [job] = get_service().list("local")  # the same job service as the pages: History and `avatar jobs list`
    assert job.kind == "talk" and job.status == "done" and job.params["engine"] == "toy"
    manifest = json.loads(get_service().result_file("local", job.id, "manifest.json").read_text())
    assert manifest["engine"] == "toy" and manifest["options"]["shade"] == 200 and manifest["options"]["size"] == 768


def test_the_page_shows_the_toys_options_and_runs_it(toy):
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.run()
    assert "Toy" in at.radio(key="talk_engine").options  # as the picker shows it: its title
    assert not [n for n in at.number_input if n.label == "Shade"]
    at.radio(key="talk_engine").set_value("toy").run()
    [shade] = [n for n in at.number_input if n.label == "Shade"]
    assert shade.value == 90 and shade.help == "grey level of the toy's frames"
    assert [r for r in at.radio if r.label == "Pattern"][0].value == "flat"
    shade.set_value(30)
    at.text_area(key="talk_text").input("A toy speaks.")
    next(b for b in at.button if b.label == "Generate").click().run()
    assert not at.exception and not at.error and len(at.get("video")) == 1
    job, manifest = page_job_record(at, "talk_job")
    assert job.params["engine"] == "toy" and job.params["shade"] == 30 and job.queue == "cpu"
    assert manifest["video"]["width"] == WIDTH and manifest["options"]["pattern"] == "flat"
