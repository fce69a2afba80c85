"""Fixtures for real-browser tests: one `streamlit run` server per session, one page per test.

The server is the real app (`streamlit_app.py`) started from the project root on a
free port, with its own outputs and checkpoints folders. The browser is Debian's
`chromium`; Playwright is never allowed to download one. Without chromium the
tests are skipped, except on CI (`CI=true`), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_SECONDS = 90


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _chromium_or_skip() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; browser tests must run on CI")
        pytest.skip(message)
    return path


def _wait_for_health(base_url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"streamlit did not become healthy in {SERVER_START_SECONDS} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def streamlit_server(tmp_path_factory) -> Iterator[str]:
    """Start the app with `streamlit run` and yield its base URL (http://127.0.0.1:PORT)."""
    _chromium_or_skip()
    folder = tmp_path_factory.mktemp("streamlit-server")
    port = _free_port()
    env = {
        **os.environ,
        "AVATAR_OUTPUTS": str(folder / "outputs"),
        "AVATAR_CHECKPOINTS": str(folder / "checkpoints"),
        "PYTHONUNBUFFERED": "1",
    }
    log = folder / "server.log"
    command = [
        sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(base_url, server, log)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium under Playwright (never a downloaded browser)."""
    executable = _chromium_or_skip()
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, streamlit_server) -> Iterator[object]:
    """A fresh browser tab (its own Streamlit session) with a generous default timeout."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    try:
        yield tab
    finally:
        context.close()


def generate_and_fetch(page, server: str, path: Path) -> Path:
    """Press Generate, wait for the page's video (up to 3 minutes) and save the file the player plays to `path`."""
    from urllib.parse import urljoin

    page.get_by_role("button", name="Generate", exact=True).click()
    video = page.locator("video")
    video.wait_for(timeout=180_000)
    source = video.get_attribute("src")
    assert source
    response = page.request.get(urljoin(server + "/", source))
    assert response.ok
    path.write_bytes(response.body())
    return path
