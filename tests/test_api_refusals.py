"""Hostile submissions through the HTTP API: every bad file or value is one short sentence, and nothing is stored.

The app runs in-process (FastAPI's TestClient) over a job service whose executor
keeps every job queued, so each case costs only its checks; what was stored is
read back from the job folders and the database.
"""

from __future__ import annotations

import io
import json
import struct
import wave
import zlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from avatar.service.api import create_app
from avatar.service.jobs import JobService
from avatar.service.kinds import KINDS
from avatar.service.store import JobStore

KEY = "refusals-key"


class Held:
    """An executor that keeps every job queued: these tests look at what a submission stores, not at runs."""

    def submit(self, job) -> None:
        pass


class Api:
    """The app over its own store and job folders, with a client that sends the key."""

    def __init__(self, folder: Path) -> None:
        self.root = folder / "jobs"
        self.service = JobService(JobStore(f"sqlite:///{folder / 'jobs.sqlite3'}"), Held(), root=self.root)
        self.client = TestClient(create_app(self.service, keys=[KEY]), headers={"Authorization": f"Bearer {KEY}"})

    def submit(self, params: dict | str, files: dict | None = None, kind: str = "talk"):
        body = params if isinstance(params, str) else json.dumps(params)
        return self.client.post(f"/v1/jobs/{kind}", data={"params": body}, files=files or {})

    def stored_files(self) -> list[Path]:
        """Every file under the job folders (the upload spool included): none may outlive a refusal."""
        return [p for p in self.root.rglob("*") if p.is_file()] if self.root.exists() else []

    def assert_nothing_stored(self) -> None:
        assert self.service.store.list(None) == [] and self.stored_files() == []
        assert [p.name for p in self.root.iterdir() if not p.name.startswith(".")] == []


@pytest.fixture
def api(tmp_path, monkeypatch) -> Api:
    monkeypatch.setenv("AVATAR_MAX_ACTIVE_JOBS", "1000")  # these tests are about what is refused, not how many run
    return Api(tmp_path)


def assert_one_sentence(response, status: int = 422) -> str:
    """The refusal's sentence: one short line that ends like a sentence."""
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and detail.endswith(".") and len(detail) < 300, detail
    return detail


# -- files a talk job is given --------------------------------------------------------------


def _wav(seconds: float, rate: int = 8000, amplitude: int = 0) -> bytes:
    """A mono 16-bit WAV: silence, or a square wave of `amplitude`."""
    out = io.BytesIO()
    with wave.open(out, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        period = [amplitude] * 20 + [-amplitude] * 20
        samples = (period * (int(seconds * rate) // len(period) + 1))[: int(seconds * rate)]
        handle.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(side: int = 30_000) -> bytes:
    """A small, valid PNG header that claims a `side` x `side` canvas (900 megapixels): a decompression bomb."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + _png_chunk(b"IEND", b""))


def _talk_cases(fixtures: Path) -> list[tuple[str, dict, dict, str]]:
    portrait = (fixtures / "obama_small.jpg").read_bytes()
    speech = (fixtures / "RD_Radio31_000.wav").read_bytes()
    text = {"text": "Hello there."}
    recording = {"avatar": "maya"}
    return [
        ("zero-byte portrait", text, {"portrait": ("me.jpg", b"", "image/jpeg")}, "Cannot read image me.jpg"),
        ("truncated portrait", text, {"portrait": ("me.jpg", portrait[: len(portrait) // 3], "image/jpeg")},
         "Cannot read image me.jpg"),
        ("corrupt portrait", text, {"portrait": ("corrupt.jpg", (fixtures / "corrupt.jpg").read_bytes(), "image/jpeg")},
         "Cannot read image corrupt.jpg"),
        ("decompression bomb", text, {"portrait": ("bomb.png", _bomb_png(), "image/png")}, "megapixels"),
        ("portrait without a face", text,
         {"portrait": ("no_face.png", (fixtures / "no_face.png").read_bytes(), "image/png")}, "No face was found"),
        ("a face that is not there", {**text, "face_index": 3}, {"portrait": ("me.jpg", portrait, "image/jpeg")},
         "face"),
        ("zero-byte recording", recording, {"audio": ("me.wav", b"", "audio/wav")}, "Cannot read audio me.wav"),
        ("truncated recording", recording, {"audio": ("me.wav", speech[:30], "audio/wav")}, "me.wav"),
        ("corrupt recording", recording, {"audio": ("corrupt.wav", (fixtures / "corrupt.wav").read_bytes(), "audio/wav")},
         "Cannot read audio corrupt.wav"),
        ("an executable", recording, {"audio": ("setup.exe", b"MZ" + b"\0" * 4096, "application/octet-stream")},
         "not a supported audio type"),
        ("700 s of silence", recording, {"audio": ("long.wav", _wav(700), "audio/wav")}, "longer than 10 minutes"),
        ("3 s of silence", recording, {"audio": ("quiet.wav", _wav(3), "audio/wav")}, "silent"),
        ("a PNG sent as audio", recording,
         {"audio": ("me.wav", (fixtures / "no_face.png").read_bytes(), "audio/wav")}, "me.wav"),
        ("text and a recording", {"text": "Hi.", "avatar": "maya"}, {"audio": ("me.wav", speech, "audio/wav")},
         "not both"),
        ("a transcript beside typed text", {"text": "Hi.", "avatar": "maya", "transcript": "Hi."}, {},
         "A transcript is only for an uploaded recording"),
        ("landmarks without a portrait", {"text": "Hi.", "avatar": "maya"},
         {"landmarks": ("me.landmarks.json", b"{}", "application/json")}, "landmarks file belongs to a portrait"),
        ("a landmark file that is not JSON", text, {"portrait": ("me.jpg", portrait, "image/jpeg"),
                                                    "landmarks": ("me.landmarks.json", b"{not", "application/json")},
         "The landmark file me.landmarks.json is not valid JSON"),
        ("landmarks of another picture", text, {"portrait": ("me.jpg", portrait, "image/jpeg"), "landmarks": (
            "me.landmarks.json", json.dumps({"format": "dlib-68", "image_size": [10, 10],
                                             "landmarks": [[0, 0]] * 68}).encode(), "application/json")},
         "was made for a 10x10 image"),
        ("a voice sample for the bundled voice", {"text": "Hi.", "avatar": "maya"},
         {"voice_sample": ("me.wav", speech, "audio/wav")}, "takes no voice sample"),
        ("an empty transcript", {**recording, "transcript": "  "}, {"audio": ("me.wav", speech, "audio/wav")},
         "The transcript is empty"),
        ("another engine's file", {"text": "Hi.", "avatar": "maya"},
         {"blink_video": ("blink.mp4", b"\0" * 64, "video/mp4")}, "blink_video is an option of the SadTalker engine"),
    ]


def test_every_bad_talk_file_is_refused_at_submit_and_nothing_is_stored(api, fixtures):
    for name, params, files, expected in _talk_cases(fixtures):
        detail = assert_one_sentence(api.submit(params, files))
        assert expected in detail, (name, detail)
        api.assert_nothing_stored()
    good = api.submit({"text": "Hello there."}, {"portrait": ("me.jpg", (fixtures / "obama_small.jpg").read_bytes(),
                                                              "image/jpeg")})
    assert good.status_code == 202, good.text  # the same checks let a good portrait through
    recorded = api.submit({"avatar": "maya"}, {"audio": ("take.wav", (fixtures / "RD_Radio31_000.wav").read_bytes(),
                                                         "audio/wav")})
    assert recorded.status_code == 202, recorded.text
    assert len(api.service.store.list(None)) == 2


@pytest.mark.parametrize("raw, expected", [
    ('{"text": "Hi.", "avatar": "maya", "rate": 9.0}', "The speaking rate must be from 0.5 to 2, not 9."),
    ('{"text": "Hi.", "avatar": "maya", "rate": NaN}', "The speaking rate must be a number, not nan."),
    ('{"text": "Hi.", "avatar": "maya", "rate": Infinity}', "The speaking rate must be a number, not inf."),
    ('{"text": "Hi.", "avatar": "maya", "rate": -Infinity}', "The speaking rate must be a number, not -inf."),
    ('{"text": "Hi.", "avatar": "maya", "rate": 1e999}', "The speaking rate must be a number, not inf."),
    ('{"text": "Hi.", "avatar": "maya", "rate": "fast"}', "The speaking rate must be a number, not 'fast'."),
    ('{"text": "Hi.", "avatar": "maya", "size": 100000000000000000000000}', "size must be from 64 to 4096"),
    ('{"text": "Hi.", "avatar": "maya", "face_index": -1}', "face_index must be at least 0, not -1."),
])
def test_talk_values_out_of_range_or_not_finite(api, raw, expected):
    assert assert_one_sentence(api.submit(raw)).startswith(expected)
    api.assert_nothing_stored()


def _numeric_properties(kind: str) -> list[tuple[str, dict]]:
    """A kind's number parameters (its schema's, the talk engines' own included)."""
    found = []
    for name, entry in KINDS[kind].schema()["properties"].items():
        types = [entry.get("type")] + [option.get("type") for option in entry.get("anyOf", [])]
        if {"number", "integer"} & set(types):
            found.append((name, entry))
    return found


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_number_of_every_kind_must_be_finite_and_in_range(api, kind):
    """NaN, infinities and values past a declared limit are refused, whatever the kind's files or models."""
    properties = _numeric_properties(kind)
    assert properties, kind
    for name, entry in properties:
        bad = ["NaN", "Infinity", "-Infinity"]
        if entry.get("maximum") is not None:
            bad.append(json.dumps(entry["maximum"] * 2 + 1))
        if entry.get("minimum") is not None:
            bad.append(json.dumps(entry["minimum"] - 1))
        for value in bad:
            detail = assert_one_sentence(api.submit(f'{{"{name}": {value}}}', kind=kind))
            assert name in detail or "speaking rate" in detail, (kind, name, value, detail)
    api.assert_nothing_stored()


def test_a_shift_is_bounded_by_the_largest_picture():
    from avatar.edit.options import ShiftOptions
    from avatar.media import MAX_IMAGE_SIDE
    from avatar.options import specs

    moves = [spec for spec in specs(ShiftOptions) if spec.name in ("dx", "dy")]
    assert [(spec.min, spec.max) for spec in moves] == [(-MAX_IMAGE_SIDE, MAX_IMAGE_SIDE)] * 2


# -- huge values ---------------------------------------------------------------------------


def _text_properties(kind: str) -> list[str]:
    found = []
    for name, entry in KINDS[kind].schema()["properties"].items():
        types = [entry.get("type")] + [option.get("type") for option in entry.get("anyOf", [])]
        if "string" in types:
            found.append(name)
    return found


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_huge_value_is_refused_with_the_limit_and_never_echoed(api, kind):
    huge = "x" * 60_000  # under the size the server reads a params field to, over any text limit
    for name in _text_properties(kind):
        detail = assert_one_sentence(api.submit({name: huge}, kind=kind))
        assert "x" * 41 not in detail, detail
        if "is an option of the" not in detail and "no default avatar" not in detail:  # (refused for that first)
            assert "60,000 characters" in detail and "limit of 5,000" in detail, detail
        long = "y" * 4_000  # within the limit: whatever refuses it quotes only its start
        response = api.submit({name: long}, kind=kind)
        if response.status_code != 202:
            assert "y" * 41 not in assert_one_sentence(response), (kind, name)
    unknown = assert_one_sentence(api.submit({"z" * 60_000: 1}, kind=kind))
    assert unknown.startswith("Unknown parameter 'zzz") and "z" * 42 not in unknown
    stored = api.service.store.list(None)
    assert all(len(json.dumps(job.params)) < 5_000 for job in stored)
    assert not [job for job in stored if "x" * 100 in json.dumps(job.params)]


def test_a_megabyte_prompt_is_refused_before_it_is_stored(api):
    detail = assert_one_sentence(api.submit({"prompt": "a portrait " * 100_000}, kind="portrait"), 413)
    assert "KB" in detail
    detail = assert_one_sentence(api.submit({"prompt": "a portrait " * 5_000}, kind="portrait"))
    assert detail == "prompt has 55,000 characters, more than the limit of 5,000; shorten it."
    api.assert_nothing_stored()
    assert api.client.get("/v1/jobs").json() == []


def test_long_names_in_the_address_or_the_form_are_not_echoed(api, fixtures):
    kind = api.client.post("/v1/jobs/" + "k" * 4_000, data={"params": "{}"})
    assert "k" * 41 not in assert_one_sentence(kind, 404)
    field = api.submit({"text": "Hi."}, {"f" * 2_000: ("me.jpg", b"x", "image/jpeg")})
    assert field.status_code in (413, 422) and "f" * 41 not in assert_one_sentence(field, field.status_code)
    model = api.client.get("/v1/models/" + "m" * 4_000)
    assert "m" * 41 not in assert_one_sentence(model, 404)
    lists = api.submit({"points": [[1, 2]] * 1_001}, files={"image": ("me.jpg", (fixtures / "obama_small.jpg")
                                                                      .read_bytes(), "image/jpeg")}, kind="mask")
    assert "1,001 values, more than the limit of 1,000" in assert_one_sentence(lists)
    api.assert_nothing_stored()


def test_quoted_values_are_cut():
    from avatar.errors import quoted

    assert quoted("maya") == "'maya'"
    assert quoted("x" * 1_000_000) == "'" + "x" * 39 + "…"


# -- per-key storage limits ----------------------------------------------------------------


def test_a_key_keeps_at_most_its_stored_jobs(tmp_path, monkeypatch):
    monkeypatch.setenv("AVATAR_MAX_ACTIVE_JOBS", "1000")
    monkeypatch.setenv("AVATAR_MAX_STORED_JOBS", "3")
    api = Api(tmp_path)
    ids = [api.submit({"text": f"Job {n}.", "avatar": "maya"}).json()["id"] for n in range(3)]
    refused = assert_one_sentence(api.submit({"text": "One too many.", "avatar": "maya"}), 429)
    assert refused.startswith("This key keeps 3 jobs, the most it may; delete old jobs")
    assert len(api.service.store.list(None)) == 3 and len(list(api.root.glob("[0-9a-f]*"))) == 3
    other = TestClient(create_app(api.service, keys=[KEY, "other-key"]), headers={"X-API-Key": "other-key"})
    assert other.post("/v1/jobs/talk", data={"params": '{"text": "Mine.", "avatar": "maya"}'}).status_code == 202
    assert api.client.delete(f"/v1/jobs/{ids[0]}").status_code == 204
    assert api.submit({"text": "Room again.", "avatar": "maya"}).status_code == 202


def test_a_key_keeps_at_most_its_stored_megabytes(tmp_path, monkeypatch, fixtures):
    monkeypatch.setenv("AVATAR_MAX_ACTIVE_JOBS", "1000")
    monkeypatch.setenv("AVATAR_MAX_STORED_MB", "0.8")
    api = Api(tmp_path)
    take = {"audio": ("take.wav", (fixtures / "RD_Radio31_000.wav").read_bytes(), "audio/wav")}  # 0.5 MB
    first = api.submit({"avatar": "maya"}, take)
    assert first.status_code == 202, first.text
    refused = assert_one_sentence(api.submit({"avatar": "maya"}, take), 429)
    assert "more than the 0.8 MB it may keep; delete old jobs" in refused
    assert len(api.service.store.list(None)) == 1
    assert {p.relative_to(api.root).parts[0] for p in api.stored_files()} == {first.json()["id"]}
    assert api.client.delete(f"/v1/jobs/{first.json()['id']}").status_code == 204
    assert api.submit({"avatar": "maya"}, take).status_code == 202


def test_storage_limits_are_read_once_and_a_bad_one_is_said(tmp_path, monkeypatch):
    from avatar.errors import AvatarError
    from avatar.service.quotas import StorageLimits

    assert StorageLimits.from_env() == StorageLimits()
    monkeypatch.setenv("AVATAR_MAX_STORED_JOBS", "0")  # 0: no limit
    assert StorageLimits.from_env().max_jobs == 0
    StorageLimits.from_env().check(10**6, 0, 0)
    monkeypatch.setenv("AVATAR_MAX_STORED_MB", "lots")
    with pytest.raises(AvatarError, match="AVATAR_MAX_STORED_MB='lots' is not a number of 0 or more"):
        Api(tmp_path)


# -- a job deleted while it runs -----------------------------------------------------------


def test_a_job_deleted_while_it_runs_ends_quietly(tmp_path, monkeypatch, caplog):
    """The run writes into the folder DELETE removed under it: no traceback, no record, no folder left."""
    import threading

    from avatar.service.jobs import EmbeddedExecutor
    from avatar.service.job_kind import JobKind

    started, deleted = threading.Event(), threading.Event()

    def run(params, inputs, out, progress):
        started.set()
        assert deleted.wait(60)
        (out / "frame.png").write_bytes(b"late")  # the folder is gone: FileNotFoundError
        return ["frame.png"]

    monkeypatch.setitem(KINDS, "slow", JobKind("slow", "Slow", (), lambda params, inputs: "cpu", run))
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    executor = EmbeddedExecutor(store, tmp_path / "jobs")
    service = JobService(store, executor, root=tmp_path / "jobs")
    client = TestClient(create_app(service, keys=[KEY]), headers={"Authorization": f"Bearer {KEY}"})
    caplog.set_level("WARNING")
    for _ in range(2):  # deleted, and cancelled then deleted
        job_id = client.post("/v1/jobs/slow", data={"params": "{}"}).json()["id"]
        assert started.wait(60)
        if _:
            assert client.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
        deleted.set()
        executor._pools["cpu"].submit(lambda: None).result(timeout=60)  # the one CPU lane: the run has ended
        started.clear(), deleted.clear()
        assert client.get(f"/v1/jobs/{job_id}").status_code == 404
        assert not (tmp_path / "jobs" / job_id).exists()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("avatar")] == []
    assert not [r for r in caplog.records if r.exc_info]


def test_the_checks_run_before_the_job_has_a_folder_or_a_record(api, fixtures, monkeypatch):
    """While a kind checks its files they wait in a hidden folder: no job folder and no record exist yet, so a
    refusal leaves nothing behind even for a moment, and a listing never shows a job that is then refused."""
    import dataclasses

    talk, seen = KINDS["talk"], []

    def visible() -> tuple[list[str], list[str]]:
        return (sorted(p.name for p in api.root.glob("*") if not p.name.startswith(".")),
                [job.id for job in api.service.store.list(None)])

    def spying(params, inputs):
        seen.append((visible(), [path.parents[2].name.startswith(".new-") for path in inputs.values()]))
        return talk.check(params, inputs)

    monkeypatch.setitem(KINDS, "talk", dataclasses.replace(talk, check=spying))
    portrait = {"portrait": ("me.jpg", (fixtures / "obama_small.jpg").read_bytes(), "image/jpeg")}
    before = visible()
    accepted = api.submit({"text": "Hi."}, portrait)
    assert accepted.status_code == 202
    after = visible()
    assert after == ([accepted.json()["id"]], [accepted.json()["id"]])
    assert_one_sentence(api.submit({"text": "Hi.", "rate": 9}, portrait))
    assert seen == [(before, [True]), (after, [True])] and visible() == after


def test_inputs_left_by_a_submission_that_died_mid_check_are_removed_when_a_server_starts(monkeypatch):
    import os
    import time

    from avatar.service import jobs
    from avatar.service.runs import jobs_root

    root = jobs_root()
    old, fresh = root / ".new-0123", root / ".new-4567"
    for staging in (old, fresh):
        (staging / "inputs" / "portrait").mkdir(parents=True)
        (staging / "inputs" / "portrait" / "me.jpg").write_bytes(b"x")
    os.utime(old, (time.time() - 2 * jobs.ABANDONED_AFTER_S,) * 2)
    jobs.get_service(resume=False)
    assert old.exists()  # a command does not clean up after servers
    monkeypatch.setattr(jobs, "_services", {})
    jobs.get_service()
    assert not old.exists() and fresh.exists()  # a fresh one may be a submission being checked right now


@pytest.mark.parametrize("name", ["AVATAR_MAX_ACTIVE_JOBS", "AVATAR_MAX_UPLOAD_MB", "AVATAR_MAX_UPLOADS",
                                  "AVATAR_UPLOAD_WAIT_S", "AVATAR_BODY_TIMEOUT_S", "AVATAR_MAX_STORED_JOBS"])
def test_a_setting_that_is_not_a_number_stops_the_api_in_one_sentence(name, monkeypatch):
    from avatar.errors import AvatarError
    from avatar.service.api import create_app

    monkeypatch.setenv(name, "lots")
    with pytest.raises(AvatarError, match=f"{name}='lots' is not a number of"):
        create_app(keys=["k"])
