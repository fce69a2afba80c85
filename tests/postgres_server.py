"""A real PostgreSQL server for the tests: Debian's `postgresql` binaries, started on a free port in a temporary
folder, stopped and removed afterwards.

PostgreSQL refuses to run as root, and CI runs as root: there the server runs as Debian's `postgres` system user
(which the package creates), in a folder under /tmp that it owns (pytest's own temp folders are private to root).
As any other user it runs as that user. It listens on 127.0.0.1 only, trusts local connections (nothing else can
reach it), and skips fsync: the tests prove the store's logic, not the disk's.

Without the binaries, or without the psycopg driver, the tests that need it are skipped, except under CI=true,
where they fail (`.ci/run` installs the package; requirements-test.txt the driver).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

import pytest

USER = "avatar"
"""The server's superuser, which the tests connect as."""


def binaries() -> Optional[Path]:
    """The folder with Debian's initdb and postgres (the newest installed version), or None."""
    folders = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version(p.parent.name), reverse=True)
    found = shutil.which("postgres")
    folders += [Path(found).resolve().parent] if found else []
    return next((f for f in folders if (f / "initdb").exists() and (f / "postgres").exists()), None)


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


def missing() -> str:
    """Why a PostgreSQL server cannot be started here ("" when it can)."""
    if binaries() is None:
        return "PostgreSQL is not installed (apt-get install postgresql)"
    if importlib.util.find_spec("psycopg") is None:
        return "the psycopg driver is not installed (pip install -r requirements-test.txt)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "PostgreSQL refuses to run as root and there is no `postgres` user to run it as"
    return ""


def require_postgres() -> None:
    """Skip the calling test without PostgreSQL; under CI=true, fail instead (CI must prove the store on it)."""
    reason = missing()
    if not reason:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; .ci/run installs Debian's postgresql package.")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One PostgreSQL server; `database(name)` makes an empty database in it and gives its SQLAlchemy URL."""

    def __init__(self) -> None:
        self.bin = binaries()
        assert self.bin is not None, missing()
        self.folder = Path(tempfile.mkdtemp(prefix="avatar-postgres-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = free_port()
        self.process: Optional[subprocess.Popen] = None
        self.as_user: dict = {}
        if os.geteuid() == 0:  # PostgreSQL will not run as root: hand the folder to the postgres user
            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self.as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def _run(self, *command: str, **options) -> subprocess.Popen:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(self.folder)}
        return subprocess.Popen([str(self.bin / command[0]), *command[1:]], cwd=self.folder, env=env,
                                **self.as_user, **options)

    def start(self) -> "PostgresServer":
        initdb = self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "--no-locale",
                           "--encoding=UTF8", "--no-sync", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = initdb.communicate(timeout=120)[0].decode(errors="replace")
        assert initdb.returncode == 0, f"initdb failed:\n{output}"
        with self.log.open("wb") as log:
            self.process = self._run(
                "postgres", "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1", "-k", "", "-F",
                "-c", "max_connections=300", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self._accepting():
            assert self.process.poll() is None, f"postgres stopped:\n{self.log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"postgres did not start:\n{self.log.read_text(errors='replace')}"
            time.sleep(0.1)
        return self

    def _accepting(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} dbname={database}"

    def database(self, name: str) -> str:
        """A new empty database `name`; its SQLAlchemy URL (the form AVATAR_DATABASE_URL takes)."""
        import psycopg

        assert name.isidentifier() and name.islower(), name
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Fast shutdown (SIGINT: open connections are cut, not waited for), then remove the folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)
