"""Shared fixtures: a fake-encoder engine over a temporary index, and the real model once per session."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from index.backend import IndexBackend, LocalBackend
import index.engine as engine_module
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def seeds_dir(tmp_path: Path) -> Path:
    """A private copy of the seeds folder that a test may change."""
    folder = tmp_path / "seeds"
    shutil.copytree(SEEDS, folder)
    return folder


def milvus_backend(tmp_path: Path) -> IndexBackend:
    """INDEX_BACKEND=milvus on a milvus-lite file in ``tmp_path``; skips the test without the extra."""
    pytest.importorskip("pymilvus", reason="the optional extra newsqa[milvus] is not installed")
    pytest.importorskip("milvus_lite", reason="the optional extra newsqa[milvus] is not installed")
    from index.milvus_backend import MilvusConfig
    from index.milvus_index import MilvusBackend

    return MilvusBackend(MilvusConfig(uri=str(tmp_path / "milvus.db")))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--index-backend", choices=("local", "milvus"), default="local",
                     help="index backend of every engine a test builds without naming one (milvus: milvus-lite in "
                          "the test's temp dir), e.g. to run the SimCord bot tests on Milvus")


@pytest.fixture(autouse=True)
def _index_backend_option(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> IndexBackend | None:
    """With --index-backend milvus, engines built without a backend share one milvus-lite file per test."""
    if request.config.getoption("--index-backend") != "milvus":
        yield None
        return
    shared = milvus_backend(request.getfixturevalue("tmp_path") / "milvus")
    monkeypatch.setattr(engine_module, "LocalBackend", lambda: shared)
    yield shared
    shared.close()


@pytest.fixture
def backend(_index_backend_option: IndexBackend | None) -> IndexBackend:
    """The index backend of ``fake_engine``: local (or --index-backend); test_engine.py runs on both."""
    return _index_backend_option or LocalBackend()


@pytest.fixture
def fake_engine(tmp_path: Path, seeds_dir: Path, backend: IndexBackend) -> Engine:
    """An engine with the deterministic hashing encoder and the seed corpus built."""
    engine = Engine(tmp_path / "index", HashingEncoder(), EngineSettings(seeds_dir=seeds_dir), backend=backend)
    engine.ensure("default")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def real_encoder():
    """The packaged all-MiniLM-L6-v2, loaded once for the whole test session."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from index.embed import SentenceTransformerEncoder

    return SentenceTransformerEncoder()


@pytest.fixture(scope="session")
def real_engine(tmp_path_factory, real_encoder) -> Engine:
    """The real model over the seed articles (built once per session)."""
    engine = Engine(tmp_path_factory.mktemp("real-index"), real_encoder, EngineSettings(seeds_dir=SEEDS))
    engine.ensure("default")
    return engine


@pytest.fixture(autouse=True)
def _drop_newsqa_log_handlers():
    """Entry points called in a test (``bot.cli.main``) add log handlers and set levels; undo that after."""
    import logging

    from bot.logs import NOISY

    names = ("", "discord", *NOISY)
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "newsqa", False):
            root.removeHandler(handler)
            handler.close()


# ------------------------------------------------------------------ PostgreSQL (RECORDS_URL)


def in_ci() -> bool:
    """CI=true: tests that need a service fail instead of skipping when it cannot be had."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(available: bool, why: str) -> None:
    """Skip the test when what it needs is not ``available``; in CI (CI=true) fail instead: the PostgreSQL
    tests must not silently not run."""
    if available:
        return
    if in_ci():
        pytest.fail(f"{why}; CI=true requires the PostgreSQL tests to run")
    pytest.skip(why)


@pytest.fixture(scope="session")
def psycopg_installed() -> None:
    """psycopg, the optional extra newsqa[postgres] (``make test`` installs it)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        require(False, "psycopg is not installed (the optional extra newsqa[postgres])")


@pytest.fixture(scope="session")
def postgres_server(psycopg_installed):
    """A throwaway PostgreSQL server for the session (tests/pgserver.py). Skips when none can be started,
    except in CI (CI=true), where that is a failure."""
    from tests.pgserver import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer.start()
    except (PostgresUnavailable, OSError, KeyError) as exc:  # KeyError: no `nobody` user to run it as
        require(False, f"no PostgreSQL server could be started: {exc}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """RECORDS_URL of a new empty database on the session's server."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def records_url(request: pytest.FixtureRequest) -> str | None:
    """RECORDS_URL for a store test run on both backends: None (SQLite files) and a fresh PostgreSQL database."""
    return None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
