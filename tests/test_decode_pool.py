"""Decoding jobs in helper processes: order, errors, early stops and failing helpers."""

from __future__ import annotations

import math
import operator
import os

import pytest

from avatar.speech.decode_pool import DECODERS_ENV, DecoderPool, decoder_count, usable_cores

_DIE_ENV = "AVATAR_TEST_DIE_UNLESS_PID"


def pid_of_job(_: int) -> int:
    """Which process ran the job."""
    return os.getpid()


def die_in_helper(value: int) -> int:
    """Doubles `value` in the test's own process; kills any helper that takes it."""
    if int(os.environ.get(_DIE_ENV, os.getpid())) != os.getpid():
        os._exit(3)
    return 2 * value


def test_results_come_back_in_job_order_from_the_helpers():
    with DecoderPool(2) as pool:
        assert list(pool.ordered(operator.mul, [(i, i) for i in range(20)])) == [i * i for i in range(20)]
        pids = set(pool.ordered(pid_of_job, [(i,) for i in range(8)]))
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_helpers_started_ahead_take_the_jobs():
    with DecoderPool(2) as pool:
        pool.start()
        started = {helper.process.pid for helper in pool._started}
        assert len(started) == 2
        assert set(pool.ordered(pid_of_job, [(i,) for i in range(8)])) <= started
        assert len(pool._started) == 2  # no more were started


def test_without_helpers_jobs_run_here():
    with DecoderPool(0) as pool:
        assert list(pool.ordered(pid_of_job, [(0,), (1,)])) == [os.getpid()] * 2


def test_a_jobs_error_is_raised_in_the_caller():
    with DecoderPool(1) as pool:
        results = pool.ordered(math.sqrt, [(4.0,), (-1.0,)])
        assert next(results) == 2.0
        with pytest.raises(ValueError):
            next(results)
        assert list(pool.ordered(math.sqrt, [(9.0,)])) == [3.0]  # the helper still serves


def test_printing_in_a_helper_does_not_disturb_the_replies():
    with DecoderPool(1) as pool:
        assert list(pool.ordered(print, [("to stdout",), ("again",)])) == [None, None]
        assert list(pool.ordered(operator.add, [(1, 2)])) == [3]


def test_stopping_early_drops_the_rest():
    with DecoderPool(2) as pool:
        results = pool.ordered(operator.add, [(i, 1) for i in range(50)])
        assert next(results) == 1
        results.close()
    assert pool._started == []  # the helpers have exited


def test_jobs_of_a_dead_helper_run_here(monkeypatch):
    monkeypatch.setenv(_DIE_ENV, str(os.getpid()))
    with DecoderPool(2) as pool:
        assert list(pool.ordered(die_in_helper, [(i,) for i in range(6)])) == [0, 2, 4, 6, 8, 10]


def test_decoder_count_follows_the_environment(monkeypatch):
    monkeypatch.delenv(DECODERS_ENV, raising=False)
    assert decoder_count() == usable_cores() >= 1
    monkeypatch.setenv(DECODERS_ENV, "1")
    assert decoder_count() == 1
    monkeypatch.setenv(DECODERS_ENV, "many")
    assert decoder_count() == usable_cores()
