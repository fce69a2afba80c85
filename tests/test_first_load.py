"""The first load of a page after a server start: nothing heavy before the page draws, and "Opening ..." while its
modules are imported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from streamlit.testing.v1 import AppTest

from tests.conftest import PROJECT_DIR
from ui.loading import page_imports

HEAVY = ("torch", "diffusers", "transformers", "TTS")


def test_page_imports_are_read_from_the_page_file():
    names = page_imports(PROJECT_DIR / "app_pages" / "history.py")
    assert "streamlit" in names and "avatar.service.jobs" in names and "ui.history" in names
    assert "__future__" not in names


def test_the_app_and_every_page_draw_without_importing_pytorch():
    """What runs before a page draws (the entry point, the sidebar's first draw, the page's imports) imports no
    PyTorch, diffusers or transformers: those come when something needs them, after the page is on the screen."""
    script = textwrap.dedent(f"""
        import importlib, sys
        from pathlib import Path
        import ui.loading, ui.session, ui.sidebar, ui.links
        from ui.server_status import bundled_models_in_memory, jobs_run_here, process_memory
        process_memory(), bundled_models_in_memory(), jobs_run_here()
        for page in sorted(Path("app_pages").glob("*.py")):
            for name in ui.loading.page_imports(page):
                importlib.import_module(name)
        print(",".join(name for name in {HEAVY!r} if name in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, env=os.environ.copy(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1:] in ([], [""]), done.stdout


def _opening(path: str) -> None:
    from pathlib import Path

    from ui.loading import import_page_modules

    import_page_modules(Path(path), "Test page")
    import streamlit as st

    st.write("drawn")


def test_page_modules_are_imported_before_the_page_and_a_broken_one_is_left_to_the_page(tmp_path, monkeypatch):
    (tmp_path / "first_load_probe.py").write_text("LOADED = True\n")
    page = tmp_path / "page.py"
    page.write_text("import first_load_probe\nfrom no_such_module_here import x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    at = AppTest.from_function(_opening, args=(str(page),), default_timeout=60).run()
    assert not at.exception and [m.value for m in at.markdown] == ["drawn"]
    assert "first_load_probe" in sys.modules
