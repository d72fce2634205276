"""On-disk layout of an index directory: corpora, generations, the writer lock and the SQLite tables.

    INDEX_DIR/
      embeddings.sqlite            shared embedding cache (model + sentence text -> vector)
      corpora/NAME/
        lock                       flock'ed by the one writer at a time, which writes who it is into it
        state.json                 source folder and removed document ids
        added/DOC_ID.json          documents added to this corpus (its own copy, for rebuilds)
        pending-000042.json        changes to state.json and added/ that take effect with gen-000042
        CURRENT                    name of the live generation, replaced atomically
        gen-000042/                one complete, immutable generation:
          manifest.json            format version, model, dimension, index type, counts, and the size
                                   and CRC-32 of every other file of the generation
          docs.sqlite              documents, sentences, paragraphs, figures
          sentences.faiss          dense index over sentence vectors
          vectors.npy, paragraphs.npy, documents.npy, sent_doc.npy, sent_para.npy, sentence_traits.npy, titles.npy, context.npy
          bm25-sentences/, bm25-paragraphs/

A generation is written in full in a ``.tmp`` folder, fsync'ed, renamed, and only then named in
CURRENT (write a temp file, fsync, ``os.replace``): a crash at any moment leaves the previous
generation live.

Changes to a corpus's sources (its ``added/`` copies and ``state.json``) belong to the generation that
makes them: they are written as ``pending-<generation>.json`` before it is published and applied after.
Whoever takes the writer lock next finishes the job: a pending file whose generation is live is
applied, any other is deleted. So a write that fails or is killed before its generation goes live
leaves nothing that a later build would pick up, and one killed after loses nothing.

With SHARE_CORPORA (``index.shared``) the live generation, the generations' files and the sources are
kept in PostgreSQL instead, and this layout is each host's cache of them (CURRENT: the generation the
host last used).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import mmap
import os
import re
import shutil
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, ContextManager, Protocol

from .errors import BusyError, IndexCorruptError, IndexMissingError, IndexWriteError, NewsQAError
from .models import Document, Figure, Sentence

log = logging.getLogger(__name__)

FORMAT_VERSION = 4  # 2: BM25 k1/b and stopwords tuned, sentence_traits.npy; 3: answer types, headings, titles.npy;
# 4: context.npy (sentences encoded with their title and previous sentence)
_CORPUS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_GEN = re.compile(r"^gen-(\d{6})$")
_PENDING = re.compile(r"^pending-(\d{6})\.json$")
MANIFEST_KEYS = {"format_version": int, "generation": int, "model": str, "dimension": int, "index_type": str,
                 "documents": int, "sentences": int, "figures": int, "built_at": str}
_SAVED_KEYS = ("doc_id", "title", "source", "text")
_HASH_BLOCK = 8 * 1024 * 1024
LOCK_NOTICE_SECONDS = 30.0  # a waiting writer says again who holds the lock this often

SCHEMA = """
CREATE TABLE documents (
    pos INTEGER PRIMARY KEY, doc_id TEXT UNIQUE NOT NULL, title TEXT NOT NULL, source TEXT NOT NULL,
    url TEXT, published TEXT, text TEXT NOT NULL, added_at TEXT NOT NULL
);
CREATE TABLE sentences (
    id INTEGER PRIMARY KEY, doc_pos INTEGER NOT NULL, paragraph INTEGER NOT NULL,
    sentence INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL
);
CREATE INDEX sentences_doc ON sentences (doc_pos, sentence);
CREATE TABLE paragraphs (
    id INTEGER PRIMARY KEY, doc_pos INTEGER NOT NULL, paragraph INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL
);
CREATE TABLE figures (
    id INTEGER PRIMARY KEY, doc_pos INTEGER NOT NULL, sentence_id INTEGER NOT NULL, text TEXT NOT NULL,
    value REAL NOT NULL, unit TEXT NOT NULL, kind TEXT NOT NULL, label TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL
);
"""


def check_corpus_name(name: str) -> str:
    """Return ``name`` if it can name a corpus folder, else raise with what is allowed."""
    if not _CORPUS_NAME.match(name or "") or name in (".", ".."):
        raise NewsQAError(
            f"invalid corpus name {name!r}: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return name


class SharedLock(Protocol):
    """A writer lock shared with other hosts (``index.database.CorpusLock``), taken after the local flock."""

    def hold(self, corpus: str, *, timeout: float | None, purpose: str) -> ContextManager[None]: ...


class Corpora(Protocol):
    """Where the corpora are kept: ``LocalCorpora`` (below) or ``index.shared.SharedCorpora``."""

    def corpus(self, name: str) -> CorpusDir: ...

    def names(self) -> list[str]: ...

    def close(self) -> None: ...


class CorpusDir:
    """Paths and state of one corpus inside an index directory."""

    def __init__(self, index_dir: Path, name: str, shared_lock: SharedLock | None = None) -> None:
        self.name = check_corpus_name(name)
        self.root = index_dir / "corpora" / name
        self.shared_lock = shared_lock

    @property
    def added_dir(self) -> Path:
        return self.root / "added"

    def exists(self) -> bool:
        return (self.root / "CURRENT").exists()

    def current(self) -> Path:
        """The live generation folder, or IndexMissingError."""
        try:
            name = (self.root / "CURRENT").read_text(encoding="utf-8", errors="replace").strip()
        except FileNotFoundError:
            raise IndexMissingError(
                f"corpus {self.name!r} has no index yet: build it with `newsqa index build --corpus {self.name}`"
            ) from None
        if not _GEN.match(name) or not (self.root / name).is_dir():
            raise IndexCorruptError(
                f"corpus {self.name!r}: CURRENT names {name!r}, which is missing; "
                f"rebuild with `newsqa index build --corpus {self.name}`"
            )
        return self.root / name

    def current_token(self) -> str | None:
        """Cheap check of which generation is live (None when there is none)."""
        try:
            return (self.root / "CURRENT").read_text(encoding="utf-8", errors="replace").strip()
        except FileNotFoundError:
            return None

    def generation_numbers(self) -> list[int]:
        """The numbers of the generation folders here, finished or not."""
        return [int(m.group(1)) for p in self.root.glob("gen-*") if (m := _GEN.match(p.name.split(".")[0]))]

    def next_generation(self) -> tuple[int, Path]:
        n = max(self.generation_numbers(), default=0) + 1
        return n, self.root / f"gen-{n:06d}"

    def read_state(self) -> dict[str, Any]:
        try:
            state = json.loads((self.root / "state.json").read_text(encoding="utf-8"))
            problem = state_problem(state)
        except FileNotFoundError:
            return {"source_dir": None, "removed": []}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problem = str(exc)
        if problem is None:
            return state
        # Losing it must not block the rebuild that repairs the corpus: keep the bad copy for a human,
        # and start over (documents removed earlier may come back from the source folder).
        aside = self.root / f"state.json.corrupt-{int(time.time())}"
        try:
            os.replace(self.root / "state.json", aside)
        except OSError as exc:
            log.error("corpus %s: could not set the bad state.json aside: %s", self.name, exc)
        log.error("corpus %s: state.json was unreadable (%s); moved to %s, starting afresh", self.name, problem, aside)
        return {"source_dir": None, "removed": []}

    def write_state(self, state: dict[str, Any]) -> None:
        atomic_write(self.root / "state.json", json.dumps(state, indent=2))

    def stage(self, generation: int, *, state: dict[str, Any] | None = None, save: list[Document] = (),
              drop: list[str] = ()) -> None:
        """Record source changes that take effect when ``generation`` goes live (see the module doc)."""
        payload = staged_changes(state, save, drop)
        atomic_write(self.root / f"pending-{generation:06d}.json", json.dumps(payload, ensure_ascii=False))

    def unstage(self, generation: int) -> None:
        (self.root / f"pending-{generation:06d}.json").unlink(missing_ok=True)

    def apply_pending(self) -> None:
        """Apply the staged changes of the live generation; drop those of generations that never went live."""
        live = self.current_token()
        for path in sorted(self.root.glob("pending-*.json")):
            m = _PENDING.match(path.name)
            if m and live == f"gen-{m.group(1)}":
                try:
                    payload = json.loads(path.read_text(encoding="utf-8"))
                    self._apply(payload)
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    log.error("corpus %s: could not apply %s (%s); discarding it", self.name, path.name, exc)
            else:
                log.info("corpus %s: %s belongs to a write that never went live; discarding it", self.name, path.name)
            path.unlink(missing_ok=True)

    def _apply(self, payload: dict[str, Any]) -> None:
        for saved in payload.get("save", []):
            self.added_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(self.added_dir / f"{saved['doc_id']}.json", json.dumps(saved, ensure_ascii=False))
        for doc_id in payload.get("drop", []):
            (self.added_dir / f"{doc_id}.json").unlink(missing_ok=True)
        if payload.get("state") is not None:
            self.write_state(payload["state"])

    def added_documents(self) -> list[dict[str, Any]]:
        if not self.added_dir.is_dir():
            return []
        out = []
        for path in sorted(self.added_dir.glob("*.json")):
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
                log.error("skipping unreadable added document %s: %s", path, exc)
                continue
            problem = saved_document_problem(saved)
            if problem:
                log.error("skipping added document %s: %s", path, problem)
                continue
            out.append(saved)
        return out

    def publish(self, tmp: Path, final: Path) -> None:
        """Make a fully written generation live: rename it, then point CURRENT at it atomically."""
        fsync_tree(tmp)
        os.rename(tmp, final)
        fsync_dir(self.root)
        atomic_write(self.root / "CURRENT", final.name + "\n")

    def collect_garbage(self, keep: int = 2, on_remove: Callable[[Path], None] | None = None) -> None:
        """Remove unfinished generations and all but the newest ``keep`` finished ones (writer lock held);
        ``on_remove(folder)`` is called before each is deleted (to free what it stored elsewhere)."""
        live = self.current_token()
        gens = sorted(p for p in self.root.glob("gen-*") if p.is_dir())
        finished = [p for p in gens if _GEN.match(p.name)]
        for path in gens:
            if path.name == live:
                continue
            if path not in finished or path in finished[:-keep]:
                if on_remove is not None:
                    try:
                        on_remove(path)
                    except NewsQAError as exc:  # tried again by the next write
                        log.warning("corpus %s: keeping %s for now: %s", self.name, path.name, exc)
                        continue
                shutil.rmtree(path, ignore_errors=True)

    @contextlib.contextmanager
    def writer_lock(self, timeout: float | None = None, purpose: str = "a write") -> Iterator[None]:
        """Serialize writers across threads and processes; wait up to ``timeout`` seconds (None: forever).

        The holder writes who it is (pid, purpose, since when) into the lock file, so a writer that has
        to wait can say for whom; once it has the lock, it finishes or discards staged changes. With a
        ``shared_lock`` (RECORDS_URL: a PostgreSQL advisory lock), writers on other hosts are waited for
        too, after the local lock (always in that order, so two writers never wait for each other).
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fh = open(self.root / "lock", "a+", encoding="utf-8")
        except OSError as exc:
            raise IndexWriteError(
                f"cannot write to corpus {self.name!r} in {self.root}: {exc.strerror or exc}; questions can "
                "still be answered, but adding or rebuilding needs write access to the index directory") from exc
        with fh:
            deadline = None if timeout is None else time.monotonic() + timeout
            noticed = 0.0
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if deadline is not None and time.monotonic() >= deadline:
                        raise BusyError(
                            f"corpus {self.name!r} is busy with {self._holder(fh)}; try again in a minute"
                        ) from None
                    if time.monotonic() - noticed >= LOCK_NOTICE_SECONDS:
                        wait = "" if timeout is None else f" up to {timeout:g} s"
                        log.warning("corpus %s is busy with %s; waiting%s before %s", self.name,
                                    self._holder(fh), wait, purpose)
                        noticed = time.monotonic()
                    time.sleep(0.05)
            stack = contextlib.ExitStack()
            try:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                shared = (self.shared_lock.hold(self.name, timeout=left, purpose=purpose) if self.shared_lock
                          else contextlib.nullcontext())
                stack.enter_context(shared)
                with contextlib.suppress(OSError):  # only informative: a full disk must not stop the write
                    fh.seek(0)
                    fh.truncate()
                    fh.write(json.dumps({"pid": os.getpid(), "purpose": purpose,
                                         "since": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}))
                    fh.flush()
                self.apply_pending()
                yield
            finally:
                stack.close()
                fcntl.flock(fh, fcntl.LOCK_UN)

    @staticmethod
    def _holder(fh: Any) -> str:
        """Who holds the lock, as its holder wrote it ("an add (pid 1234, since ...)")."""
        try:
            fh.seek(0)
            info = json.loads(fh.read() or "null")
            return f"{info['purpose']} (pid {int(info['pid'])}, since {info['since']})"
        except (OSError, ValueError, TypeError, KeyError):
            return "another command"


class LocalCorpora:
    """The corpora of one index directory, kept on its own disk (the default; ``index.shared`` keeps
    them in PostgreSQL for several hosts)."""

    def __init__(self, index_dir: Path, shared_lock: SharedLock | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.shared_lock = shared_lock

    def corpus(self, name: str) -> CorpusDir:
        return CorpusDir(self.index_dir, name, self.shared_lock)

    def names(self) -> list[str]:
        """The corpora that have a live generation."""
        root = self.index_dir / "corpora"
        return sorted(p.name for p in root.iterdir() if (p / "CURRENT").exists()) if root.is_dir() else []

    def close(self) -> None:
        pass


def staged_changes(state: dict[str, Any] | None, save: list[Document], drop: list[str]) -> dict[str, Any]:
    """The source changes a write makes, as ``CorpusDir.stage`` keeps them until its generation is live."""
    return {
        "state": state,
        "save": [{k: v for k, v in asdict(d).items() if k not in ("sentences", "paragraphs")} for d in save],
        "drop": list(drop),
    }


def saved_document_problem(saved: Any) -> str | None:
    """Why a saved (added) document cannot be used, or None."""
    if not isinstance(saved, dict) or not all(isinstance(saved.get(k), str) for k in _SAVED_KEYS):
        return f"not a saved document (needs {', '.join(_SAVED_KEYS)})"
    return None


def state_problem(state: Any) -> str | None:
    """Why a parsed state.json cannot be used (valid JSON of the wrong shape), or None."""
    if not isinstance(state, dict):
        return f"expected a JSON object, found {type(state).__name__}"
    if not isinstance(state.get("source_dir"), (str, type(None))):
        return "'source_dir' is not a string"
    removed = state.get("removed", [])
    if not isinstance(removed, list) or not all(isinstance(r, str) for r in removed):
        return "'removed' is not a list of document ids"
    return None


def checksum(path: Path) -> str:
    """CRC-32 of a file (zlib, ~3 GB/s in memory): catches flipped bytes, not tampering.

    The file is mapped, not read: no copy out of the page cache (measured 0.66 vs 0.51 GB/s under load).
    """
    crc = 0
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped, memoryview(mapped) as view:
                for start in range(0, size, _HASH_BLOCK):
                    crc = zlib.crc32(view[start : start + _HASH_BLOCK], crc)
    return f"{crc:08x}"


def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and checksum of every file of a generation folder except the manifest, by relative path."""
    table = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"):
        table[path.relative_to(folder).as_posix()] = {"bytes": path.stat().st_size, "crc32": checksum(path)}
    return table


def read_manifest(folder: Path) -> dict[str, Any]:
    """A generation's manifest, refused as damaged unless it is an object with every key of the right type."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{folder}/manifest.json is missing") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"{folder}/manifest.json is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"{folder}/manifest.json holds {type(manifest).__name__}, not an object")
    wrong = [k for k, kind in MANIFEST_KEYS.items() if not isinstance(manifest.get(k), kind)]
    files = manifest.get("files")
    if wrong and "format_version" not in wrong or files is not None and not isinstance(files, dict):
        raise IndexCorruptError(f"{folder}/manifest.json lacks or garbles {', '.join(wrong) or 'files'}")
    return manifest


def check_sizes(folder: Path, files: dict[str, Any]) -> str | None:
    """The first file of ``files`` that is missing or has another size than recorded, as a message."""
    for name, info in files.items():
        try:
            size = (folder / name).stat().st_size
        except OSError:
            return f"{name} is missing"
        if not isinstance(info, dict) or size != info.get("bytes"):
            return f"{name} has {size:,} bytes, the manifest recorded {info.get('bytes') if isinstance(info, dict) else '?'}"
    return None


def check_checksums(folder: Path, files: dict[str, Any], stop: threading.Event | None = None) -> str | None:
    """The first file of ``files`` whose checksum differs from the recorded one, as a message."""
    for name, info in files.items():
        if stop is not None and stop.is_set():
            return None
        try:
            actual = checksum(folder / name)
        except OSError as exc:
            return f"{name} cannot be read ({exc.strerror or exc})"
        if actual != info.get("crc32"):
            return f"{name} is damaged (checksum {actual}, the manifest recorded {info.get('crc32')})"
    return None


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def write_tables(path: Path, docs: list[Document], figures: list[list[Figure]], added_at: dict[str, str]) -> None:
    """Write documents, sentences, paragraphs and figures into a new SQLite file."""
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA)
        sid = 0
        pid = 0
        for pos, (doc, figs) in enumerate(zip(docs, figures)):
            db.execute(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)",
                (pos, doc.doc_id, doc.title, doc.source, doc.url, doc.published, doc.text, added_at[doc.doc_id]),
            )
            first = sid
            db.executemany(
                "INSERT INTO sentences VALUES (?,?,?,?,?,?,?)",
                [(first + i, pos, s.paragraph, s.sentence, s.start, s.end, s.text) for i, s in enumerate(doc.sentences)],
            )
            sid += len(doc.sentences)
            db.executemany(
                "INSERT INTO paragraphs VALUES (?,?,?,?,?)",
                [(pid + i, pos, i + 1, a, b) for i, (a, b) in enumerate(doc.paragraphs)],
            )
            pid += len(doc.paragraphs)
            by_number = {s.sentence: first + i for i, s in enumerate(doc.sentences)}
            db.executemany(
                "INSERT INTO figures (doc_pos, sentence_id, text, value, unit, kind, label, start, \"end\") "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (pos, by_number[f.sentence], f.text, f.value, f.unit, f.kind, f.label, f.start, f.end)
                    for f in figs
                    if f.sentence in by_number
                ],
            )
        db.commit()
    finally:
        db.close()


def open_tables(path: Path) -> sqlite3.Connection:
    """Open a generation's SQLite file read-only; the connection is shared under a lock by its snapshot."""
    if not path.exists():
        raise IndexCorruptError(f"{path} is missing")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        db.execute("SELECT count(*) FROM documents").fetchone()
    except sqlite3.DatabaseError as exc:
        raise IndexCorruptError(f"{path} is not a readable SQLite file ({exc})") from exc
    return db


def sentence_from_row(row: tuple[Any, ...]) -> Sentence:
    paragraph, sentence, start, end, text = row
    return Sentence(paragraph=paragraph, sentence=sentence, start=start, end=end, text=text)
