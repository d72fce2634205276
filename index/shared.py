"""Corpora shared by bot processes on several hosts through PostgreSQL (SHARE_CORPORA, with RECORDS_URL).

By default a corpus lives under INDEX_DIR (``index.store``), which every process that answers from it
must see: on several hosts, a network file system. With ``SharedCorpora``, PostgreSQL holds what makes
a corpus the same on every host, and INDEX_DIR is each host's own cache:

- which generation is live (``shared_corpora.live``), switched in one transaction together with the
  source changes the write makes (the corpus's state and the documents added to or dropped from it),
  so a generation and its sources never disagree;
- every file of every kept generation (manifest, docs.sqlite, terms.json; Milvus's collection names;
  with the local backend its FAISS, bm25s and numpy files too), in parts of ``PART_BYTES``. A host that
  finds another generation live downloads it once into its INDEX_DIR, checks every file's size and
  checksum against the manifest, and only then loads it;
- generation numbers, from a counter per corpus: two hosts never write the same number, so a folder
  ``gen-000042`` on any host is always generation 42 (its manifest is compared all the same).

A write is the local one (``index.store``) with two changes: the finished generation is uploaded before
the switch (an interrupted upload is an unfinished generation, deleted by the next writer), and the
switch is the transaction above instead of the ``CURRENT`` file, which stays on each host as a hint:
the generation it last used, answered from while PostgreSQL cannot be reached. Writers still take the
corpus's writer lock: the host's flock, then the PostgreSQL advisory lock (``index.database.CorpusLock``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .database import CorpusLock, PostgresDatabase, StoreUnavailableError
from .errors import IndexCorruptError, IndexMissingError, NewsQAError
from .models import Document
from .store import (CorpusDir, LocalCorpora, atomic_write, check_checksums, check_sizes, fsync_dir, fsync_tree, read_manifest,
                    saved_document_problem, staged_changes, state_problem)

log = logging.getLogger(__name__)

PART_BYTES = 8 * 1024 * 1024  # a file is stored in rows of this many bytes
LIVE_SECONDS = 1.0  # how long a host trusts the live generation it read (another host's switch shows within it)
RETRY_SECONDS = 30.0  # while PostgreSQL is unreachable, how long answers use the last known generation
FETCH_LEFTOVER_SECONDS = 3600.0  # a download folder this old was left by a process that died
_EMPTY_STATE: dict[str, Any] = {"source_dir": None, "removed": []}

SCHEMA = """
CREATE TABLE IF NOT EXISTS shared_corpora (
    name TEXT PRIMARY KEY, live INTEGER, next_generation INTEGER NOT NULL, state TEXT, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shared_generations (
    corpus TEXT NOT NULL, generation INTEGER NOT NULL, complete BOOLEAN NOT NULL, manifest TEXT,
    host TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (corpus, generation)
);
CREATE TABLE IF NOT EXISTS shared_files (
    corpus TEXT NOT NULL, generation INTEGER NOT NULL, path TEXT NOT NULL, part INTEGER NOT NULL,
    data BYTEA NOT NULL, PRIMARY KEY (corpus, generation, path, part)
);
CREATE TABLE IF NOT EXISTS shared_added (
    corpus TEXT NOT NULL, doc_id TEXT NOT NULL, saved TEXT NOT NULL, PRIMARY KEY (corpus, doc_id)
)
"""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _gen(number: int) -> str:
    return f"gen-{number:06d}"


class SharedCorpora:
    """The corpora of every host, kept in RECORDS_URL's PostgreSQL; ``index_dir`` is this host's cache.

    ``outside``: the files of a generation that name what its backend stored outside the folder (what
    ``IndexBackend.discard`` reads: Milvus's ``milvus.json``), fetched to free an old generation that
    this host never downloaded; None fetches the whole generation.
    """

    def __init__(self, url: str, index_dir: Path, *, outside: Sequence[str] | None = None,
                 live_seconds: float = LIVE_SECONDS) -> None:
        self.url = url
        self.index_dir = Path(index_dir)
        self.outside = None if outside is None else tuple(outside)
        self.live_seconds = live_seconds
        self.lock = CorpusLock(url)
        self.db = PostgresDatabase(url, name="corpora", timeout=30.0)
        self.db.schema(SCHEMA)
        self._live: dict[str, tuple[int | None, float]] = {}  # corpus -> (live generation, when read)
        self._down_until = 0.0
        self._guard = threading.Lock()

    @property
    def where(self) -> str:
        return self.db.where

    def corpus(self, name: str) -> SharedCorpusDir:
        return SharedCorpusDir(self, name)

    def names(self) -> list[str]:
        """The corpora with a live generation (while PostgreSQL is unreachable: those this host has used,
        whose CURRENT files are its hints)."""
        if time.monotonic() < self._down_until:
            return LocalCorpora(self.index_dir).names()
        try:
            return [r[0] for r in self.db.run("SELECT name FROM shared_corpora WHERE live IS NOT NULL ORDER BY name")]
        except StoreUnavailableError as exc:
            self._down_until = time.monotonic() + RETRY_SECONDS
            log.warning("%s; listing the corpora this host has used, and trying again in %g s", exc, RETRY_SECONDS)
            return LocalCorpora(self.index_dir).names()

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ the live generation

    def live(self, cdir: SharedCorpusDir, *, fresh: bool = False) -> int | None:
        """The live generation of a corpus, read at most every ``live_seconds`` (always when ``fresh``).

        While PostgreSQL cannot be reached, the one read last (or this host's hint) is used for
        ``RETRY_SECONDS`` before trying again, so that questions are still answered, without waiting.
        """
        now = time.monotonic()
        with self._guard:
            known = self._live.get(cdir.name)
        if not fresh and known is not None and (now - known[1] < self.live_seconds or now < self._down_until):
            return known[0]
        if not fresh and now < self._down_until:
            return cdir.hint()
        try:
            rows = self.db.run("SELECT live FROM shared_corpora WHERE name = ?", (cdir.name,))
        except StoreUnavailableError as exc:
            if fresh:
                raise
            self._down_until = time.monotonic() + RETRY_SECONDS
            value = known[0] if known is not None else cdir.hint()
            log.warning("%s; corpus %s answers from %s, which this host last used, and tries again in %g s",
                        exc, cdir.name, _gen(value) if value else "nothing", RETRY_SECONDS)
            return value
        value = rows[0][0] if rows else None
        self.note_live(cdir.name, value)
        return value

    def note_live(self, corpus: str, number: int | None) -> None:
        with self._guard:
            self._live[corpus] = (number, time.monotonic())

    # ------------------------------------------------------------------ files

    def upload(self, corpus: str, number: int, folder: Path) -> None:
        """Store every file of a finished generation folder (not live yet) under its number."""
        db = PostgresDatabase(self.url, name="corpora upload", timeout=30.0)  # not the connection answers use
        try:
            db.run("DELETE FROM shared_files WHERE corpus = ? AND generation = ?", (corpus, number))
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                name = path.relative_to(folder).as_posix()
                with open(path, "rb") as fh:
                    part = 0
                    while True:
                        data = fh.read(PART_BYTES)
                        if not data and part:
                            break
                        db.run("INSERT INTO shared_files (corpus, generation, path, part, data) VALUES (?,?,?,?,?)",
                               (corpus, number, name, part, data))
                        part += 1
                        if len(data) < PART_BYTES:
                            break
            manifest = (folder / "manifest.json").read_text(encoding="utf-8")
            db.run("UPDATE shared_generations SET manifest = ? WHERE corpus = ? AND generation = ?",
                   (manifest, corpus, number))
        finally:
            db.close()

    def download(self, corpus: str, number: int, folder: Path, only: Sequence[str] | None = None) -> None:
        """Write a generation's stored files (or those named in ``only``) into ``folder``."""
        db = PostgresDatabase(self.url, name="corpora download", timeout=30.0)
        try:
            names = [r[0] for r in db.run(
                "SELECT DISTINCT path FROM shared_files WHERE corpus = ? AND generation = ? ORDER BY path",
                (corpus, number))]
            for name in names:
                if only is not None and name not in only:
                    continue
                target = folder / name
                if Path(name).is_absolute() or ".." in Path(name).parts:
                    raise IndexCorruptError(f"corpus {corpus!r}: {_gen(number)} stores a file named {name!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as fh:
                    part = 0
                    while True:
                        rows = db.run("SELECT data FROM shared_files WHERE corpus = ? AND generation = ? "
                                      "AND path = ? AND part = ?", (corpus, number, name, part))
                        if not rows:
                            break
                        fh.write(rows[0][0])
                        part += 1
        finally:
            db.close()

    def manifest_text(self, corpus: str, number: int) -> str | None:
        rows = self.db.run("SELECT manifest FROM shared_generations WHERE corpus = ? AND generation = ? AND complete",
                           (corpus, number))
        return rows[0][0] if rows else None

    # ------------------------------------------------------------------ moving a host's corpora in

    def adopt(self, cdir: CorpusDir, *, timeout: float | None = None) -> bool:
        """Move a corpus this host built before SHARE_CORPORA into PostgreSQL (its live generation, state
        and added documents), unless PostgreSQL already has it. True if it was moved."""
        if cdir.current_token() is None:
            return False
        with cdir.writer_lock(timeout, purpose=f"sharing corpus {cdir.name!r}"):  # also applies its pending changes
            if self.db.run("SELECT 1 FROM shared_corpora WHERE name = ?", (cdir.name,)):
                return False
            folder = cdir.current()
            number = int(folder.name.removeprefix("gen-"))
            read_manifest(folder)
            local_max = max(cdir.generation_numbers(), default=number)
            with self.db.tx() as tx:
                tx.execute("INSERT INTO shared_generations (corpus, generation, complete, manifest, host, created_at) "
                           "VALUES (?,?,?,?,?,?)", (cdir.name, number, False, None, _host(), _now()))
                tx.execute("INSERT INTO shared_corpora (name, live, next_generation, state, updated_at) "
                           "VALUES (?,?,?,?,?)", (cdir.name, None, local_max + 1, None, _now()))
            self.upload(cdir.name, number, folder)
            shared = self.corpus(cdir.name)
            shared.stage(number, state=cdir.read_state(), save=[], drop=[])
            shared.pending_saved[number] = cdir.added_documents()
            shared.switch(number)
            log.info("corpus %s: %s and its sources moved to %s", cdir.name, folder.name, self.where)
            return True

    def adopt_all(self, *, timeout: float | None = None) -> list[str]:
        """``adopt`` every corpus under this host's INDEX_DIR; the names of those moved."""
        root = self.index_dir / "corpora"
        moved = []
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            if (path / "CURRENT").exists():
                with contextlib.suppress(ValueError):
                    local = CorpusDir(self.index_dir, path.name, self.lock)
                    if self.adopt(local, timeout=timeout):
                        moved.append(path.name)
        return moved


def _copy_problem(folder: Path, manifest: str) -> str | None:
    """What is wrong with a downloaded generation, checked against its stored manifest, or None."""
    try:
        if (folder / "manifest.json").read_text(encoding="utf-8") != manifest:
            return "manifest.json differs from the stored manifest"
        files = json.loads(manifest).get("files") or {}
    except (OSError, ValueError, AttributeError) as exc:
        return f"manifest.json: {exc}"
    return check_sizes(folder, files) or check_checksums(folder, files)


def _host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class SharedCorpusDir(CorpusDir):
    """One corpus whose live generation and sources are in PostgreSQL (``SharedCorpora``); its folder
    under INDEX_DIR holds this host's copies of generations, its writer lock and a hint of the live one."""

    def __init__(self, shared: SharedCorpora, name: str) -> None:
        super().__init__(shared.index_dir, name, shared.lock)
        self.shared = shared
        self.pending: dict[int, dict[str, Any]] = {}  # staged source changes by generation, applied at the switch
        self.pending_saved: dict[int, list[dict[str, Any]]] = {}  # saved documents, as stored (adopt)

    # ------------------------------------------------------------------ reading

    def exists(self) -> bool:
        return self.shared.live(self) is not None

    def current_token(self) -> str | None:
        number = self.shared.live(self)
        return _gen(number) if number else None

    def hint(self) -> int | None:
        """The generation this host last used (its CURRENT file), or None."""
        token = super().current_token()
        try:
            return int(token.removeprefix("gen-")) if token else None
        except ValueError:
            return None

    def current(self) -> Path:
        """The live generation's folder on this host, downloaded first if this host lacks it."""
        number = self.shared.live(self)
        if not number:
            raise IndexMissingError(
                f"corpus {self.name!r} has no index yet: build it with `newsqa index build --corpus {self.name}`")
        return self.fetch(number)

    def fetch(self, number: int) -> Path:
        final = self.root / _gen(number)
        try:
            manifest = self.shared.manifest_text(self.name, number)
        except StoreUnavailableError:
            if (final / "manifest.json").is_file():
                return final  # what this host has: PostgreSQL is down, and its files were checked on the way in
            raise
        if manifest is None:
            raise IndexCorruptError(f"corpus {self.name!r}: {_gen(number)} is live but its files are not stored in "
                                    f"{self.shared.where}; rebuild with `newsqa index build --corpus {self.name}`")
        with contextlib.suppress(OSError):
            if (final / "manifest.json").read_text(encoding="utf-8") == manifest:
                self._note_hint(final.name)
                return final
        self.root.mkdir(parents=True, exist_ok=True)
        self._drop_leftovers()
        started = time.perf_counter()
        temp = self.root / f".fetch-{_gen(number)}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            temp.mkdir()
            self.shared.download(self.name, number, temp)
            problem = _copy_problem(temp, manifest)
            if problem:
                raise IndexCorruptError(f"corpus {self.name!r}: the copy of {_gen(number)} downloaded from "
                                        f"{self.shared.where} is damaged ({problem}); rebuild with "
                                        f"`newsqa index build --corpus {self.name}`")
            fsync_tree(temp)
            if final.exists():  # a stale copy (a generation this host wrote but never published)
                shutil.rmtree(final)
            try:
                os.rename(temp, final)
            except OSError:  # another process of this host fetched it first
                if (final / "manifest.json").read_text(encoding="utf-8") != manifest:
                    raise
            fsync_dir(self.root)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        log.info("corpus %s: fetched %s from %s in %.1f s", self.name, final.name, self.shared.where,
                 time.perf_counter() - started)
        previous = self.hint()
        self._note_hint(final.name)
        self._drop_older(min(number, previous or number))
        return final

    def _drop_older(self, number: int) -> None:
        """Delete this host's copies of generations older than ``number`` (and than the one it answered
        from until now, which a question may still be reading): a host that only answers never runs the
        writers' garbage collection. Unfinished folders are a writer's, and left to it."""
        for path in self.root.glob("gen-*"):
            if path.is_dir() and path.name[4:].isdigit() and int(path.name[4:]) < number:
                shutil.rmtree(path, ignore_errors=True)

    def _note_hint(self, name: str) -> None:
        if super().current_token() != name:
            with contextlib.suppress(OSError):
                atomic_write(self.root / "CURRENT", name + "\n")

    def _drop_leftovers(self) -> None:
        for path in self.root.glob(".fetch-*"):
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > FETCH_LEFTOVER_SECONDS:
                    shutil.rmtree(path, ignore_errors=True)

    def read_state(self) -> dict[str, Any]:
        rows = self.shared.db.run("SELECT state FROM shared_corpora WHERE name = ?", (self.name,))
        if not rows or rows[0][0] is None:
            return dict(_EMPTY_STATE, removed=[])
        try:
            state = json.loads(rows[0][0])
            problem = state_problem(state)
        except ValueError as exc:
            problem = str(exc)
        if problem is None:
            return state
        log.error("corpus %s: its state in %s is unusable (%s); starting afresh", self.name, self.shared.where, problem)
        return dict(_EMPTY_STATE, removed=[])

    def added_documents(self) -> list[dict[str, Any]]:
        out = []
        for doc_id, text in self.shared.db.run(
                "SELECT doc_id, saved FROM shared_added WHERE corpus = ? ORDER BY doc_id", (self.name,)):
            try:
                saved = json.loads(text)
            except ValueError as exc:
                log.error("skipping added document %s of corpus %s: %s", doc_id, self.name, exc)
                continue
            problem = saved_document_problem(saved)
            if problem:
                log.error("skipping added document %s of corpus %s: %s", doc_id, self.name, problem)
                continue
            out.append(saved)
        return out

    # ------------------------------------------------------------------ writing (writer lock held)

    @contextlib.contextmanager
    def writer_lock(self, timeout: float | None = None, purpose: str = "a write") -> Iterator[None]:
        """The corpus's writer lock (this host's flock, then PostgreSQL's advisory lock); once held, the live
        generation is read again, so that a write builds on what another host switched to meanwhile."""
        with super().writer_lock(timeout, purpose):
            self.shared.live(self, fresh=True)
            yield

    def next_generation(self) -> tuple[int, Path]:
        """Reserve the next number of this corpus for a write (never handed out twice, on any host)."""
        with self.shared.db.tx() as tx:
            row = tx.execute("SELECT next_generation FROM shared_corpora WHERE name = ?", (self.name,)).fetchone()
            local = max(self.generation_numbers(), default=0)
            if row is None:
                number = local + 1
                tx.execute("INSERT INTO shared_corpora (name, live, next_generation, state, updated_at) "
                           "VALUES (?,?,?,?,?)", (self.name, None, number + 1, None, _now()))
            else:
                number = row[0]
                tx.execute("UPDATE shared_corpora SET next_generation = ? WHERE name = ?", (number + 1, self.name))
            tx.execute("INSERT INTO shared_generations (corpus, generation, complete, manifest, host, created_at) "
                       "VALUES (?,?,?,?,?,?)", (self.name, number, False, None, _host(), _now()))
        final = self.root / _gen(number)
        if final.exists():  # this host's copy of a number from before sharing: not this generation
            shutil.rmtree(final)
        return number, final

    def stage(self, generation: int, *, state: dict[str, Any] | None = None, save: list[Document] = (),
              drop: list[str] = ()) -> None:
        self.pending[generation] = staged_changes(state, list(save), list(drop))

    def unstage(self, generation: int) -> None:
        self.pending.pop(generation, None)
        self.pending_saved.pop(generation, None)

    def apply_pending(self) -> None:
        """Nothing to do: staged changes are applied in the switch's own transaction."""

    def publish(self, tmp: Path, final: Path) -> None:
        """Upload the finished generation, switch to it in PostgreSQL, then keep it as this host's copy."""
        number = int(final.name.removeprefix("gen-"))
        fsync_tree(tmp)
        self.shared.upload(self.name, number, tmp)
        self.switch(number)
        os.rename(tmp, final)
        fsync_dir(self.root)
        self._note_hint(final.name)

    def switch(self, number: int) -> None:
        """Make generation ``number`` live with its staged source changes, in one transaction."""
        payload = self.pending.pop(number, {})
        saved = [*payload.get("save", []), *self.pending_saved.pop(number, [])]
        with self.shared.db.tx() as tx:
            tx.execute("UPDATE shared_generations SET complete = TRUE WHERE corpus = ? AND generation = ?",
                       (self.name, number))
            if payload.get("state") is not None:
                tx.execute("UPDATE shared_corpora SET state = ? WHERE name = ?",
                           (json.dumps(payload["state"]), self.name))
            for doc in saved:
                tx.execute("INSERT INTO shared_added (corpus, doc_id, saved) VALUES (?,?,?) ON CONFLICT (corpus, doc_id) "
                           "DO UPDATE SET saved = excluded.saved", (self.name, doc["doc_id"], json.dumps(doc, ensure_ascii=False)))
            for doc_id in payload.get("drop", []):
                tx.execute("DELETE FROM shared_added WHERE corpus = ? AND doc_id = ?", (self.name, doc_id))
            tx.execute("UPDATE shared_corpora SET live = ?, updated_at = ? WHERE name = ?", (number, _now(), self.name))
        self.shared.note_live(self.name, number)

    def collect_garbage(self, keep: int = 2, on_remove: Callable[[Path], None] | None = None) -> None:
        """Forget generations that are neither live nor among the newest ``keep`` finished ones (and
        unfinished ones: a write that died), freeing what they stored outside (``on_remove``); then
        delete this host's copies of those and its own unfinished folders."""
        live = self.shared.live(self, fresh=True)
        rows = self.shared.db.run("SELECT generation, complete FROM shared_generations WHERE corpus = ? "
                                  "ORDER BY generation", (self.name,))
        finished = [g for g, complete in rows if complete]
        kept = {live, *finished[-keep:]} if keep else {live}
        for number, _complete in rows:
            if number in kept:
                continue
            if on_remove is not None and not self._free(number, on_remove):
                continue
            with self.shared.db.tx() as tx:
                tx.execute("DELETE FROM shared_files WHERE corpus = ? AND generation = ?", (self.name, number))
                tx.execute("DELETE FROM shared_generations WHERE corpus = ? AND generation = ?", (self.name, number))
        for path in self.root.glob("gen-*"):
            if not path.is_dir():
                continue
            name = path.name.split(".")[0]
            number = int(name[4:]) if name[4:].isdigit() else None
            if name == path.name and number in kept:
                continue
            if name != path.name and number not in finished and on_remove is not None:
                try:  # this host's write that never finished: what it stored may be named only here
                    on_remove(path)
                except NewsQAError as exc:
                    log.warning("corpus %s: keeping %s for now: %s", self.name, path.name, exc)
                    continue
            shutil.rmtree(path, ignore_errors=True)

    def _free(self, number: int, on_remove: Callable[[Path], None]) -> bool:
        """Call ``on_remove`` on a folder holding the generation's files it needs; False to keep it for now."""
        folder = self.root / f".gc-{_gen(number)}-{os.getpid()}"
        try:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            self.shared.download(self.name, number, folder, only=self.shared.outside)
            on_remove(folder)
            return True
        except NewsQAError as exc:  # tried again by the next write
            log.warning("corpus %s: keeping %s for now: %s", self.name, _gen(number), exc)
            return False
        finally:
            shutil.rmtree(folder, ignore_errors=True)
