"""SHARE_CORPORA: corpora kept in PostgreSQL (index/shared.py), each host with its own INDEX_DIR as a cache.

Two engines with separate index directories stand for two hosts (their flocks cannot see each other);
they share one PostgreSQL database, and, on Milvus, one Milvus (one backend object: one server).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from index.backend import IndexBackend, LocalBackend
from index.database import StoreUnavailableError
from index.documents import load_text
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from index.errors import IndexCorruptError
from index.shared import SharedCorpora
from index.store import LocalCorpora
from tests.botfixtures import ANSWERABLE, ZORB, ZORB_QUESTION
from tests.conftest import milvus_backend

pytestmark = pytest.mark.usefixtures("psycopg_installed")

HERON = ("Heron bridge reopens\n\nThe Heron bridge over the Vell river reopened on Monday after a repair that cost "
         "4.2 million euros.\n\nThe city said the bridge carries 30,000 cars a day.")
HERON_QUESTION = "How much did the repair of the Heron bridge cost?"


@pytest.fixture(params=["local", "milvus"])
def shared_backend(request: pytest.FixtureRequest, tmp_path: Path) -> IndexBackend:
    if request.param == "local":
        yield LocalBackend()
        return
    backend = milvus_backend(tmp_path / "milvus")
    yield backend
    backend.close()


def host(tmp_path: Path, name: str, url: str, backend: IndexBackend, seeds_dir: Path, *,
         live_seconds: float = 0.0) -> Engine:
    """The engine of one host: its own INDEX_DIR, the shared database."""
    corpora = SharedCorpora(url, tmp_path / name, outside=backend.outside_files, live_seconds=live_seconds)
    return Engine(tmp_path / name, HashingEncoder(), EngineSettings(seeds_dir=seeds_dir), backend=backend,
                  corpora=corpora)


def answer_text(engine: Engine, question: str) -> str:
    answer = engine.ask(question)
    assert answer.answered, question
    return answer.hits[0].text


def test_what_one_host_writes_the_other_answers_from(tmp_path: Path, postgres_url: str, seeds_dir: Path,
                                                     shared_backend: IndexBackend) -> None:
    a = host(tmp_path, "a", postgres_url, shared_backend, seeds_dir)
    b = host(tmp_path, "b", postgres_url, shared_backend, seeds_dir)
    try:
        a.ensure("default")
        assert b.ensure("default") is None  # already built, by the other host
        assert b.corpora() == ["default"]
        assert "$485 billion" in answer_text(b, ANSWERABLE)
        assert (tmp_path / "b" / "corpora" / "default" / "gen-000001" / "docs.sqlite").is_file()  # b's own copy

        a.add([load_text(ZORB, source="zorblax.txt")])
        assert "900 tonnes" in answer_text(b, ZORB_QUESTION)

        # b rebuilds from the sources: the article added through a is among them (they are in the database)
        report = b.build("default")
        assert "zorblax-harvest-hits-a-record" in {d.doc_id for d in a.documents()}
        assert report.generation == 3 and not report.removed

        b.remove("zorblax-harvest-hits-a-record")
        assert "zorblax-harvest-hits-a-record" not in {d.doc_id for d in a.documents()}
        a.build("default")  # the removal is remembered in the shared state
        assert "zorblax-harvest-hits-a-record" not in {d.doc_id for d in b.documents()}

        # only the live generation and the one before it are kept, in the database and on each host
        rows = a.registry.db.run("SELECT generation FROM shared_generations WHERE corpus = 'default' ORDER BY 1")
        assert [r[0] for r in rows] == [4, 5]
        b.ask(ANSWERABLE)
        assert sorted(p.name for p in (tmp_path / "b" / "corpora" / "default").glob("gen-*")) == [
            "gen-000004", "gen-000005"]
        if shared_backend.name == "milvus":  # the dropped generations' collections are gone
            names = shared_backend.client.list_collections()
            assert len(names) == 2 * 3, names
    finally:
        a.close()
        b.close()


def test_writes_from_two_hosts_at_once_lose_nothing(tmp_path: Path, postgres_url: str, seeds_dir: Path) -> None:
    """Each write reads the live generation again once it holds the lock: with hosts that trust what they
    read for a second, an add made while the other waited is still kept."""
    backend = LocalBackend()
    a = host(tmp_path, "a", postgres_url, backend, seeds_dir, live_seconds=60.0)
    b = host(tmp_path, "b", postgres_url, backend, seeds_dir, live_seconds=60.0)
    try:
        a.ensure("default")
        b.ask(ANSWERABLE)  # b has read (and trusts) generation 1
        errors: list[Exception] = []

        def add(engine: Engine, text: str, name: str) -> None:
            try:
                engine.add([load_text(text, source=name)])
            except Exception as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        threads = [threading.Thread(target=add, args=(a, ZORB, "zorblax.txt")),
                   threading.Thread(target=add, args=(b, HERON, "heron.txt"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        c = host(tmp_path, "c", postgres_url, backend, seeds_dir)  # a third host, which trusts nothing
        ids = {d.doc_id for d in c.documents()}
        c.close()
        assert {"zorblax-harvest-hits-a-record", "heron-bridge-reopens"} <= ids, ids
        assert len(a.registry.db.run("SELECT 1 FROM shared_added")) == 2
    finally:
        a.close()
        b.close()


def test_an_interrupted_upload_leaves_the_previous_generation_live(
        tmp_path: Path, postgres_url: str, seeds_dir: Path, shared_backend: IndexBackend,
        monkeypatch: pytest.MonkeyPatch) -> None:
    a = host(tmp_path, "a", postgres_url, shared_backend, seeds_dir)
    b = host(tmp_path, "b", postgres_url, shared_backend, seeds_dir)
    try:
        a.ensure("default")
        real_download = SharedCorpora.download
        uploaded: list[str] = []

        def dies_midway(self, corpus, number, folder):  # noqa: ANN001 - SharedCorpora.upload's
            for path in sorted(p for p in folder.rglob("*") if p.is_file())[:2]:
                uploaded.append(path.name)
                self.db.run("INSERT INTO shared_files (corpus, generation, path, part, data) VALUES (?,?,?,?,?)",
                            (corpus, number, path.relative_to(folder).as_posix(), 0, path.read_bytes()))
            raise StoreUnavailableError("the corpora database failed: server closed the connection")

        monkeypatch.setattr(SharedCorpora, "upload", dies_midway)
        with pytest.raises(StoreUnavailableError):
            a.add([load_text(ZORB, source="zorblax.txt")])
        monkeypatch.undo()
        assert uploaded
        for engine in (a, b):  # neither host sees any of it
            assert "zorblax-harvest-hits-a-record" not in {d.doc_id for d in engine.documents()}
            assert "$485 billion" in answer_text(engine, ANSWERABLE)
        assert not b.registry.db.run("SELECT 1 FROM shared_added")

        b.add([load_text(HERON, source="heron.txt")])  # the next writer tidies up the unfinished generation
        rows = b.registry.db.run("SELECT generation, complete FROM shared_generations ORDER BY 1")
        assert rows == [(1, True), (3, True)]
        assert not b.registry.db.run("SELECT 1 FROM shared_files WHERE generation = 2")
        assert not list((tmp_path / "a" / "corpora" / "default").glob("gen-000002*"))
        assert "Heron" in answer_text(a, HERON_QUESTION)
        assert real_download is SharedCorpora.download
    finally:
        a.close()
        b.close()


def test_a_host_answers_from_its_copy_while_postgresql_is_down(
        tmp_path: Path, postgres_url: str, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    a = host(tmp_path, "a", postgres_url, LocalBackend(), seeds_dir)
    try:
        a.ensure("default")
        a.ask(ANSWERABLE)
        calls = []

        def down(*args, **kwargs):  # noqa: ANN002, ANN003
            calls.append(args)
            raise StoreUnavailableError("the corpora database failed: connection refused")

        monkeypatch.setattr(a.registry.db, "run", down)
        assert "$485 billion" in answer_text(a, ANSWERABLE)
        assert "answers from gen-000001, which this host last used" in caplog.text
        before = len(calls)
        for _ in range(5):  # it does not try again for every question
            a.ask(ANSWERABLE)
        assert len(calls) == before
        assert a.corpora() == ["default"]  # the corpora this host has used
        assert len(calls) == before  # without trying again either
    finally:
        monkeypatch.undo()
        a.close()


def test_a_damaged_download_is_refused(tmp_path: Path, postgres_url: str, seeds_dir: Path) -> None:
    a = host(tmp_path, "a", postgres_url, LocalBackend(), seeds_dir)
    b = host(tmp_path, "b", postgres_url, LocalBackend(), seeds_dir)
    try:
        a.ensure("default")
        a.registry.db.run("UPDATE shared_files SET data = ? WHERE path = 'docs.sqlite' AND part = 0",
                          (b"\0" * 4096,))
        with pytest.raises(IndexCorruptError, match="downloaded from .* is damaged .*docs.sqlite"):
            b.ask(ANSWERABLE)
        assert not list((tmp_path / "b" / "corpora" / "default").glob("gen-*"))  # nothing half-fetched kept
        b.build("default")  # the repair the message names
        assert "$485 billion" in answer_text(b, ANSWERABLE)
    finally:
        a.close()
        b.close()


def test_corpora_built_before_sharing_move_into_the_database(tmp_path: Path, postgres_url: str,
                                                             seeds_dir: Path) -> None:
    """A host's corpora from before SHARE_CORPORA are moved in at start-up (bot.runtime.make_engine) with
    their added articles; another host that had its own corpus of that name takes the shared one."""
    before = Engine(tmp_path / "a", HashingEncoder(), EngineSettings(seeds_dir=seeds_dir))
    before.ensure("default")
    before.add([load_text(ZORB, source="zorblax.txt")])
    before.close()
    other = Engine(tmp_path / "b", HashingEncoder(), EngineSettings(seeds_dir=seeds_dir))
    other.ensure("default")
    other.add([load_text(HERON, source="heron.txt")])  # b's own generation 2: not a's generation 2
    other.close()

    corpora = SharedCorpora(postgres_url, tmp_path / "a")
    assert corpora.adopt_all() == ["default"]
    assert corpora.adopt_all() == []  # once
    corpora.close()
    b = host(tmp_path, "b", postgres_url, LocalBackend(), seeds_dir)
    try:
        assert b.registry.adopt_all() == []  # the database has it already: b's own copy is not moved in
        assert "900 tonnes" in answer_text(b, ZORB_QUESTION)  # a's generation 2, fetched over b's own
        assert "heron-bridge-reopens" not in {d.doc_id for d in b.documents()}
        b.build("default")  # the added article's source came along
        assert "zorblax-harvest-hits-a-record" in {d.doc_id for d in b.documents()}
        assert b.index("default").path.name == "gen-000003"
    finally:
        b.close()


def test_local_corpora_are_the_default(tmp_path: Path, seeds_dir: Path) -> None:
    engine = Engine(tmp_path / "index", HashingEncoder(), EngineSettings(seeds_dir=seeds_dir))
    assert isinstance(engine.registry, LocalCorpora)
    engine.close()


def test_the_bot_s_engine_moves_this_host_s_corpora_in_at_start(tmp_path: Path, postgres_url: str,
                                                                seeds_dir: Path) -> None:
    from bot.runtime import make_engine
    from bot.settings import Settings

    before = Engine(tmp_path / "index", HashingEncoder(), EngineSettings(seeds_dir=seeds_dir))
    before.ensure("default")
    before.close()
    engine = make_engine(Settings(index_dir=tmp_path / "index", seeds_dir=seeds_dir, records_url=postgres_url,
                                  share_corpora=True))
    try:
        assert isinstance(engine.registry, SharedCorpora)
        assert engine.registry.db.run("SELECT name, live FROM shared_corpora") == [("default", 1)]
    finally:
        engine.close()
    engine = make_engine(Settings(index_dir=tmp_path / "index", seeds_dir=seeds_dir, records_url=postgres_url))
    assert isinstance(engine.registry, LocalCorpora)  # SHARE_CORPORA off: INDEX_DIR, as before
    engine.close()


def test_a_corpus_being_fetched_does_not_hold_up_the_others(tmp_path: Path, postgres_url: str, seeds_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A fetch holds only its own corpus: the other corpora of the host answer meanwhile."""
    a = host(tmp_path, "a", postgres_url, LocalBackend(), seeds_dir)
    b = host(tmp_path, "b", postgres_url, LocalBackend(), seeds_dir)
    try:
        a.ensure("default")
        a.ensure("other")
        b.ask(ANSWERABLE, corpus="other")
        started, release = threading.Event(), threading.Event()
        real = SharedCorpora.download

        def slow(self, corpus, number, folder, only=None):  # noqa: ANN001 - SharedCorpora.download's
            started.set()
            assert release.wait(30)
            return real(self, corpus, number, folder, only)

        monkeypatch.setattr(SharedCorpora, "download", slow)
        fetching = threading.Thread(target=b.ask, args=(ANSWERABLE,), kwargs={"corpus": "default"})
        fetching.start()
        assert started.wait(30)
        try:
            answers: list = []
            other = threading.Thread(target=lambda: answers.append(b.ask(ANSWERABLE, corpus="other")))
            other.start()
            other.join(10)  # not waiting for "default"
            assert answers and "$485 billion" in answers[0].hits[0].text
        finally:
            release.set()
            fetching.join(30)
    finally:
        a.close()
        b.close()
