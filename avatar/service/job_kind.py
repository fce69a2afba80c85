"""What a job kind is: a name, the file fields it accepts, a cheap check that picks the queue, and a run.

`check(params, inputs)` runs when the job is submitted (an `InputError` there is the
API's 422 and the page's `st.error`, before anything is queued) and returns the
queue: "cpu" for work that needs no accelerator (the built-in engine, classical
inpainting, Lanczos upscaling), so it never waits behind GPU jobs, "gpu" otherwise.
`run(params, inputs, out, progress)` writes the results into `out` and returns
their file names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from avatar.errors import InputError
from avatar.progress import Progress

Inputs = dict[str, Path]


@dataclass(frozen=True)
class JobKind:
    name: str
    title: str  # how the pages name it ("Talking video")
    files: tuple[str, ...]  # the input file fields it accepts
    check: Callable[[dict[str, Any], Inputs], str]
    run: Callable[[dict[str, Any], Inputs, Path, Optional[Progress]], list[str]]
    describe: Callable[[dict[str, Any]], str] = lambda params: ""  # a few words for the History list
    schema: Callable[[], dict[str, Any]] = lambda: {}  # its parameters as JSON Schema (from the task's options)


def allowed(params: dict[str, Any], names: tuple[str, ...]) -> None:
    """Refuse a parameter the kind does not take (a typo would otherwise be ignored silently)."""
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise InputError(f"Unknown parameter {unknown[0]!r}; this job takes: {', '.join(names)}.")


def shorten(text: str, limit: int = 80) -> str:
    """One line of at most `limit` characters, for describing a job by its text."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text", list: "a list"}


def typed(params: dict[str, Any], spec: dict[str, tuple[type, Any]]) -> dict[str, Any]:
    """The parameters checked against `spec` (name -> (type, default)) and converted, defaults filled in.

    JSON gives numbers as 5 or 5.0 and booleans as true/false; a form gives text. A
    whole number is accepted as 5, 5.0 or "5"; a number also as "0.5"; a boolean only
    as true/false. Anything else is one sentence naming the parameter.
    """
    allowed(params, tuple(spec))
    values: dict[str, Any] = {}
    for name, (kind, default) in spec.items():
        value = params.get(name, default)
        values[name] = None if value is None else _convert(name, value, kind)
    return values


def _convert(name: str, value: Any, kind: type) -> Any:
    wrong = InputError(f"{name} must be {_WORDS[kind]}, not {value!r}.")
    if kind is bool or isinstance(value, bool):
        if kind is bool and isinstance(value, bool):
            return value
        raise wrong
    try:
        if kind is int:
            number = float(value)
            if not number.is_integer():
                raise wrong
            return int(number)
        if kind is float:
            return float(value)
    except (TypeError, ValueError, OverflowError):
        raise wrong from None
    if not isinstance(value, kind):
        raise wrong
    return value
