"""A terminal progress bar that speaks the library's `Progress` callback."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from tqdm import tqdm

from avatar.progress import Progress


@contextmanager
def progress_bar(description: str) -> Iterator[Progress]:
    """Yield a `progress(stage, fraction)` callback drawing a bar on stderr."""
    bar = tqdm(total=1000, desc=description, file=sys.stderr, bar_format="{percentage:3.0f}%|{bar}| {desc}")
    try:

        def update(stage: str, fraction: float) -> None:
            bar.set_description_str(f"{description}: {stage}", refresh=False)
            bar.n = int(round(fraction * 1000))
            bar.refresh()

        yield update
    finally:
        bar.close()
