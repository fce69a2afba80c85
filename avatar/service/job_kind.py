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


def shorten(text: str, limit: int = 80) -> str:
    """One line of at most `limit` characters, for describing a job by its text."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
