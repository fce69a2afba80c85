"""Cross-origin calls: only the pages named in AVATAR_CORS_ORIGINS may call the API from a browser."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from avatar.errors import AvatarError
from avatar.service.api import create_app

PREFLIGHT = {"Origin": "https://studio.example", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type"}


def test_no_origin_is_allowed_unless_named(monkeypatch):
    monkeypatch.delenv("AVATAR_CORS_ORIGINS", raising=False)
    closed = TestClient(create_app(keys=["k"]))
    assert "access-control-allow-origin" not in closed.options("/v1/live", headers=PREFLIGHT).headers


def test_the_named_origins_are_allowed_and_no_other(monkeypatch):
    monkeypatch.setenv("AVATAR_CORS_ORIGINS", "https://studio.example, https://other.example/")
    client = TestClient(create_app(keys=["k"]))
    answer = client.options("/v1/live", headers=PREFLIGHT)
    assert answer.headers["access-control-allow-origin"] == "https://studio.example"
    assert "authorization" in answer.headers["access-control-allow-headers"].lower()
    stranger = client.options("/v1/live", headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in stranger.headers
    listed = client.get("/v1/health", headers={"Origin": "https://other.example"})
    assert listed.headers["access-control-allow-origin"] == "https://other.example"


def test_a_value_that_is_not_an_origin_is_one_sentence(monkeypatch):
    monkeypatch.setenv("AVATAR_CORS_ORIGINS", "studio.example/path")
    with pytest.raises(AvatarError, match="not an origin"):
        create_app(keys=["k"])
