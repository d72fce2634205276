"""The engine: built once per process, asked many times, from any thread.

Reads go to an immutable ``CorpusIndex`` (one loaded generation); writes build a whole new
generation under the corpus's writer lock and swap it in when it is complete, so questions keep
being answered from the old index while a reindex runs.
"""

from __future__ import annotations

import json
import logging
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
from .documents import list_sources, load_path
from .embed import EmbeddingCache, Encoder
from .errors import (
    DocumentNotFoundError,
    IndexCorruptError,
    InvalidQuestionError,
    ModelMismatchError,
    NewsQAError,
    UnsupportedDocumentError,
)
from .figures import extract_figures
from .lexical import LexicalIndex
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
from .search import CorpusIndex, RetrievalSettings, group_means, make_faiss_index, sentence_traits
from .segment import split_paragraphs, split_sentences
from .store import FORMAT_VERSION, CorpusDir, atomic_write, check_corpus_name, write_tables

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (stage, done, total)

# For crash tests and the fault benchmark only: when set, called with the name of each step of a
# generation write as it starts ("embed", "tables", "arrays", "faiss", "bm25", "manifest", "publish",
# "live"), so a test can kill a writer at a known step instead of at a random moment.
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

    def __init__(self, index_dir: Path, encoder: Encoder, settings: EngineSettings | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.encoder = encoder
        self.settings = settings or EngineSettings()
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self.cache = EmbeddingCache(self.index_dir / "embeddings.sqlite")
        self._indexes: OrderedDict[str, CorpusIndex] = OrderedDict()
        self._load_lock = threading.Lock()

    # ----------------------------------------------------------------- reading

    def corpus(self, name: str) -> CorpusDir:
        return CorpusDir(self.index_dir, name)

    def corpora(self) -> list[str]:
        root = self.index_dir / "corpora"
        return sorted(p.name for p in root.iterdir() if (p / "CURRENT").exists()) if root.is_dir() else []

    def has_corpus(self, name: str) -> bool:
        return self.corpus(name).exists()

    def index(self, corpus: str = "default") -> CorpusIndex:
        """The live generation of a corpus, reloaded when another writer (or process) switched it."""
        cdir = self.corpus(corpus)
        token = cdir.current_token()
        loaded = self._indexes.get(corpus)
        if loaded is not None and loaded.path.name == token:
            with self._load_lock:
                if corpus in self._indexes:
                    self._indexes.move_to_end(corpus)
            return loaded
        with self._load_lock:
            loaded = self._indexes.get(corpus)
            if loaded is not None and loaded.path.name == token:
                return loaded
            try:
                fresh = CorpusIndex.load(
                    cdir.current(),
                    model=self.encoder.name,
                    dimension=self.encoder.dimension,
                    settings=self.settings.retrieval,
                )
            except (IndexCorruptError, ModelMismatchError) as exc:
                if "newsqa index build" in str(exc):
                    raise
                raise type(exc)(
                    f"corpus {corpus!r}: {exc}; rebuild it from its sources with "
                    f"`newsqa index build --corpus {corpus}`"
                ) from exc
            self._indexes[corpus] = fresh
            self._indexes.move_to_end(corpus)
            while len(self._indexes) > self.settings.max_loaded:
                self._indexes.popitem(last=False)  # its SQLite handle closes when the last reader lets go
            return fresh

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
        return Answer(question=question, answered=answered, confidence=confidence, hits=tuple(hits))

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
            )[0]
            doc_pos, paragraph, number, start, end, text, doc_id, title, source, url = row
            window = idx.query(
                "SELECT min(start), max(\"end\") FROM sentences WHERE doc_pos = ? AND paragraph = ? "
                "AND sentence BETWEEN ? AND ?",
                (doc_pos, paragraph, number - n, number + n),
            )[0]
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
            (context,) = idx.query(
                "SELECT substr(text, ?, ?) FROM documents WHERE pos = ?", (a + 1, b - a, h["doc_pos"])
            )[0]
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
        pstart, pend = idx.query(
            "SELECT start, \"end\" FROM paragraphs WHERE doc_pos = ? AND paragraph = ?", (pos, paragraph)
        )[0]
        (ptext,) = idx.query("SELECT substr(text, ?, ?) FROM documents WHERE pos = ?", (pstart + 1, pend - pstart, pos))[0]
        return Passage(
            doc_id=doc_id, title=title, paragraph=paragraph, sentence=sentence, text=ptext,
            sentence_start=start - pstart, sentence_end=end - pstart,
            citation=make_citation(doc_id=doc_id, title=title, paragraph=paragraph, sentence=sentence,
                                   source=source, url=url, text=text),
        )

    def _document_pos(self, idx: CorpusIndex, doc_id: str) -> int:
        rows = idx.query("SELECT pos FROM documents WHERE doc_id = ?", (doc_id,))
        if not rows:
            known = ", ".join(r[0] for r in idx.query("SELECT doc_id FROM documents ORDER BY pos LIMIT 20"))
            raise DocumentNotFoundError(f"no document {doc_id!r} in this corpus; known documents: {known or 'none'}")
        return rows[0][0]

    def figures(
        self, topic: str | None = None, *, corpus: str = "default", doc_id: str | None = None, limit: int | None = None
    ) -> list[Figure]:
        """Key figures in document order, or ranked by relevance to ``topic`` when one is given."""
        idx = self.index(corpus)
        where, params = "", ()
        if doc_id:
            where, params = "WHERE f.doc_pos = ?", (self._document_pos(idx, doc_id),)
        rows = idx.query(
            "SELECT d.doc_id, d.title, d.source, d.url, f.text, f.value, f.unit, f.kind, f.label, s.paragraph, "
            f"s.sentence, f.start, f.\"end\", s.text, f.sentence_id FROM figures f JOIN sentences s ON s.id = f.sentence_id "
            f"JOIN documents d ON d.pos = f.doc_pos {where} ORDER BY f.doc_pos, f.start",
            params,
        )
        scores = np.zeros(len(rows), dtype=np.float32)
        if topic and topic.strip() and rows:
            topic = clean_question(topic, self.settings.max_question_chars)
            qv = self.embed_questions([topic])[0]
            sids = np.array([r[14] for r in rows])
            labels = self.embed_questions([r[8] for r in rows])
            lexical = idx.bm25.scores(topic)
            lex = lexical[sids] / lexical.max() if lexical.size and lexical.max() > 0 else 0.0
            scores = 0.6 * (np.asarray(idx.vectors[sids]) @ qv) + 0.4 * (labels @ qv) + 0.3 * lex
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
        with cdir.writer_lock(self.settings.lock_timeout):
            return self._build_locked(cdir, source_dir, progress)

    def _source_docs(self, cdir: CorpusDir, state: dict, source_dir: Path | None = None) -> list[Document]:
        """A corpus's documents as its sources give them: the source folder, plus added, minus removed."""
        folder = Path(source_dir) if source_dir else (
            Path(state["source_dir"]) if state.get("source_dir") else self.settings.seeds_dir
        )
        removed = set(state.get("removed", []))
        docs: list[Document] = []
        if folder is not None:
            docs.extend(d for d in (load_path(p) for p in list_sources(folder)) if d.doc_id not in removed)
        docs.extend(document_from_saved(s) for s in cdir.added_documents() if s["doc_id"] not in removed)
        return _dedupe(docs)

    def _build_locked(self, cdir: CorpusDir, source_dir: Path | None, progress: Progress | None) -> ChangeReport:
        state = cdir.read_state()
        docs = self._source_docs(cdir, state, source_dir)
        if source_dir is not None:
            state["source_dir"] = str(Path(source_dir).resolve())
        _, previous = self._current_docs(cdir, from_sources=False)
        report = self._write_generation(cdir, docs, progress, added_at=previous)
        cdir.write_state(state)
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
        with cdir.writer_lock(self.settings.lock_timeout):
            if cdir.exists():  # another writer built it while we waited
                return None
            return self._build_locked(cdir, None, progress)

    def add(self, documents: Sequence[Document], *, corpus: str = "default", progress: Progress | None = None) -> ChangeReport:
        """Add (or replace, when the id and source match) documents, keeping everything else as it is."""
        if not documents:
            raise UnsupportedDocumentError("nothing to add: give at least one file, URL or text")
        cdir = self.corpus(corpus)
        with cdir.writer_lock(self.settings.lock_timeout):
            current, added_at = self._current_docs(cdir)
            by_id = {d.doc_id: d for d in current}
            new_ids = []
            for doc in documents:
                doc = _unique_id(doc, by_id)
                by_id[doc.doc_id] = doc
                added_at[doc.doc_id] = now_iso()
                new_ids.append(doc.doc_id)
            state = cdir.read_state()
            if set(new_ids) & set(state.get("removed", [])):
                state["removed"] = [d for d in state["removed"] if d not in new_ids]
            for doc in documents_by_id(by_id, new_ids):
                cdir.save_added(doc)
            known = {k: v for k, v in self._current_figures(cdir).items() if k not in new_ids}
            report = self._write_generation(cdir, list(by_id.values()), progress, added_at=added_at, figures=known)
            cdir.write_state(state)
            return replace(report, added=tuple(new_ids))

    def remove(self, doc_id: str, *, corpus: str = "default", progress: Progress | None = None) -> ChangeReport:
        """Remove a document from a corpus (also from future rebuilds)."""
        cdir = self.corpus(corpus)
        with cdir.writer_lock(self.settings.lock_timeout):
            current, added_at = self._current_docs(cdir)
            if doc_id not in {d.doc_id for d in current}:
                known = ", ".join(d.doc_id for d in current[:20])
                raise DocumentNotFoundError(f"no document {doc_id!r} in corpus {corpus!r}; known documents: {known or 'none'}")
            state = cdir.read_state()
            state["removed"] = sorted(set(state.get("removed", [])) | {doc_id})
            cdir.write_state(state)
            cdir.drop_added(doc_id)
            report = self._write_generation(
                cdir, [d for d in current if d.doc_id != doc_id], progress, added_at=added_at,
                figures=self._current_figures(cdir),
            )
            return replace(report, removed=(doc_id,))

    def _current_docs(self, cdir: CorpusDir, *, from_sources: bool = True) -> tuple[list[Document], dict[str, str]]:
        """Documents of the live generation; when there is none or it is unreadable, those of its
        sources (or nothing, without ``from_sources``), so that an add never drops the rest."""
        try:
            idx = self.index(cdir.name)
        except NewsQAError as exc:
            if cdir.exists():
                log.warning("corpus %s: live index unreadable (%s); starting from its sources", cdir.name, exc)
            if not from_sources:
                return [], {}
            return self._source_docs(cdir, cdir.read_state()), {}
        docs, added_at = [], {}
        for pos, doc_id, title, source, url, published, text, when in idx.query(
            "SELECT pos, doc_id, title, source, url, published, text, added_at FROM documents ORDER BY pos"
        ):
            sentences = tuple(
                Sentence(paragraph=p, sentence=n, start=a, end=b, text=t)
                for p, n, a, b, t in idx.query(
                    "SELECT paragraph, sentence, start, \"end\", text FROM sentences WHERE doc_pos = ? ORDER BY id", (pos,)
                )
            )
            paragraphs = tuple(
                (a, b) for a, b in idx.query("SELECT start, \"end\" FROM paragraphs WHERE doc_pos = ? ORDER BY id", (pos,))
            )
            docs.append(Document(doc_id=doc_id, title=title, source=source, text=text, sentences=sentences,
                                 url=url, published=published, paragraphs=paragraphs))
            added_at[doc_id] = when
        return docs, added_at

    def _current_figures(self, cdir: CorpusDir) -> dict[str, list[Figure]]:
        """Figures of the live generation by document, so an add or remove need not extract them again."""
        try:
            idx = self.index(cdir.name)
        except NewsQAError:
            return {}
        out: dict[str, list[Figure]] = {}
        for row in idx.query(
            "SELECT d.doc_id, f.text, f.value, f.unit, f.kind, f.label, s.paragraph, s.sentence, f.start, f.\"end\" "
            "FROM figures f JOIN sentences s ON s.id = f.sentence_id JOIN documents d ON d.pos = f.doc_pos "
            "ORDER BY f.id"
        ):
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
    ) -> ChangeReport:
        """Embed, extract and write a complete new generation, then make it live (writer lock held)."""
        started = time.perf_counter()
        cdir.root.mkdir(parents=True, exist_ok=True)
        cdir.collect_garbage()
        number, final = cdir.next_generation()
        tmp = final.with_name(final.name + ".tmp")
        tmp.mkdir()

        texts = [s.text for d in docs for s in d.sentences]
        total = len(texts)
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress("embedding", min(done, total), total)

        _step("embed")
        vectors, embedded = self.cache.embed(self.encoder, texts, progress=step)
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
        figures = [known[d.doc_id] if d.doc_id in known else extract_figures(d.doc_id, d.text, d.sentences) for d in docs]
        for d in docs:
            added_at.setdefault(d.doc_id, now_iso())

        _step("tables")
        write_tables(tmp / "docs.sqlite", docs, figures, added_at)
        _step("arrays")
        np.save(tmp / "vectors.npy", vectors)
        np.save(tmp / "sent_doc.npy", sent_doc)
        np.save(tmp / "sent_para.npy", sent_para)
        np.save(tmp / "sentence_traits.npy", sentence_traits(texts))
        np.save(tmp / "paragraphs.npy", group_means(vectors, sent_para, n_paras) if total else np.zeros((n_paras, self.encoder.dimension), np.float32))
        np.save(tmp / "documents.npy", group_means(vectors, sent_doc, len(docs)) if total else np.zeros((len(docs), self.encoder.dimension), np.float32))
        _step("faiss")
        settings = self.settings.retrieval
        index = make_faiss_index(vectors, settings)
        import faiss  # noqa: PLC0415 - already loaded by search; kept local for clarity

        faiss.write_index(index, str(tmp / "sentences.faiss"))
        _step("bm25")
        LexicalIndex.build(texts).save(tmp / "bm25-sentences")
        LexicalIndex.build(para_texts).save(tmp / "bm25-paragraphs")
        seconds = time.perf_counter() - started
        manifest = {
            "format_version": FORMAT_VERSION,
            "corpus": cdir.name,
            "generation": number,
            "model": self.encoder.name,
            "dimension": self.encoder.dimension,
            "index_type": type(index).__name__,
            "documents": len(docs),
            "sentences": total,
            "figures": sum(len(f) for f in figures),
            "built_at": now_iso(),
            "build_seconds": round(seconds, 3),
        }
        _step("manifest")
        atomic_write(tmp / "manifest.json", json.dumps(manifest, indent=2))
        _step("publish")
        cdir.publish(tmp, final)
        _step("live")
        self.index(cdir.name)  # load the new generation now, so the next question does not pay for it
        cdir.collect_garbage()
        return ChangeReport(
            corpus=cdir.name, generation=number, documents=len(docs), sentences=total,
            figures=manifest["figures"], embedded=embedded, seconds=round(time.perf_counter() - started, 3),
        )

    def close(self) -> None:
        self.cache.close()


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


__all__ = ["Engine", "EngineSettings", "check_corpus_name", "clean_question"]
