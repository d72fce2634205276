"""Faults at the index (issue 11): a full disk, a read-only index, damaged files, a failed or killed write,
a busy writer, the same text twice. Each ends in a clear message, loses nothing and brings nothing back.

A full and a read-only disk are real where the test may mount a small tmpfs (root, as on CI); the stage at
which a write fails is then chosen by injecting the same errors at each step.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import index.engine as engine_module
import index.search as search_module
from index.documents import load_text
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from index.errors import BusyError, DuplicateDocumentError, IndexCorruptError, IndexWriteError
from index.store import CorpusDir

ARTICLE = ("Zorblax mining output rose to 900 tonnes in 2024, the ministry said. "
           "Officials expect it to double by 2030. The mine employs 1,200 people.\n")
REBUILD = "newsqa index build --corpus default"


def _state(engine: Engine, corpus: str = "default") -> tuple:
    """What must not change when a write fails: the live generation, its documents, the saved sources."""
    cdir = engine.corpus(corpus)
    added = sorted(p.name for p in cdir.added_dir.glob("*")) if cdir.added_dir.is_dir() else []
    state = (cdir.root / "state.json").read_text() if (cdir.root / "state.json").exists() else None
    return cdir.current_token(), [d.doc_id for d in engine.documents(corpus)], added, state


def _leftovers(engine: Engine, corpus: str = "default") -> list[str]:
    root = engine.corpus(corpus).root
    return sorted(p.name for p in root.iterdir() if p.name.endswith(".tmp") or p.name.startswith("pending-"))


def _fresh(engine: Engine, seeds_dir: Path) -> Engine:
    return Engine(engine.index_dir, HashingEncoder(), EngineSettings(seeds_dir=seeds_dir))


# ------------------------------------------------------------------ a full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs: room for the seed index, and a real ENOSPC once filled."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the injected faults still run")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_says_so_and_leaves_the_index_as_it_was(small_disk: Path, seeds_dir: Path) -> None:
    engine = Engine(small_disk / "index", HashingEncoder(), EngineSettings(seeds_dir=seeds_dir))
    engine.ensure("default")
    before = _state(engine)
    filler = _fill(small_disk)
    with pytest.raises(IndexWriteError, match=r"the disk holding .* is full: the write failed and corpus "
                                              r"'default' is unchanged; free some space"):
        engine.add([load_text(ARTICLE * 200, title="Zorblax")])
    assert _state(engine) == before and _leftovers(engine) == []
    filler.unlink()  # space again: the same add now works, and a rebuild keeps it
    engine.add([load_text(ARTICLE * 200, title="Zorblax")])
    assert "zorblax" in [d.doc_id for d in engine.documents()]
    engine.close()


def _fail(exc: BaseException):  # noqa: ANN202
    def raiser(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise exc
    return raiser


ENOSPC = OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(("target", "exc"), [
    ("cache", sqlite3.OperationalError("database or disk is full")),
    ("tables", sqlite3.OperationalError("database or disk is full")),
    ("numpy", ENOSPC),
    ("faiss", RuntimeError("Error in faiss::write_index: 'ret == (size * 4)' failed: write error in "
                           "sentences.faiss: 4051 != 16000 (No space left on device)")),
    ("publish", ENOSPC),
])
def test_disk_full_at_every_step_of_an_add(fake_engine: Engine, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                           target: str, exc: BaseException) -> None:
    before = _state(fake_engine)
    patch = {
        "cache": (type(fake_engine.cache), "embed"),
        "tables": (engine_module, "write_tables"),
        "numpy": (engine_module.np, "save"),
        "faiss": (__import__("faiss"), "write_index"),
        "publish": (CorpusDir, "publish"),
    }[target]
    with monkeypatch.context() as m:
        m.setattr(*patch, _fail(exc))
        with pytest.raises(IndexWriteError, match="is full: the write failed and corpus 'default' is unchanged"):
            fake_engine.add([load_text(ARTICLE, title="Zorblax")])
    assert _state(fake_engine) == before and _leftovers(fake_engine) == []
    # nothing of the failed add comes back with the next rebuild (its source copy was never kept)
    fake_engine.build()
    assert [d.doc_id for d in fake_engine.documents()] == before[1]


# ------------------------------------------------------------------ failed or killed writes


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs, no handler cleans up."""


def test_an_add_killed_before_its_generation_went_live_is_not_resurrected(fake_engine: Engine, seeds_dir: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    before = _state(fake_engine)
    with monkeypatch.context() as m:
        m.setattr(CorpusDir, "publish", _fail(Killed()))
        with pytest.raises(Killed):
            fake_engine.add([load_text(ARTICLE, title="Zorblax")])
    assert any(p.startswith("pending-") for p in _leftovers(fake_engine))  # what a kill leaves behind
    engine = _fresh(fake_engine, seeds_dir)
    report = engine.build()
    assert report.added == () and [d.doc_id for d in engine.documents()] == before[1]
    assert _leftovers(engine) == []


def test_a_remove_killed_before_its_generation_went_live_changes_nothing(fake_engine: Engine, seeds_dir: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    fake_engine.add([load_text(ARTICLE, title="Zorblax")])
    before = _state(fake_engine)
    with monkeypatch.context() as m:
        m.setattr(CorpusDir, "publish", _fail(Killed()))
        with pytest.raises(Killed):
            fake_engine.remove("zorblax")
    engine = _fresh(fake_engine, seeds_dir)
    engine.build()
    assert _state(engine)[1:] == before[1:]  # the document is still there, and still in its sources


def test_an_add_killed_after_its_generation_went_live_keeps_its_source(fake_engine: Engine, seeds_dir: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real = CorpusDir.apply_pending
    calls = []

    def killed_after_the_switch(self: CorpusDir) -> None:
        calls.append(self.current_token())
        if len(calls) > 1:  # the first call is the lock's own clean-up, the second comes after publishing
            raise Killed
        real(self)

    with monkeypatch.context() as m:
        m.setattr(CorpusDir, "apply_pending", killed_after_the_switch)
        with pytest.raises(Killed):
            fake_engine.add([load_text(ARTICLE, title="Zorblax")])
    engine = _fresh(fake_engine, seeds_dir)
    assert "zorblax" in [d.doc_id for d in engine.documents()]  # live
    engine.build()  # the staged source copy is applied by the next writer, so a rebuild keeps it
    assert "zorblax" in [d.doc_id for d in engine.documents()]
    assert (engine.corpus("default").added_dir / "zorblax.json").exists() and _leftovers(engine) == []


# ------------------------------------------------------------------ read-only index


def test_a_read_only_index_still_answers_and_refuses_writes_plainly(small_disk: Path, seeds_dir: Path) -> None:
    engine = Engine(small_disk / "index", HashingEncoder(), EngineSettings(seeds_dir=seeds_dir))
    engine.ensure("default")
    engine.add([load_text(ARTICLE, title="Zorblax")])  # the embedding cache exists and is healthy
    engine.close()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    reader = Engine(small_disk / "index", HashingEncoder(), EngineSettings(seeds_dir=seeds_dir))
    assert "900 tonnes" in reader.ask("zorblax mining output tonnes").hits[0].text
    with pytest.raises(IndexWriteError, match=r"Read-only file system.*adding or rebuilding needs write access"):
        reader.add([load_text("Another article about zorblax. It is short.", title="Other")])
    reader.close()
    assert sorted(p.name for p in (small_disk / "index").iterdir()) == ["corpora", "embeddings.sqlite"]


# ------------------------------------------------------------------ damaged files and their repair


def _flip(path: Path, count: int, seed: int = 11) -> None:
    """Flip ``count`` bytes in the second half of ``path`` (headers intact, so only a checksum sees it)."""
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    for at in rng.choice(np.arange(len(data) // 2, len(data)), size=min(count, len(data) // 2), replace=False):
        data[at] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["vectors.npy", "paragraphs.npy", "documents.npy", "sentences.faiss",
                                  "docs.sqlite", "sent_doc.npy", "bm25-sentences/vocab.index.json"])
def test_flipped_bytes_in_any_generation_file_are_caught_at_load(fake_engine: Engine, seeds_dir: Path,
                                                                 name: str) -> None:
    live = fake_engine.index().path
    if not (live / name).exists():
        name = sorted(p.relative_to(live).as_posix() for p in (live / "bm25-sentences").iterdir())[0]
    _flip(live / name, 8)
    engine = _fresh(fake_engine, seeds_dir)
    with pytest.raises(IndexCorruptError, match=rf"{name} is damaged \(checksum .*{REBUILD}"):
        engine.ask("How much did allies invest in defense?")
    engine.build()  # the documented repair works from the sources
    assert "$485 billion" in engine.ask("How much did allies invest in defense in 2024?").hits[0].text


def test_checksums_of_a_large_generation_are_verified_in_the_background(fake_engine: Engine, seeds_dir: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "SYNC_VERIFY_BYTES", 0)
    fake_engine.add([load_text(ARTICLE, title="Zorblax")])
    _flip(fake_engine.index().path / "vectors.npy", 8)
    engine = _fresh(fake_engine, seeds_dir)
    idx = engine.index()  # loads at once; the checksums are being verified meanwhile
    with pytest.raises(IndexCorruptError, match="vectors.npy is damaged"):
        idx.wait_verified()
    with pytest.raises(IndexCorruptError, match=f"vectors.npy is damaged.*{REBUILD}"):
        engine.ask("zorblax output")
    # a write never copies from a generation that failed its checksums: the add starts from the sources
    engine.add([load_text("Quarry output in Velm fell by 3% in 2024. The quarry closed.", title="Velm")])
    assert {"nato-defense-ministers", "zorblax", "velm"} == {d.doc_id for d in engine.documents()}


@pytest.mark.parametrize("checksums", [True, False])
def test_a_damaged_docs_sqlite_does_not_block_its_own_repair(fake_engine: Engine, seeds_dir: Path,
                                                             checksums: bool) -> None:
    """2,000 flipped bytes: `ask` said IndexError and `index build` refused with "database disk image is
    malformed". Without checksums (a generation from before them) the queries must still fail plainly."""
    fake_engine.add([load_text(ARTICLE * 30, title="Zorblax")])
    live = fake_engine.index().path
    if not checksums:
        manifest = json.loads((live / "manifest.json").read_text())
        del manifest["files"]
        (live / "manifest.json").write_text(json.dumps(manifest))
    _flip(live / "docs.sqlite", 2000)
    engine = _fresh(fake_engine, seeds_dir)
    try:
        engine.ask("zorblax output")
        engine.ask("How much did allies invest in defense?")
    except IndexCorruptError as exc:
        assert REBUILD in str(exc)
    report = engine.build()  # must work from the sources
    assert "zorblax" in report.removed or "zorblax" in [d.doc_id for d in engine.documents()]
    assert "$485 billion" in engine.ask("How much did allies invest in defense in 2024?").hits[0].text


@pytest.mark.parametrize("payload", ["[1]", "{}", '{"format_version": 2, "generation": "x"}', "null"])
def test_a_manifest_of_the_wrong_shape_is_damage_not_a_crash(fake_engine: Engine, seeds_dir: Path,
                                                              payload: str) -> None:
    (fake_engine.index().path / "manifest.json").write_text(payload)
    engine = _fresh(fake_engine, seeds_dir)
    with pytest.raises(IndexCorruptError, match=REBUILD) if payload != "{}" else pytest.raises(Exception, match=REBUILD):
        engine.ask("How much did allies invest in defense?")
    engine.add([load_text(ARTICLE, title="Zorblax")])  # an add starts from the sources
    engine.build()
    assert {"nato-defense-ministers", "zorblax"} == {d.doc_id for d in engine.documents()}


@pytest.mark.parametrize("payload", ["[1]", '{"removed": 5}', '{"source_dir": 3}', '"text"'])
def test_a_state_file_of_the_wrong_shape_is_set_aside(fake_engine: Engine, payload: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    root = fake_engine.corpus("default").root
    (root / "state.json").write_text(payload)
    fake_engine.add([load_text(ARTICLE, title="Zorblax")])
    fake_engine.build()
    assert {"nato-defense-ministers", "zorblax"} == {d.doc_id for d in fake_engine.documents()}
    assert "state.json was unreadable" in caplog.text and list(root.glob("state.json.corrupt-*"))


@pytest.mark.parametrize(("payload", "logged"), [
    ("[1]", "not a saved document"),
    (json.dumps({"doc_id": "zorblax", "title": "Z", "source": "x", "text": " "}), "has no sentences"),
])
def test_a_saved_document_of_the_wrong_shape_is_skipped(fake_engine: Engine, caplog: pytest.LogCaptureFixture,
                                                        payload: str, logged: str) -> None:
    fake_engine.add([load_text(ARTICLE, title="Zorblax")])
    (fake_engine.corpus("default").added_dir / "zorblax.json").write_text(payload)
    fake_engine.build()
    assert [d.doc_id for d in fake_engine.documents()] == ["nato-defense-ministers"]
    assert logged in caplog.text


# ------------------------------------------------------------------ a busy writer


def test_a_waiting_writer_says_for_whom_it_waits(fake_engine: Engine, seeds_dir: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with CorpusDir(fake_engine.index_dir, "default").writer_lock(None, purpose="an add of big-report"):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    waiter = Engine(fake_engine.index_dir, HashingEncoder(), EngineSettings(seeds_dir=seeds_dir, lock_timeout=0.3))
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(
                BusyError, match=rf"busy with an add of big-report \(pid {os.getpid()}, since .*UTC\)"):
            waiter.add([load_text(ARTICLE, title="Zorblax")])
        assert f"is busy with an add of big-report (pid {os.getpid()}" in caplog.text
        assert "waiting up to 0.3 s before an add of zorblax" in caplog.text
    finally:
        release.set()
        holder.join()


# ------------------------------------------------------------------ the same text twice


def test_the_same_text_under_two_names_is_indexed_once(fake_engine: Engine, tmp_path: Path) -> None:
    from index.documents import load_path

    first = tmp_path / "zorblax.txt"
    first.write_text(ARTICLE)
    copy = tmp_path / "zorblax-copy.txt"
    copy.write_text(ARTICLE.replace(" ", "  "))  # spacing does not make it another text
    fake_engine.add([load_path(first)])
    before = _state(fake_engine)
    for doc in (load_path(copy), load_path(tmp_path / ".." / tmp_path.name / "zorblax.txt"), load_text(ARTICLE, title="Pasted")):
        with pytest.raises(DuplicateDocumentError, match=r"same text as zorblax\) is already indexed; "
                                                         r"to replace it with this copy, remove zorblax first"):
            fake_engine.add([doc])
    assert _state(fake_engine) == before
    report = fake_engine.add([load_path(copy), load_text("Quarry output in Velm fell by 3%. It closed.", title="Velm")])
    assert report.added == ("velm",) and report.duplicates and "zorblax" in report.duplicates[0]
    fake_engine.add([load_path(first)])  # the same file again is a refresh, not a duplicate
    assert [d.doc_id for d in fake_engine.documents()].count("zorblax") == 1
    answer = fake_engine.ask("zorblax mining output tonnes")
    assert len({h.text for h in answer.hits}) == len(answer.hits)


def test_a_source_folder_with_two_copies_builds_one_document(tmp_path: Path, seeds_dir: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    (seeds_dir / "zorblax.txt").write_text(ARTICLE)
    (seeds_dir / "zorblax-again.md").write_text(ARTICLE)
    engine = Engine(tmp_path / "index", HashingEncoder(), EngineSettings(seeds_dir=seeds_dir))
    engine.build()
    assert sorted(d.doc_id for d in engine.documents()) == ["nato-defense-ministers", "zorblax-again"] or \
        sorted(d.doc_id for d in engine.documents()) == ["nato-defense-ministers", "zorblax"]
    assert "same text as" in caplog.text
    engine.close()
