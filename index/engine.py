"""The engine: built once per process, asked many times, from any thread.

Reads go to an immutable ``CorpusIndex`` (one loaded generation); writes build a whole new
generation under the corpus's writer lock and swap it in when it is complete, so questions keep
being answered from the old index while a reindex runs.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import shutil
import sqlite3
from collections import OrderedDict
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .citations import make_citation
from .documents import clean_title, list_sources, load_path, web_url_problem
from .embed import EmbeddingCache, Encoder
from .errors import (
    DocumentNotFoundError,
    DuplicateDocumentError,
    IndexCorruptError,
    IndexWriteError,
    InvalidQuestionError,
    ModelMismatchError,
    NewsQAError,
    UnsupportedDocumentError,
)
from .figures import FIGURES_VERSION, extract_figures
from .lexical import LexicalIndex
from .memory import release_free_memory
from .models import (
    Answer,
    ChangeReport,
    Document,
    DocumentInfo,
    Figure,
    Hit,
    IndexStats,
    Passage,
    Sentence,
)
from .answertypes import missing_measure
from .backend import GenerationData, IndexBackend, LocalBackend
from .search import (
    TRAIT_HEADING,
    TRAITS_VERSION,
    CorpusIndex,
    RetrievalSettings,
    Scored,
    group_means,
    heading_flags,
    sentence_traits,
)
from .segment import split_paragraphs, split_sentences
from .store import (FORMAT_VERSION, CorpusDir, Corpora, LocalCorpora, atomic_write, check_corpus_name, file_table,
                    write_tables)

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (stage, done, total)

# For crash tests and the fault benchmark only: when set, called with the name of each step of a
# generation write as it starts ("embed", "tables", "arrays", "faiss", "bm25", "manifest", "publish",
# "live"; and "faiss extended" after an add extended a copy of the live HNSW graph, before writing it),
# so a test can kill a writer at a known step instead of at a random moment.
write_step_hook: Callable[[str], None] | None = None


def _step(name: str) -> None:
    if write_step_hook is not None:
        write_step_hook(name)


@dataclass(frozen=True)
class EngineSettings:
    """Everything the engine needs besides the index directory and the encoder."""

    seeds_dir: Path | None = None
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    max_question_chars: int = 2000
    context_sentences: int = 1  # neighbours on each side in a hit's context window
    lock_timeout: float | None = 900.0  # how long a writer waits for another to finish
    max_loaded: int = 256  # corpora kept loaded in memory; the least recently used is dropped
    max_document_bytes: int = 5_000_000  # largest source file a build reads


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def clean_question(question: str, limit: int) -> str:
    """Strip control characters and surrounding space; refuse empty or over-long questions."""
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in question or "")
    text = " ".join(text.split())
    if not text:
        raise InvalidQuestionError("the question is empty: type a question, e.g. “How much did allies spend on defense?”")
    if len(text) > limit:
        raise InvalidQuestionError(
            f"the question is {len(text)} characters long; the limit is {limit}: ask something shorter"
        )
    return text


class Engine:
    """Builds, updates and answers from the corpora of one index directory."""

    def __init__(self, index_dir: Path, encoder: Encoder, settings: EngineSettings | None = None,
                 backend: IndexBackend | None = None, corpora: Corpora | None = None) -> None:
        self.index_dir = Path(index_dir)
        # where each corpus's live generation and sources are kept (bot.stores.open_corpora): this
        # directory (the default; with RECORDS_URL its writers also take an advisory lock for other
        # hosts), or PostgreSQL with this directory as the host's cache (index.shared, SHARE_CORPORA)
        self.registry: Corpora = corpora or LocalCorpora(self.index_dir)
        self.encoder = encoder
        self.settings = settings or EngineSettings()
        self.backend: IndexBackend = backend or LocalBackend()
        if self.index_dir.exists() and not self.index_dir.is_dir():
            raise NewsQAError(f"the index directory {self.index_dir} is a file, not a folder; "
                              "point INDEX_DIR (or --index-dir) to a folder")
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NewsQAError(f"cannot create the index directory {self.index_dir}: {exc.strerror or exc}; "
                              "point INDEX_DIR (or --index-dir) to a folder you can write to") from exc
        self._cache: EmbeddingCache | None = None  # opened by the first write: answering needs no write access
        self._indexes: OrderedDict[str, CorpusIndex] = OrderedDict()
        self._load_lock = threading.Lock()  # guards _indexes and _loaders
        self._loaders: dict[str, threading.Lock] = {}  # one per corpus: its (re)load, which may fetch it first

    @property
    def cache(self) -> EmbeddingCache:
        """The shared embedding cache, opened on first use (only writes need it)."""
        if self._cache is None:
            try:
                self._cache = EmbeddingCache(self.index_dir / "embeddings.sqlite")
            except (OSError, sqlite3.Error) as exc:
                raise _write_error(exc, self.index_dir, "the index") from exc
        return self._cache

    @cache.setter
    def cache(self, value: EmbeddingCache) -> None:
        self._cache = value

    # ----------------------------------------------------------------- reading

    def corpus(self, name: str) -> CorpusDir:
        return self.registry.corpus(name)

    def corpora(self) -> list[str]:
        return self.registry.names()

    def has_corpus(self, name: str) -> bool:
        return self.corpus(name).exists()

    def index(self, corpus: str = "default") -> CorpusIndex:
        """The live generation of a corpus, reloaded when another writer (or process) switched it."""
        cdir = self.corpus(corpus)
        token = cdir.current_token()
        loaded = self._indexes.get(corpus)
        if loaded is not None and loaded.damage and loaded.path.name == token:  # found by the background check
            with self._load_lock:
                self._indexes.pop(corpus, None)
            raise IndexCorruptError(f"corpus {corpus!r}: {loaded.path.name}: {loaded.damage}; rebuild it from "
                                    f"its sources with `newsqa index build --corpus {corpus}`")
        if loaded is not None and loaded.path.name == token:
            with self._load_lock:
                if corpus in self._indexes:
                    self._indexes.move_to_end(corpus)
            return loaded
        with self._load_lock:
            loader = self._loaders.setdefault(corpus, threading.Lock())
        # Loading (with SHARE_CORPORA, first fetching a generation another host wrote) holds only this
        # corpus's loader: questions to the other corpora go on meanwhile.
        with loader:
            with self._load_lock:
                loaded = self._indexes.get(corpus)
                if loaded is not None and loaded.path.name == token:
                    return loaded
                retrieval = self.settings.retrieval
            try:
                fresh = self.backend.load(
                    cdir.current(),
                    model=self.encoder.name,
                    dimension=self.encoder.dimension,
                    settings=retrieval,
                )
            except (IndexCorruptError, ModelMismatchError) as exc:
                if "newsqa index build" in str(exc):
                    raise
                raise type(exc)(
                    f"corpus {corpus!r}: {exc}; rebuild it from its sources with "
                    f"`newsqa index build --corpus {corpus}`"
                ) from exc
            with self._load_lock:
                if self.settings.retrieval is not retrieval:  # use_retrieval() meanwhile: not kept, loaded anew next
                    return fresh
                self._indexes[corpus] = fresh
                self._indexes.move_to_end(corpus)
                while len(self._indexes) > self.settings.max_loaded:
                    self._indexes.popitem(last=False)  # its SQLite handle closes when the last reader lets go
            return fresh

    def use_retrieval(self, retrieval: RetrievalSettings) -> None:
        """Answer with other retrieval settings from now on (loaded corpora are reloaded with them)."""
        with self._load_lock:
            self.settings = replace(self.settings, retrieval=retrieval)
            self._indexes.clear()

    def embed_questions(self, questions: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(list(questions))

    def ask(self, question: str, *, corpus: str = "default", k: int = 3) -> Answer:
        """Answer one question with up to ``k`` cited passages, best first."""
        text = clean_question(question, self.settings.max_question_chars)
        vector = self.embed_questions([text])[0]
        return self._answer(self.index(corpus), text, vector, k)

    def ask_many(self, questions: Sequence[str], *, corpus: str = "default", k: int = 3) -> list[Answer | NewsQAError]:
        """Answer a batch (one model call for all questions); a bad question yields its error in place."""
        idx = self.index(corpus)
        cleaned: list[str | NewsQAError] = []
        for q in questions:
            try:
                cleaned.append(clean_question(q, self.settings.max_question_chars))
            except InvalidQuestionError as exc:
                cleaned.append(exc)
        good = [q for q in cleaned if isinstance(q, str)]
        vectors = iter(self.embed_questions(good)) if good else iter(())
        return [q if isinstance(q, NewsQAError) else self._answer(idx, q, next(vectors), k) for q in cleaned]

    def _answer(self, idx: CorpusIndex, question: str, vector: np.ndarray, k: int) -> Answer:
        k = max(1, min(int(k), 20))
        scored = idx.search(vector, question, k * 3)
        if not scored:
            return Answer(question=question, answered=False, confidence=0.0, hits=())
        confidence = idx.confidence(scored[0])
        hits = self._hits(idx, scored, k)
        answered = confidence >= self.settings.retrieval.threshold
        missing = None
        if answered and self.settings.retrieval.decline_missing_measure:
            missing = missing_measure(question, hits[0].context)
        if missing:
            # Asked for an amount of money, a temperature or a speed, and the best passage states none:
            # the page is about the story but does not give the value (news-dev's near misses: "How much
            # will the new MacBook cost?"). Declined rather than shown as the answer; see bench/eval_news.py.
            answered = False
        # hits come from scored, so two hits mean a runner-up exists.
        close_call = len(hits) > 1 and scored[0].score - scored[1].score < self.settings.retrieval.close_call_margin
        return Answer(question=question, answered=answered, confidence=confidence, hits=tuple(hits),
                      close_call=close_call and answered, missing=missing)

    def _hits(self, idx: CorpusIndex, scored: list[Scored], k: int) -> list[Hit]:
        """Turn scored sentences into hits with context windows; overlapping windows are merged."""
        n = self.settings.context_sentences
        hits: list[dict] = []
        for s in scored:
            row = idx.query(
                "SELECT s.doc_pos, s.paragraph, s.sentence, s.start, s.\"end\", s.text, "
                "d.doc_id, d.title, d.source, d.url FROM sentences s JOIN documents d ON d.pos = s.doc_pos "
                "WHERE s.id = ?",
                (s.sid,),
            )
            if not row:
                raise _damaged(idx, f"sentence {s.sid} is missing from docs.sqlite")
            doc_pos, paragraph, number, start, end, text, doc_id, title, source, url = row[0]
            window = idx.query(
                "SELECT min(start), max(\"end\") FROM sentences WHERE doc_pos = ? AND paragraph = ? "
                "AND sentence BETWEEN ? AND ?",
                (doc_pos, paragraph, number - n, number + n),
            )[0]
            if window[0] is None:
                raise _damaged(idx, f"sentence {s.sid} has no context in docs.sqlite")
            merged = False
            for h in hits:
                if h["doc_pos"] == doc_pos and window[0] <= h["ctx"][1] and h["ctx"][0] <= window[1]:
                    h["ctx"] = (min(h["ctx"][0], window[0]), max(h["ctx"][1], window[1]))
                    h["also"].append(number)
                    merged = True
                    break
            if merged:
                continue
            if len(hits) == k:
                continue
            hits.append(
                dict(
                    s=s, doc_pos=doc_pos, paragraph=paragraph, number=number, start=start, end=end,
                    text=text, doc_id=doc_id, title=title, source=source, url=url, ctx=window, also=[],
                )
            )
        out = []
        for rank, h in enumerate(hits, 1):
            a, b = h["ctx"]
            rows = idx.query("SELECT substr(text, ?, ?) FROM documents WHERE pos = ?", (a + 1, b - a, h["doc_pos"]))
            if not rows:
                raise _damaged(idx, f"document {h['doc_id']!r} is missing from docs.sqlite")
            (context,) = rows[0]
            citation = make_citation(
                doc_id=h["doc_id"], title=h["title"], paragraph=h["paragraph"], sentence=h["number"],
                source=h["source"], url=h["url"], text=h["text"],
            )
            out.append(
                Hit(
                    rank=rank, score=round(h["s"].score, 4), doc_id=h["doc_id"], title=h["title"],
                    source=h["source"], paragraph=h["paragraph"], sentence=h["number"], start=h["start"],
                    end=h["end"], text=h["text"], context=context, context_start=a, context_end=b,
                    citation=citation, also=tuple(h["also"]),
                )
            )
        return out

    def documents(self, corpus: str = "default") -> list[DocumentInfo]:
        """The indexed documents of a corpus, in index order."""
        idx = self.index(corpus)
        rows = idx.query(
            "SELECT d.doc_id, d.title, d.source, d.url, d.published, length(d.text), d.added_at, "
            "(SELECT count(*) FROM sentences s WHERE s.doc_pos = d.pos), "
            "(SELECT count(*) FROM figures f WHERE f.doc_pos = d.pos) FROM documents d ORDER BY d.pos"
        )
        return [
            DocumentInfo(doc_id=r[0], title=r[1], source=r[2], url=r[3], published=r[4], chars=r[5],
                         added_at=r[6], sentences=r[7], figures=r[8])
            for r in rows
        ]

    def stats(self, corpus: str = "default") -> IndexStats:
        idx = self.index(corpus)
        m = idx.manifest
        size = sum(p.stat().st_size for p in idx.path.rglob("*") if p.is_file())
        return IndexStats(
            corpus=corpus, generation=m["generation"], documents=m["documents"], sentences=m["sentences"],
            figures=m["figures"], model=m["model"], dimension=m["dimension"], index_type=m["index_type"],
            built_at=m["built_at"], format_version=m["format_version"],
            extra={"bytes_on_disk": size, "path": str(idx.path), "build_seconds": m.get("build_seconds")},
        )

    def passage(self, doc_id: str, sentence: int, *, corpus: str = "default") -> Passage:
        """The whole paragraph around sentence ``sentence`` of ``doc_id``."""
        idx = self.index(corpus)
        rows = idx.query(
            "SELECT d.pos, d.title, d.source, d.url, s.paragraph, s.start, s.\"end\", s.text FROM sentences s "
            "JOIN documents d ON d.pos = s.doc_pos WHERE d.doc_id = ? AND s.sentence = ?",
            (doc_id, sentence),
        )
        if not rows:
            self._document_pos(idx, doc_id)
            raise DocumentNotFoundError(f"{doc_id!r} has no sentence {sentence}")
        pos, title, source, url, paragraph, start, end, text = rows[0]
        para = idx.query("SELECT start, \"end\" FROM paragraphs WHERE doc_pos = ? AND paragraph = ?", (pos, paragraph))
        if not para:
            raise _damaged(idx, f"paragraph {paragraph} of {doc_id!r} is missing from docs.sqlite")
        pstart, pend = para[0]
        (ptext,) = idx.query("SELECT substr(text, ?, ?) FROM documents WHERE pos = ?", (pstart + 1, pend - pstart, pos))[0]
        return Passage(
            doc_id=doc_id, title=title, paragraph=paragraph, sentence=sentence, text=ptext,
            sentence_start=start - pstart, sentence_end=end - pstart,
            citation=make_citation(doc_id=doc_id, title=title, paragraph=paragraph, sentence=sentence,
                                   source=source, url=url, text=text),
        )

    def paragraph_sentence(self, doc_id: str, paragraph: int, *, corpus: str = "default") -> int:
        """The number of the first sentence of paragraph ``paragraph`` of ``doc_id`` (citations show ¶n)."""
        idx = self.index(corpus)
        pos = self._document_pos(idx, doc_id)
        (first,) = idx.query("SELECT min(sentence) FROM sentences WHERE doc_pos = ? AND paragraph = ?",
                             (pos, paragraph))[0]
        if first is None:
            raise DocumentNotFoundError(f"{doc_id!r} has no paragraph {paragraph}")
        return int(first)

    def _document_pos(self, idx: CorpusIndex, doc_id: str) -> int:
        rows = idx.query("SELECT pos FROM documents WHERE doc_id = ?", (doc_id,))
        if not rows:
            known = ", ".join(r[0] for r in idx.query("SELECT doc_id FROM documents ORDER BY pos LIMIT 20"))
            raise DocumentNotFoundError(f"no document {doc_id!r} in this corpus; known documents: {known or 'none'}")
        return rows[0][0]

    def figures(
        self, topic: str | None = None, *, corpus: str = "default", doc_id: str | None = None, limit: int | None = None
    ) -> list[Figure]:
        """Key figures, each document's most important first (the order extraction ranked and stored them
        in), or ranked by relevance to ``topic`` when one is given."""
        idx = self.index(corpus)
        where, params = "", ()
        if doc_id:
            where, params = "WHERE f.doc_pos = ?", (self._document_pos(idx, doc_id),)
        rows = idx.query(
            "SELECT d.doc_id, d.title, d.source, d.url, f.text, f.value, f.unit, f.kind, f.label, s.paragraph, "
            f"s.sentence, f.start, f.\"end\", s.text, f.sentence_id FROM figures f JOIN sentences s ON s.id = f.sentence_id "
            f"JOIN documents d ON d.pos = f.doc_pos {where} ORDER BY f.doc_pos, f.id",
            params,
        )
        scores = np.zeros(len(rows), dtype=np.float32)
        if topic and topic.strip() and rows:
            topic = clean_question(topic, self.settings.max_question_chars)
            qv = self.embed_questions([topic])[0]
            sids = np.array([r[14] for r in rows])
            labels = self.embed_questions([r[8] for r in rows])
            dense, lex = idx.relevance(qv, topic, sids)
            scores = 0.6 * dense + 0.4 * (labels @ qv) + 0.3 * lex
        figures = [
            Figure(
                doc_id=r[0], text=r[4], value=r[5], unit=r[6], kind=r[7], label=r[8], paragraph=r[9], sentence=r[10],
                start=r[11], end=r[12], sentence_text=r[13], score=round(float(scores[i]), 4),
                citation=make_citation(doc_id=r[0], title=r[1], paragraph=r[9], sentence=r[10], source=r[2],
                                       url=r[3], text=r[13]),
            )
            for i, r in enumerate(rows)
        ]
        if topic and topic.strip():
            figures.sort(key=lambda f: -f.score)
        return figures[:limit] if limit else figures

    # ----------------------------------------------------------------- writing

    def build(self, corpus: str = "default", source_dir: Path | None = None, progress: Progress | None = None) -> ChangeReport:
        """Rebuild a corpus from its source folder plus the documents added to it, minus those removed."""
        cdir = self.corpus(corpus)
        with cdir.writer_lock(self.settings.lock_timeout, purpose=f"a rebuild of corpus {corpus!r}"):
            return self._build_locked(cdir, source_dir, progress)

    def _source_docs(self, cdir: CorpusDir, state: dict, source_dir: Path | None = None) -> list[Document]:
        """A corpus's documents as its sources give them: the source folder, plus added, minus removed."""
        folder = Path(source_dir) if source_dir else (
            Path(state["source_dir"]) if state.get("source_dir") else self.settings.seeds_dir
        )
        removed = set(state.get("removed", []))
        docs: list[Document] = []
        if folder is not None:
            limit = self.settings.max_document_bytes
            docs.extend(d for d in (load_path(p, max_bytes=limit) for p in list_sources(folder)) if d.doc_id not in removed)
        for saved in cdir.added_documents():
            if saved["doc_id"] in removed:
                continue
            try:
                docs.append(document_from_saved(saved))
            except IndexCorruptError as exc:  # must not block the rebuild that repairs the corpus
                log.error("corpus %s: skipping %s", cdir.name, exc)
        docs, duplicates = _drop_duplicates(_dedupe(docs))
        for doc, same in duplicates:
            log.warning("corpus %s: skipping %s: it has the same text as %s (%s)", cdir.name, doc.source,
                        same.doc_id, same.source)
        return docs

    def _build_locked(self, cdir: CorpusDir, source_dir: Path | None, progress: Progress | None) -> ChangeReport:
        state = cdir.read_state()
        docs = self._source_docs(cdir, state, source_dir)
        if source_dir is not None:
            state["source_dir"] = str(Path(source_dir).resolve())
        _, previous, _ = self._current_docs(cdir, from_sources=False)
        report = self._write_generation(cdir, docs, progress, added_at=previous, stage={"state": state})
        ids = {d.doc_id for d in docs}
        return replace(
            report,
            added=tuple(d.doc_id for d in docs if d.doc_id not in previous),
            removed=tuple(d for d in previous if d not in ids),
        )

    def ensure(self, corpus: str = "default", progress: Progress | None = None) -> ChangeReport | None:
        """Build a corpus from the seeds if it has no index yet (cheap: seed vectors come from the cache)."""
        if self.has_corpus(corpus):
            return None
        cdir = self.corpus(corpus)
        with cdir.writer_lock(self.settings.lock_timeout, purpose=f"the first build of corpus {corpus!r}"):
            if cdir.exists():  # another writer built it while we waited
                return None
            return self._build_locked(cdir, None, progress)

    def add(self, documents: Sequence[Document], *, corpus: str = "default", progress: Progress | None = None) -> ChangeReport:
        """Add (or replace, when the id and source match) documents, keeping everything else as it is."""
        if not documents:
            raise UnsupportedDocumentError("nothing to add: give at least one file, URL or text")
        cdir = self.corpus(corpus)
        names = ", ".join(d.doc_id for d in documents[:3]) + (" ..." if len(documents) > 3 else "")
        with cdir.writer_lock(self.settings.lock_timeout, purpose=f"an add of {names} to corpus {corpus!r}"):
            current, added_at, live = self._current_docs(cdir)
            by_id = {d.doc_id: d for d in current}
            existing = set(by_id)
            by_text = {_fingerprint(d.text): d for d in current}
            new_ids, duplicates, first_same = [], [], None
            for doc in documents:
                doc = _unique_id(_clean_metadata(doc), by_id)
                same = by_text.get(_fingerprint(doc.text))
                if same is not None and same.doc_id != doc.doc_id:
                    duplicates.append(f"{doc.source} (same text as {same.doc_id})")
                    first_same = first_same or same.doc_id
                    continue
                by_id[doc.doc_id] = doc
                by_text[_fingerprint(doc.text)] = doc
                added_at[doc.doc_id] = now_iso()
                new_ids.append(doc.doc_id)
            if not new_ids:
                raise DuplicateDocumentError(
                    f"nothing added: {'; '.join(duplicates)} is already indexed; to replace it with this "
                    f"copy, remove {first_same} first")
            state = cdir.read_state()
            if set(new_ids) & set(state.get("removed", [])):
                state["removed"] = [d for d in state["removed"] if d not in new_ids]
            known = {k: v for k, v in self._current_figures(cdir).items() if k not in new_ids}
            report = self._write_generation(
                cdir, list(by_id.values()), progress, added_at=added_at, figures=known,
                stage={"state": state, "save": documents_by_id(by_id, new_ids)},
                extends=(live, current) if live is not None else None,
            )
            return replace(report, added=tuple(i for i in new_ids if i not in existing),
                           updated=tuple(i for i in new_ids if i in existing), duplicates=tuple(duplicates))

    def remove(self, doc_id: str, *, corpus: str = "default", progress: Progress | None = None) -> ChangeReport:
        """Remove a document from a corpus (also from future rebuilds)."""
        cdir = self.corpus(corpus)
        with cdir.writer_lock(self.settings.lock_timeout, purpose=f"a removal of {doc_id!r} from corpus {corpus!r}"):
            current, added_at, _ = self._current_docs(cdir)
            if doc_id not in {d.doc_id for d in current}:
                known = ", ".join(d.doc_id for d in current[:20])
                raise DocumentNotFoundError(f"no document {doc_id!r} in corpus {corpus!r}; known documents: {known or 'none'}")
            state = cdir.read_state()
            state["removed"] = sorted(set(state.get("removed", [])) | {doc_id})
            report = self._write_generation(
                cdir, [d for d in current if d.doc_id != doc_id], progress, added_at=added_at,
                figures=self._current_figures(cdir), stage={"state": state, "drop": [doc_id]},
            )
            return replace(report, removed=(doc_id,))

    def remove_many(self, doc_ids: Sequence[str], *, corpus: str = "default", progress: Progress | None = None
                    ) -> ChangeReport | None:
        """Remove several documents in one new generation; ids not in the corpus are skipped.

        Returns None (and writes nothing) when none of them is there.
        """
        cdir = self.corpus(corpus)
        with cdir.writer_lock(self.settings.lock_timeout, purpose=f"a removal of {len(doc_ids)} documents from corpus {corpus!r}"):
            current, added_at, _ = self._current_docs(cdir)
            gone = [d.doc_id for d in current if d.doc_id in set(doc_ids)]
            if not gone:
                return None
            state = cdir.read_state()
            state["removed"] = sorted(set(state.get("removed", [])) | set(gone))
            report = self._write_generation(
                cdir, [d for d in current if d.doc_id not in set(gone)], progress, added_at=added_at,
                figures=self._current_figures(cdir), stage={"state": state, "drop": gone},
            )
            return replace(report, removed=tuple(gone))

    def _current_docs(self, cdir: CorpusDir, *, from_sources: bool = True
                      ) -> tuple[list[Document], dict[str, str], CorpusIndex | None]:
        """Documents of the live generation (and that generation); when there is none or it is
        unreadable, those of its sources (or nothing, without ``from_sources``) and None, so that an
        add never drops the rest."""
        try:
            return self._live_docs(cdir)
        except NewsQAError as exc:
            if cdir.exists():
                log.warning("corpus %s: live index unreadable (%s); starting from its sources", cdir.name, exc)
            if not from_sources:
                return [], {}, None
            return self._source_docs(cdir, cdir.read_state()), {}, None

    def _live_docs(self, cdir: CorpusDir) -> tuple[list[Document], dict[str, str], CorpusIndex]:
        idx = self.index(cdir.name)
        idx.wait_verified()  # a write copies these documents: they must have passed the checksum test
        docs, added_at = [], {}
        # Two queries for all documents' sentences and paragraphs, not two per document (at 3,000
        # documents those took 4 s of an add, bench_add_100k_before.json).
        sentences_of: dict[int, list[Sentence]] = {}
        for pos, p, n, a, b, t in idx.query(
            "SELECT doc_pos, paragraph, sentence, start, \"end\", text FROM sentences ORDER BY id"
        ):
            sentences_of.setdefault(pos, []).append(Sentence(paragraph=p, sentence=n, start=a, end=b, text=t))
        paragraphs_of: dict[int, list[tuple[int, int]]] = {}
        for pos, a, b in idx.query("SELECT doc_pos, start, \"end\" FROM paragraphs ORDER BY id"):
            paragraphs_of.setdefault(pos, []).append((a, b))
        for pos, doc_id, title, source, url, published, text, when in idx.query(
            "SELECT pos, doc_id, title, source, url, published, text, added_at FROM documents ORDER BY pos"
        ):
            sentences = tuple(sentences_of.get(pos, ()))
            paragraphs = tuple(paragraphs_of.get(pos, ()))
            docs.append(Document(doc_id=doc_id, title=title, source=source, text=text, sentences=sentences,
                                 url=url, published=published, paragraphs=paragraphs))
            added_at[doc_id] = when
        return docs, added_at, idx

    def _current_figures(self, cdir: CorpusDir) -> dict[str, list[Figure]]:
        """Figures of the live generation by document, so an add or remove need not extract them again."""
        try:
            idx = self.index(cdir.name)
            idx.wait_verified()
            rows = idx.query(
                "SELECT d.doc_id, f.text, f.value, f.unit, f.kind, f.label, s.paragraph, s.sentence, f.start, "
                "f.\"end\" FROM figures f JOIN sentences s ON s.id = f.sentence_id "
                "JOIN documents d ON d.pos = f.doc_pos ORDER BY f.id"
            )
        except NewsQAError:
            return {}  # extracted again from the text
        if idx.manifest.get("figures_version") != FIGURES_VERSION:
            return {}  # extracted by an older extractor: extract them again
        out: dict[str, list[Figure]] = {}
        for row in rows:
            doc_id, text, value, unit, kind, label, paragraph, sentence, start, end = row
            out.setdefault(doc_id, []).append(
                Figure(doc_id=doc_id, text=text, value=value, unit=unit, kind=kind, label=label,
                       paragraph=paragraph, sentence=sentence, start=start, end=end)
            )
        return out

    def _write_generation(
        self,
        cdir: CorpusDir,
        docs: list[Document],
        progress: Progress | None,
        *,
        added_at: dict[str, str],
        figures: dict[str, list[Figure]] | None = None,
        stage: dict | None = None,
        extends: tuple[CorpusIndex, list[Document]] | None = None,
    ) -> ChangeReport:
        """Write a complete new generation and make it live (writer lock held), with the source changes
        in ``stage`` (state, save, drop; see store.CorpusDir.stage). Should any step before the switch
        fail, the corpus is left exactly as it was, and the error says so.

        ``extends``: for an add, the live generation and the documents read from it. When ``docs``
        start with exactly those documents (nothing removed or replaced), their vectors and traits are
        taken from it instead of being looked up and computed again, and the backend may extend what
        it built for it (it checks that for itself). A rebuild or a removal builds everything anew."""
        cdir.root.mkdir(parents=True, exist_ok=True)
        cdir.collect_garbage(on_remove=self.backend.discard)
        number, final = cdir.next_generation()
        tmp = final.with_name(final.name + ".tmp")
        try:
            report = self._write_new(cdir, docs, progress, added_at, figures, number, tmp, final, stage or {},
                                     extends)
        except (OSError, sqlite3.Error, RuntimeError, MemoryError) as exc:
            if cdir.current_token() == final.name:  # pragma: no cover - failed syncing after the switch
                raise IndexWriteError(f"corpus {cdir.name!r}: generation {number} is live, but writing "
                                      f"failed after the switch ({exc}); check the disk") from exc
            self._discard(tmp)
            cdir.unstage(number)
            release_free_memory()
            raise _write_error(exc, cdir.root, f"corpus {cdir.name!r}") from exc
        except NewsQAError:  # the backend's own errors (Milvus unreachable ...) say what went wrong
            if cdir.current_token() == final.name:  # pragma: no cover - failed after the switch
                raise
            self._discard(tmp)
            cdir.unstage(number)
            raise
        _step("live")
        try:
            cdir.apply_pending()
            self.index(cdir.name)  # load the new generation now, so the next question does not pay for it
            cdir.collect_garbage(on_remove=self.backend.discard)
        except (OSError, NewsQAError) as exc:  # the new generation is live: staged changes are applied next time
            log.warning("corpus %s: generation %d is live, but tidying up failed: %s", cdir.name, number, exc)
        release_free_memory()  # the write's working memory and the replaced generation's, back to the system
        return report

    def _write_new(self, cdir: CorpusDir, docs: list[Document], progress: Progress | None, added_at: dict[str, str],
                   figures: dict[str, list[Figure]] | None, number: int, tmp: Path, final: Path, stage: dict,
                   extends: tuple[CorpusIndex, list[Document]] | None = None) -> ChangeReport:
        started = time.perf_counter()
        tmp.mkdir()

        texts = [s.text for d in docs for s in d.sentences]
        total = len(texts)
        live, kept_docs = extends if extends is not None else (None, [])
        kept = _kept_sentences(live, kept_docs, docs)  # leading sentences whose data is the live generation's
        if not kept:
            kept_docs = []
        fresh_docs = docs[len(kept_docs):]

        def step(done: int, todo: int) -> None:  # only sentences not embedded before count
            progress("embedding", done, todo)

        _step("embed")
        # Vectors of the kept sentences come from the live generation (embedded by the same model: its
        # manifest says so), as they would from the cache, without 2 lookups per sentence (7 s at 100k).
        vectors, embedded = self.cache.embed(self.encoder, texts[kept:], progress=step if progress else None)

        def context_step(done: int, todo: int) -> None:
            progress("embedding context", done, todo)

        # Each sentence again with its context (title, previous sentence): readers' questions name the
        # story, not the words of the sentence that answers (bench/tune_ranker.py: +0.04 hit@1 held out).
        context, _ = self.cache.embed(self.encoder, context_texts(fresh_docs),
                                      progress=context_step if progress else None)
        if kept:
            vectors = np.concatenate([np.asarray(live.vectors[:kept], dtype=np.float32),
                                      np.asarray(vectors, dtype=np.float32).reshape(-1, self.encoder.dimension)])
            context = np.concatenate([np.asarray(live.context_vectors[:kept], dtype=np.float32),
                                      np.asarray(context, dtype=np.float32).reshape(-1, self.encoder.dimension)])
        if progress:
            progress("indexing", total, total)
        sent_doc = np.repeat(np.arange(len(docs), dtype=np.int32), [len(d.sentences) for d in docs])
        para_offsets = np.cumsum([0] + [max(len(d.paragraphs), 1) for d in docs])[:-1]
        sent_para = np.array(
            [para_offsets[i] + s.paragraph - 1 for i, d in enumerate(docs) for s in d.sentences], dtype=np.int64
        )
        n_paras = int(sum(max(len(d.paragraphs), 1) for d in docs))
        para_texts = [""] * n_paras
        for i, d in enumerate(docs):
            for j, (a, b) in enumerate(d.paragraphs):
                para_texts[para_offsets[i] + j] = d.text[a:b]
        known = figures or {}
        figures = [known[d.doc_id] if d.doc_id in known else extract_figures(d.doc_id, d.text, d.sentences, title=d.title)
                   for d in docs]
        for d in docs:
            added_at.setdefault(d.doc_id, now_iso())

        _step("tables")
        write_tables(tmp / "docs.sqlite", docs, figures, added_at)
        headings = [f for d in fresh_docs for f in heading_flags(d.title, d.text, d.sentences, d.paragraphs)]
        traits = sentence_traits(texts[kept:], headings)
        titles, _ = self.cache.embed(self.encoder, [d.title for d in fresh_docs])
        dim = self.encoder.dimension
        titles = np.asarray(titles, dtype=np.float32).reshape(len(fresh_docs), dim)
        if kept:
            traits = np.concatenate([np.asarray(live.traits[:kept]), traits])
            titles = np.concatenate([np.asarray(live.title_vectors[: len(kept_docs)], dtype=np.float32), titles])
        data = GenerationData(
            corpus=cdir.name, generation=number, texts=texts, paragraph_texts=para_texts,
            vectors=np.asarray(vectors, dtype=np.float32).reshape(total, dim),
            context=np.asarray(context, dtype=np.float32).reshape(total, dim),
            sent_doc=sent_doc, sent_para=sent_para, traits=traits,
            paragraph_doc=np.repeat(np.arange(len(docs), dtype=np.int64), [max(len(d.paragraphs), 1) for d in docs]),
            paragraph_vectors=group_means(vectors, sent_para, n_paras) if total else np.zeros((n_paras, dim), np.float32),
            document_vectors=group_means(vectors, sent_doc, len(docs)) if total else np.zeros((len(docs), dim), np.float32),
            title_vectors=titles,
        )
        # The backend checks for itself that these vectors extend the live generation's (index/backend.py).
        stored = self.backend.write(tmp, data, self.settings.retrieval, previous=live.path if live is not None else None)
        seconds = time.perf_counter() - started
        manifest = {
            "format_version": FORMAT_VERSION,
            "corpus": cdir.name,
            "generation": number,
            "model": self.encoder.name,
            "dimension": self.encoder.dimension,
            "backend": self.backend.name,
            **stored,
            "documents": len(docs),
            "sentences": total,
            "figures": sum(len(f) for f in figures),
            "figures_version": FIGURES_VERSION,
            "traits_version": TRAITS_VERSION,
            "built_at": now_iso(),
            "build_seconds": round(seconds, 3),
            "files": file_table(tmp),
        }
        _step("manifest")
        atomic_write(tmp / "manifest.json", json.dumps(manifest, indent=2))
        cdir.stage(number, state=stage.get("state"), save=stage.get("save", []), drop=stage.get("drop", []))
        _step("publish")
        cdir.publish(tmp, final)
        return ChangeReport(
            corpus=cdir.name, generation=number, documents=len(docs), sentences=total,
            figures=manifest["figures"], embedded=embedded, seconds=round(time.perf_counter() - started, 3),
        )

    def _discard(self, folder: Path) -> None:
        """Delete a generation folder that never went live, and what its backend stored for it elsewhere."""
        try:
            self.backend.discard(folder)
        except NewsQAError as exc:  # its collections are dropped by the next write's garbage collection
            log.warning("could not discard what %s stored: %s", folder.name, exc)
        shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
        self.registry.close()


def _kept_sentences(live: CorpusIndex | None, kept: list[Document], docs: list[Document]) -> int:
    """How many leading sentences of the new generation (of ``docs``) are the live generation's, with
    the same vectors and traits: all of its sentences when ``docs`` start with exactly the documents
    read from it (``kept``, the same objects: nothing removed, replaced or reordered) and new ones
    follow; else 0 (everything is computed anew)."""
    if live is None or not kept or len(docs) <= len(kept) or any(a is not b for a, b in zip(docs, kept)):
        return 0
    n = sum(len(d.sentences) for d in kept)
    if not all(hasattr(live, a) for a in ("vectors", "context_vectors", "traits", "title_vectors")):
        return 0  # an index whose arrays live elsewhere (Milvus)
    if live.size != n or live.manifest.get("traits_version") != TRAITS_VERSION:
        return 0  # written before traits were versioned, or by another traits version
    # Traits computed by code that changed without TRAITS_VERSION changing would be carried forward:
    # a sample of them is computed again, and any difference computes them all.
    rows = np.unique(np.linspace(0, n - 1, num=min(n, 200)).astype(np.int64))
    texts = [s.text for d in kept for s in d.sentences]
    again = sentence_traits([texts[i] for i in rows])
    if not np.array_equal(again[:, :TRAIT_HEADING], np.asarray(live.traits[rows, :TRAIT_HEADING])):
        log.info("corpus %s: sentence traits changed since %s; computing them all again",
                 live.manifest.get("corpus"), live.path.name)
        return 0
    return n


def context_texts(docs: Sequence[Document]) -> list[str]:
    """Each sentence with its context, as encoded for the context vectors: "<title>. <previous sentence
    of the same paragraph> <sentence>"."""
    out = []
    for d in docs:
        previous = None
        for s in d.sentences:
            prev = previous.text + " " if previous is not None and previous.paragraph == s.paragraph else ""
            out.append(f"{d.title}. {prev}{s.text}")
            previous = s
    return out


def document_from_saved(saved: dict) -> Document:
    """Rebuild a Document from its saved JSON (sentences are split again: the segmenter is deterministic)."""
    text = saved["text"]
    sentences = tuple(split_sentences(text))
    if not sentences:
        raise IndexCorruptError(f"saved document {saved.get('doc_id')!r} has no sentences")
    return Document(
        doc_id=saved["doc_id"], title=saved["title"], source=saved["source"], text=text, sentences=sentences,
        url=saved.get("url"), published=saved.get("published"), paragraphs=tuple(split_paragraphs(text)),
    )


def documents_by_id(by_id: dict[str, Document], ids: Sequence[str]) -> list[Document]:
    return [by_id[i] for i in ids]


def _unique_id(doc: Document, existing: dict[str, Document]) -> Document:
    """Keep the id when it is new or names the same source (a replacement); else suffix -2, -3, ..."""
    old = existing.get(doc.doc_id)
    if old is None or old.source == doc.source:
        return doc
    n = 2
    while f"{doc.doc_id}-{n}" in existing:
        n += 1
    return replace(doc, doc_id=f"{doc.doc_id}-{n}")


def _dedupe(docs: list[Document]) -> list[Document]:
    seen: dict[str, Document] = {}
    for doc in docs:
        doc = _unique_id(doc, seen)
        seen[doc.doc_id] = doc
    return list(seen.values())


def _fingerprint(text: str) -> str:
    """What makes two documents the same text: their words, whatever the spacing and line breaks."""
    return hashlib.blake2b(" ".join(text.split()).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _drop_duplicates(docs: list[Document]) -> tuple[list[Document], list[tuple[Document, Document]]]:
    """Keep the first of documents with the same text; also return (dropped, kept) pairs."""
    seen: dict[str, Document] = {}
    kept, dropped = [], []
    for doc in docs:
        same = seen.setdefault(_fingerprint(doc.text), doc)
        if same is doc:
            kept.append(doc)
        else:
            dropped.append((doc, same))
    return kept, dropped


def _clean_metadata(doc: Document) -> Document:
    """Whatever made the document: a one-line, capped title and only an http(s) link."""
    title = clean_title(doc.title) or doc.doc_id
    url = doc.url if doc.url and not web_url_problem(doc.url) else None
    return doc if (title, url) == (doc.title, doc.url) else replace(doc, title=title, url=url)


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def _write_error(exc: BaseException, where: Path, what: str) -> IndexWriteError:
    """A plain message for a failed write: a full disk and a read-only folder are named as such."""
    code = getattr(exc, "errno", None)
    text = str(exc).lower()
    if code in _DISK_FULL or "disk is full" in text or "no space left" in text or "quota" in text:
        return IndexWriteError(f"the disk holding {where} is full: the write failed and {what} is unchanged; "
                               "free some space and try again")
    if code in _READ_ONLY or "readonly" in text or "read-only" in text or isinstance(exc, PermissionError):
        return IndexWriteError(f"cannot write to {where} ({exc}): {what} is unchanged; answering works, but "
                               "adding or rebuilding needs write access to the index directory")
    if isinstance(exc, MemoryError):
        return IndexWriteError(f"ran out of memory while writing {what}, which is unchanged; add fewer "
                               "documents at a time")
    return IndexWriteError(f"could not write {what} in {where} ({type(exc).__name__}: {exc}); it is unchanged")


def _damaged(idx: CorpusIndex, problem: str) -> IndexCorruptError:
    return IndexCorruptError(f"{idx.path.name}: {problem}; rebuild it from its sources with "
                             f"`newsqa index build --corpus {idx.manifest.get('corpus', 'default')}`")


__all__ = ["Engine", "EngineSettings", "check_corpus_name", "clean_question"]
