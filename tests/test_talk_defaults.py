"""Every default of the talking video is the same from every entry point: `avatar talk`, the talk job (the API's and
the pages') and the Talking Avatar page's widgets; every engine's own options included."""

from __future__ import annotations

import dataclasses

from streamlit.testing.v1 import AppTest

from avatar.cli import build_parser
from avatar.options import from_args, params_of, specs
from avatar.service.kinds import get_kind
from avatar.service.talk_kind import TalkRequest, talk_job
from avatar.talk.engine import TalkOptions
from avatar.talk.engines import ENGINES
from tests.conftest import PROJECT_DIR
from ui.options import parse_list

PAGE = str(PROJECT_DIR / "app_pages" / "talking_avatar.py")
REQUEST = {"text": "Hi.", "avatar": "maya"}


def _cli() -> dict[str, dict]:
    """What `avatar talk` would make with no option flags: the shared options, each engine's, and the request's."""
    args = build_parser().parse_args(["talk", "--avatar", "maya", "--text", "Hi."])
    found = {"shared": params_of(from_args(TalkOptions, args)),
             "request": {k: v for k, v in dataclasses.asdict(from_args(TalkRequest, args)).items()
                         if k in ("engine", "rate", "language", "face_index")}}
    found["request"]["engine"] = args.engine
    for name, engine in ENGINES.items():
        found[name] = params_of(from_args(engine.Options, args))
    return found


def _job() -> dict[str, dict]:
    """What a talk job with no options is made with (the API and the pages submit these)."""
    job = talk_job(REQUEST, {})
    found = {"shared": params_of(job.options),
             "request": {k: v for k, v in dataclasses.asdict(job.request).items()
                         if k in ("engine", "rate", "language", "face_index")}}
    for name in ENGINES:
        found[name] = params_of(talk_job({**REQUEST, "engine": name}, {}).options.engine)
    return found


def _page() -> dict[str, dict]:
    """The Talking Avatar page's widgets as they first show, for each engine in turn."""
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.run()
    assert not at.exception

    def values(cls) -> dict:
        got = {spec.name: at.session_state[f"talk_option_{spec.name}"] for spec in specs(cls)}
        return {k: parse_list(v) if isinstance(v, str) and spec.type in (tuple, list) else v
                for (k, v), spec in zip(got.items(), specs(cls))}

    found = {"shared": values(TalkOptions),
             "request": {"engine": at.radio(key="talk_engine").value,
                         "rate": next(s.value for s in at.slider if s.label == "Speaking rate"),
                         "language": "en", "face_index": None}}  # no language or face picker for the defaults
    for name, engine in ENGINES.items():
        at.radio(key="talk_engine").set_value(name).run()
        assert not at.exception
        found[name] = values(engine.Options)
    return found


def test_every_default_is_the_same_from_every_entry_point():
    cli, job, page = _cli(), _job(), _page()
    assert cli["shared"]["size"] == job["shared"]["size"] == page["shared"]["size"] == 768
    assert job["request"]["engine"] == "builtin"
    for part in cli:
        assert cli[part] == job[part] == page[part], part
    assert get_kind("talk").schema()["properties"]["size"]["default"] == 768  # the API's documentation too
    assert set(cli) == {"shared", "request", *ENGINES}
    assert cli["wav2lip"] == {"pads": [0, 10, 0, 0]}
    assert cli["sadtalker"] == {"pose_style": 0, "preprocess": "full", "face_size": 256}
