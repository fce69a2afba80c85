"""Decoding the independent pieces of a recording on every core.

pocketsphinx holds Python's lock while it searches, so one decoder keeps one core
busy however many threads call it: a 10-minute recording took 100-150 s to
recognise on one of two cores while the other waited. The pieces of a recording
are independent (every decode starts from the same reset state, see
`avatar.speech.recognize`), so helper processes, one per core and each with a
decoder of its own, decode them side by side, and the results are handed back
in the pieces' order: the same as decoding them one after another, only sooner.

Helpers are plain `python -m avatar.speech.decode_pool` processes, not
`multiprocessing` ones: they copy nothing of this process (its threads, locks,
decoder, or a main module that would run again), and they work under any host
(command, app, job worker). Each job goes to a helper over its stdin as a pickle
`(function, args)` of a module-level function, the result comes back over its
stdout. This process only waits, so its lock is free for the threads that feed
the helpers. Helpers start when the first job is handed out, load their decoder
once, and exit when the pool closes: memory does not grow with the recording's
length nor stay behind after it. If a helper cannot start or dies, its jobs run
here instead, with the same result.
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Optional, Sequence, TypeVar

__all__ = ["DECODERS_ENV", "DecoderPool", "HelperFailed", "decoder_count", "usable_cores"]

_LOGGER = logging.getLogger(__name__)

R = TypeVar("R")

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding the `avatar` package: helpers import the very code this process runs."""


class HelperFailed(RuntimeError):
    """A helper process could not be started, or stopped answering."""


DECODERS_ENV = "AVATAR_DECODERS"
"""How many decoders may run at once (default: one per usable core). A job worker
running several jobs side by side sets it lower, so that they do not fight for
the cores; 1 decodes in the calling process only, as before helpers existed."""


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and `taskset` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def decoder_count() -> int:
    """Decoders to run at once: `AVATAR_DECODERS` if set to a whole number of at least 1, else the usable cores."""
    value = os.environ.get(DECODERS_ENV, "").strip()
    if value.isdigit() and int(value) >= 1:
        return int(value)
    if value:
        _LOGGER.warning("ignoring %s=%r: not a whole number of at least 1", DECODERS_ENV, value)
    return usable_cores()


class _Helper:
    """One helper process and its two pipes; used by one feeding thread at a time."""

    def __init__(self, initializer: Optional[str]) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        command = [sys.executable, "-m", __name__] + ([initializer] if initializer else [])
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        except OSError as error:
            raise HelperFailed(f"cannot start a decoding helper: {error}") from error

    def run(self, function: Callable[..., R], args: tuple) -> R:
        try:
            pickle.dump((function, args), self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.flush()
            ok, value = pickle.load(self.process.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as error:
            raise HelperFailed(f"a decoding helper stopped (exit status {self.process.poll()})") from error
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """Ask the helper to exit (end of its input) and wait for it."""
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


class DecoderPool:
    """Runs decoding jobs in `helpers` helper processes; results come back in job order.

    `initializer` ("module:function") runs once in each helper as it starts (it
    loads the decoder). A job is `(function, args)` with a module-level
    `function`, run as `function(*args)` in the helper that takes it, with the
    helper's own decoder. With `helpers` 0, every job runs in this process, one
    after another.
    """

    def __init__(self, helpers: int, initializer: Optional[str] = None) -> None:
        self.helpers = max(0, helpers)
        self._initializer = initializer
        self._local = threading.local()
        self._started: list[_Helper] = []
        self._lock = threading.Lock()  # guards _started
        self._here = threading.Lock()  # one job at a time on this process' decoder
        self._failed = False
        self._waiting: queue.SimpleQueue[_Helper] = queue.SimpleQueue()
        self._executor: Optional[ThreadPoolExecutor] = (
            ThreadPoolExecutor(max_workers=self.helpers, thread_name_prefix="decoder-feed") if self.helpers else None)

    def __enter__(self) -> "DecoderPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the jobs not started, wait for the running ones, and stop the helpers."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        with self._lock:
            helpers, self._started = self._started, []
        for helper in helpers:
            helper.close()

    def start(self) -> None:
        """Start the helpers now, so that they load their decoders while this process prepares the jobs."""
        if self._executor is None or self._failed:
            return
        for _ in range(self.helpers - len(self._started)):
            try:
                self._waiting.put(self._launch())
            except HelperFailed as error:
                _LOGGER.warning("%s; decoding in this process instead", error)
                self._failed = True
                return

    def _launch(self) -> _Helper:
        helper = _Helper(self._initializer)
        with self._lock:
            self._started.append(helper)
        return helper

    def _helper(self) -> _Helper:
        """This feeding thread's helper: one started ahead (`start`) or, failing that, a new one."""
        helper = getattr(self._local, "helper", None)
        if helper is None:
            if self._failed:
                raise HelperFailed("the decoding helpers have failed")
            try:
                helper = self._waiting.get_nowait()
            except queue.Empty:
                helper = self._launch()
            self._local.helper = helper
        return helper

    def _remote(self, function: Callable[..., R], args: tuple) -> R:
        """Run one job in this feeding thread's helper; if helpers fail, here instead."""
        try:
            return self._helper().run(function, args)
        except HelperFailed as error:
            if not self._failed:
                _LOGGER.warning("%s; decoding in this process instead", error)
                self._failed = True
        with self._here:  # the jobs of failed helpers take turns on this process' decoder
            return function(*args)

    def ordered(self, function: Callable[..., R], jobs: Sequence[tuple]) -> Iterator[R]:
        """`function(*job)` for each job, yielded in the jobs' order.

        Every job is queued at once and the helpers take them in order, each
        taking the next as soon as it is free; stopping the iteration early drops
        the jobs no helper has started.
        """
        if self._executor is None:
            for job in jobs:
                yield function(*job)
            return
        futures: list[Future] = [self._executor.submit(self._remote, function, tuple(job)) for job in jobs]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _serve(initializer: Optional[str], requests: BinaryIO, replies: BinaryIO) -> None:
    """A helper's life: run the initializer, then each job read from `requests` until it ends."""
    if initializer:
        module, _, name = initializer.partition(":")
        getattr(importlib.import_module(module), name)()
    while True:
        try:
            function, args = pickle.load(requests)
        except EOFError:
            return
        try:
            reply: tuple[bool, Any] = (True, function(*args))
        except Exception as error:  # handed back: the caller raises it as if the job had run there
            reply = (False, error)
        try:
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # an exception that cannot be pickled
            data = pickle.dumps((False, RuntimeError(repr(error))), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            replies.write(data)
            replies.flush()
        except BrokenPipeError:  # the caller has gone (stopped or killed): nothing left to do
            return


def _main() -> None:
    # Replies travel on the original stdout; anything printed (by Python or by C
    # code writing to descriptor 1) goes to stderr instead of corrupting them.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _serve(sys.argv[1] if len(sys.argv) > 1 else None, sys.stdin.buffer, replies)


if __name__ == "__main__":
    _main()
