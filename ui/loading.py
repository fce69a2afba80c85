"""The first load of a page after a server start: say that it is loading while its modules are imported.

A page's script begins with its imports, and until they are done the browser shows
nothing but the sidebar. Here those imports are done first, under a spinner in
the page's place, so the page itself then draws at once. Later loads find the
modules imported and show nothing (Streamlit shows a spinner only after half a
second anyway).
"""

from __future__ import annotations

import ast
import functools
import importlib
import sys
from pathlib import Path

import streamlit as st


@functools.lru_cache(maxsize=32)
def page_imports(path: Path) -> tuple[str, ...]:
    """The modules a page's script imports at its top level, in order (absolute imports only)."""
    names: list[str] = []
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module != "__future__":
            names.append(node.module)
    return tuple(names)


def import_page_modules(path: Path, title: str) -> None:
    """Import what the page at `path` imports, under "Opening <title>..." while that takes a while."""
    missing = [name for name in page_imports(path) if name not in sys.modules]
    if not missing:
        return
    with st.spinner(f"Opening {title}..."):
        for name in missing:
            try:
                importlib.import_module(name)
            except ImportError:
                pass  # the page's own import raises it again, where its error belongs
