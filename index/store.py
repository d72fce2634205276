"""On-disk layout of an index directory: corpora, generations, the writer lock and the SQLite tables.

    INDEX_DIR/
      embeddings.sqlite            shared embedding cache (model + sentence text -> vector)
      corpora/NAME/
        lock                       flock'ed by the one writer at a time
        state.json                 source folder and removed document ids
        added/DOC_ID.json          documents added to this corpus (its own copy, for rebuilds)
        CURRENT                    name of the live generation, replaced atomically
        gen-000042/                one complete, immutable generation:
          manifest.json            format version, model, dimension, index type, counts
          docs.sqlite              documents, sentences, paragraphs, figures
          sentences.faiss          dense index over sentence vectors
          vectors.npy, paragraphs.npy, documents.npy, sent_doc.npy, sent_para.npy, sentence_traits.npy, titles.npy
          bm25-sentences/, bm25-paragraphs/

A generation is written in full in a ``.tmp`` folder, fsync'ed, renamed, and only then named in
CURRENT (write a temp file, fsync, ``os.replace``): a crash at any moment leaves the previous
generation live.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .errors import BusyError, IndexCorruptError, IndexMissingError, NewsQAError
from .models import Document, Figure, Sentence

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: BM25 k1/b and stopwords tuned, sentence_traits.npy; 3: answer types, headings, titles.npy
_CORPUS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_GEN = re.compile(r"^gen-(\d{6})$")

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


class CorpusDir:
    """Paths and state of one corpus inside an index directory."""

    def __init__(self, index_dir: Path, name: str) -> None:
        self.name = check_corpus_name(name)
        self.root = index_dir / "corpora" / name

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

    def next_generation(self) -> tuple[int, Path]:
        numbers = [int(m.group(1)) for p in self.root.glob("gen-*") if (m := _GEN.match(p.name.split(".")[0]))]
        n = max(numbers, default=0) + 1
        return n, self.root / f"gen-{n:06d}"

    def read_state(self) -> dict[str, Any]:
        try:
            return json.loads((self.root / "state.json").read_text())
        except FileNotFoundError:
            return {"source_dir": None, "removed": []}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            # Losing it must not block the rebuild that repairs the corpus: keep the bad copy for a
            # human, and start over (documents removed earlier may come back from the source folder).
            aside = self.root / f"state.json.corrupt-{int(time.time())}"
            os.replace(self.root / "state.json", aside)
            log.error("corpus %s: state.json was unreadable (%s); moved to %s, starting afresh", self.name, exc, aside)
            return {"source_dir": None, "removed": []}

    def write_state(self, state: dict[str, Any]) -> None:
        atomic_write(self.root / "state.json", json.dumps(state, indent=2))

    def save_added(self, doc: Document) -> None:
        """Keep this corpus's own copy of an added document, so a rebuild finds it again."""
        self.added_dir.mkdir(parents=True, exist_ok=True)
        payload = {k: v for k, v in asdict(doc).items() if k not in ("sentences", "paragraphs")}
        atomic_write(self.added_dir / f"{doc.doc_id}.json", json.dumps(payload, ensure_ascii=False))

    def added_documents(self) -> list[dict[str, Any]]:
        if not self.added_dir.is_dir():
            return []
        out = []
        for path in sorted(self.added_dir.glob("*.json")):
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                log.error("skipping unreadable added document %s: %s", path, exc)
        return out

    def drop_added(self, doc_id: str) -> bool:
        path = self.added_dir / f"{doc_id}.json"
        if path.exists():
            path.unlink()
            return True
        return False

    def publish(self, tmp: Path, final: Path) -> None:
        """Make a fully written generation live: rename it, then point CURRENT at it atomically."""
        fsync_tree(tmp)
        os.rename(tmp, final)
        fsync_dir(self.root)
        atomic_write(self.root / "CURRENT", final.name + "\n")

    def collect_garbage(self, keep: int = 2) -> None:
        """Remove unfinished generations and all but the newest ``keep`` finished ones (writer lock held)."""
        live = self.current_token()
        gens = sorted(p for p in self.root.glob("gen-*") if p.is_dir())
        finished = [p for p in gens if _GEN.match(p.name)]
        for path in gens:
            if path.name == live:
                continue
            if path not in finished or path in finished[:-keep]:
                shutil.rmtree(path, ignore_errors=True)

    @contextlib.contextmanager
    def writer_lock(self, timeout: float | None = None) -> Iterator[None]:
        """Serialize writers across threads and processes; wait up to ``timeout`` seconds (None: forever)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "a+") as fh:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if deadline is not None and time.monotonic() >= deadline:
                        raise BusyError(
                            f"corpus {self.name!r} is being rebuilt by another command; try again in a minute"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


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
