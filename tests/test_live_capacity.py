"""The gate on live sessions: a configured or measured count, and one more refused in one sentence."""

from __future__ import annotations

import pytest

from avatar.errors import InputError, ServiceUnavailable
from avatar.live.capacity import ENV, LiveCapacity, configured, measure


def test_one_session_more_than_the_limit_is_refused_until_one_ends():
    gate = LiveCapacity(2)
    gate.acquire("a")
    gate.acquire("b")
    with pytest.raises(ServiceUnavailable, match="already runs 2 live sessions") as caught:
        gate.acquire("c")
    assert "\n" not in str(caught.value) and str(caught.value).count(". ") == 0
    assert gate.in_use == 2
    gate.release("a")
    gate.acquire("c")
    assert gate.in_use == 2


def test_zero_turns_live_sessions_off(monkeypatch):
    monkeypatch.setenv(ENV, "0")
    gate = LiveCapacity.from_env()
    with pytest.raises(ServiceUnavailable, match="turned off"):
        gate.acquire("a")


def test_the_configured_count_is_used_and_a_bad_one_is_named(monkeypatch):
    monkeypatch.setenv(ENV, "3")
    assert LiveCapacity.from_env().limit == 3
    monkeypatch.setenv(ENV, "many")
    with pytest.raises(InputError, match=ENV):
        configured()


def test_a_measurement_allows_at_least_one_session():
    found = measure(frames=5)
    assert found.fps_per_core > 0 and found.cores >= 1 and found.sessions >= 1
