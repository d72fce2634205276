"""A loaded generation of one corpus and the retrieval over it: dense + BM25, fused with context."""

from __future__ import annotations

import json
import os
import sqlite3
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from .answertypes import TYPES, asked_mask, type_matrix
from .extract import squeeze
from .errors import IndexCorruptError, ModelMismatchError
from . import ranker
from .lexical import LexicalIndex
from .store import FORMAT_VERSION, check_checksums, check_sizes, open_tables, read_manifest

# Generations up to this size (~60k sentences) are checksummed before the first answer (~0.2 s);
# larger ones in a background thread while answering starts, and every write waits for the result
# (bench/bench_checksum.py: at 1M sentences the load takes 3.6 s instead of 3.4 s, checking first 6.8 s).
SYNC_VERIFY_BYTES = 256 * 1024 * 1024

log = logging.getLogger(__name__)


# Tuning on SQuAD (bench/eval_squad.py; ../shared/eval/squad-dev-a.json: 24 articles, 5,202 sentences,
# 5,665 questions, all articles in one corpus). Weights were chosen by coordinate ascent on P@1 + MRR@10
# over the questions of the 12 even-numbered articles ("tune") from features computed once per question;
# the 12 odd-numbered articles are held out. P@1 / MRR@10:
#                                              tune          held-out       all
#   BM25 alone                                 0.641 0.719   0.690 0.756    0.665 0.737
#   dense alone                                0.567 0.668   0.571 0.662    0.569 0.665
#   BM25+dense RRF k=60 (baseline)             0.638 0.733   0.648 0.734    0.643 0.733
#   previous defaults (1/.5/.2/.3/.2, BM25 1.5/.75) 0.680 0.773 0.694 0.775 0.687 0.774
#   these defaults                             0.708 0.790   0.725 0.799    0.717 0.794
# What gained (all-question P@1, one at a time): BM25 k1 0.6, b 0.25 instead of 1.5/0.75 (+0.022; 0.4-0.9
# and b 0.1-0.4 are within 0.003), the 179-word stopword list (+0.002 fused, +0.011 BM25 alone), the
# answer-type match (+0.005), the previous/next sentence (+0.004), less paragraph cosine and no document
# cosine (+0.003). Did not help: z-score normalization of features per question (same as /max), RRF
# rank features added to the linear fusion, log raw BM25, dense score minus the question's best dense,
# sentence length (weight 0 once b is low), candidate depth beyond 24 (recall 0.95 at 16, 0.98 at 64;
# fused P@1 identical from 24 to 150). Weights tuned on the held-out half instead land within 0.007.
# Engine search without encoding: p50 2.6 ms, p95 3.8 ms at 5k sentences (2 busy cores).
# No-answer threshold: see CorpusIndex.confidence. At 0.15, questions asked against a 12-article corpus
# holding their article are answered 0.995 (tune) / 0.988 (held-out); asked against the other 12
# articles they are declined 0.844 / 0.845. Seed article: 18/18 answered (lowest confidence 0.32), the
# expected sentence in the top 3 for all 18 (17 at rank 1); 4/4 out-of-scope declined (highest 0.002).


@dataclass(frozen=True)
class RetrievalSettings:
    """How candidates are gathered and scored. Defaults were tuned on SQuAD (see bench/eval_squad.py)."""

    candidates: int = 48  # taken from each of the dense and BM25 rankings
    w_sentence: float = 1.0  # cosine(question, sentence)
    w_paragraph: float = 0.3  # cosine(question, mean of the paragraph's sentence vectors)
    w_document: float = 0.0  # cosine(question, mean of the document's sentence vectors)
    w_bm25: float = 0.4  # BM25 of the sentence, divided by the best BM25 score of the question
    w_bm25_paragraph: float = 0.2  # BM25 of the paragraph, likewise
    w_neighbour: float = 0.2  # best cosine of the previous / next sentence of the same paragraph
    w_bm25_neighbour: float = -0.1  # best BM25 / max of the previous / next sentence
    w_answer_type: float = 0.1  # the sentence holds what the question asks for (a number, a date, a name)
    w_length: float = 0.0  # log of the sentence length in characters
    threshold: float = 0.303  # confidence below which a question is declined (bench/tune_confidence.py)
    # Decline a question asking for an amount of money, a temperature or a speed ("How much did X pay?")
    # when the best passage states none (index.engine.Engine._answer; measured in bench/eval_news.py).
    decline_missing_measure: bool = True
    # Sentences above which HNSW replaces exact search. The issue suggested ~200k, but exact search
    # costs ~21 ms idle (38 ms busy) at 100k, over the whole 20 ms p50 budget by itself, while HNSW
    # (M 32, efSearch 96) answers in 0.3 ms with recall@10 0.99 / recall@64 0.98 (bench_latency).
    # At 20k, exact search is ~4 ms and keeps adds cheap (no HNSW graph to rebuild).
    approximate_above: int = 20_000
    hnsw_m: int = 32
    hnsw_ef_search: int = 96

    w_type_match: float = 0.0  # the sentence holds a value of the kind asked for (index.answertypes)
    w_type_missing: float = 0.0  # the question asks for a kind of value the sentence does not hold
    w_title: float = 0.0  # cosine(question, the document's title)
    w_coverage: float = 0.0  # share of the question's words found in the sentence
    ranker: str = "learned"  # "learned" (index/ranker.py, LambdaMART) or "linear" (the w_* weights above)
    ranker_model: str | None = None  # a LightGBM model file; None: the packaged one
    # Confidence: logistic weights of (cosine, paragraph cosine, title cosine, coverage, paragraph
    # coverage, name coverage, asked type missing, bias); see CorpusIndex.confidence.
    # Fitted by bench/tune_confidence.py (news-dev's rows ranked by held-out fold models, weighted 20 to
    # one SQuAD question); the threshold answers 96.5% of news-dev's in-scope questions.
    confidence_weights: tuple[float, ...] = (5.035, 4.792, 4.391, 0.736, 3.683, 0.745, -0.321, -7.478)
    # A close call: the best sentence's ranker score leads the next one's by less than this. Measured with
    # held-out rankers (bench/eval_news.py --cv), the best sentence is right 0.29 of the time on such
    # news-dev questions (18% of them) against 0.67 on the others; on SQuAD-A 6% are close calls. At 0.3
    # the fitted P(right | margin) crosses 0.5. In the learned ranker's units (the linear fusion's differ).
    close_call_margin: float = 0.3

    def weights(self) -> np.ndarray:
        """Weights aligned with the first FUSED columns of ``Candidates.features`` (see FEATURES)."""
        return np.array([getattr(self, "w_" + name) for name in FEATURES[:FUSED]], dtype=np.float32)


# Columns of Candidates.features; the first FUSED are fused linearly with RetrievalSettings.weights()
# (each named by its weight: w_<name>).
FEATURES = (
    "sentence", "paragraph", "document", "bm25", "bm25_paragraph", "neighbour", "bm25_neighbour",
    "answer_type", "length", "type_match", "type_missing", "title", "coverage",
    "bm25_raw", "bm25_paragraph_raw", "heading",
    # Used by the learned ranker (index/ranker.py) only:
    "dense_rank", "bm25_rank", "document_bm25", "entity_coverage", "paragraph_coverage", "position",
    "type_match_neighbour", "context",
)
FUSED = 13

# Sentence traits (columns of sentence_traits) and the question words that ask for them.
_DIGIT = re.compile(r"\d")
_DATE = re.compile(
    r"\b(1\d{3}|20\d{2})s?\b|\b(January|February|March|April|May|June|July|August|September|October|"
    r"November|December)\b|\bcentur(y|ies)\b"
)
_NAME = re.compile(r"(?<!^)(?<![.!?] )\b[A-Z][a-z]+")  # capitalized words not starting the sentence
_ASKS_NUMBER = re.compile(
    r"\bhow (many|much|long|old|far|large|big|tall|high)\b|\bwhat (percentage|percent|number|amount)\b", re.I
)
_ASKS_DATE = re.compile(r"\bwhen\b|\b(what|which) (year|decade|century|date|day|month|time)\b", re.I)
# Names in a question: capitalized words after its first word ("Which Browns player ... Rudolph ...").
_ENTITY = re.compile(r"(?<!^)\b[A-Z][\w'’.-]*[\w]")
_ASKS_NAME = re.compile(r"\bwho(m|se)?\b", re.I)


# Columns of sentence_traits: the four below, then one per answer type (index.answertypes.TYPES), then
# HEADING (1 for a sentence that is never an answer: a heading, the headline, a question subheading).
TRAIT_BASE = 4
# Recorded in each manifest: an add reuses the live generation's traits only when they were computed
# by the same version (index.engine._kept_sentences). Bump it when sentence_traits, heading_flags or
# index.answertypes change what they find.
TRAITS_VERSION = 1
TRAIT_HEADING = TRAIT_BASE + len(TYPES)
TRAIT_COLUMNS = TRAIT_HEADING + 1


def sentence_traits(texts: list[str], headings: Sequence[bool] | None = None) -> np.ndarray:
    """Per sentence: has a digit, has a date, capitalized words (up to 3) / 3, log of the length; then
    which answer types it holds (index.answertypes); then whether it is a heading (never an answer)."""
    out = np.zeros((len(texts), TRAIT_COLUMNS), dtype=np.float32)
    for i, t in enumerate(texts):
        out[i, :TRAIT_BASE] = (
            bool(_DIGIT.search(t)), bool(_DATE.search(t)), min(len(_NAME.findall(t)), 3) / 3, np.log(max(len(t), 1))
        )
    out[:, TRAIT_BASE:TRAIT_HEADING] = type_matrix(texts)
    if headings is not None:
        out[:, TRAIT_HEADING] = np.asarray(headings, dtype=np.float32)
    else:
        out[:, TRAIT_HEADING] = [t.lstrip().startswith("#") for t in texts]
    return out


def _asked_trait(question: str) -> int | None:
    """Which of the first three sentence traits the question asks for, if any."""
    if _ASKS_NUMBER.search(question):
        return 0
    if _ASKS_DATE.search(question):
        return 1
    if _ASKS_NAME.search(question):
        return 2
    return None


def heading_flags(title: str, text: str, sentences: Sequence, paragraphs: Sequence[tuple[int, int]]) -> list[bool]:
    """Which sentences of a document are never answers: Markdown headings ("## ..."), the headline
    repeated in the text, and question subheadings (a paragraph that is one short question)."""
    title_key = squeeze(title or "")
    flags = []
    for s in sentences:
        a, b = paragraphs[s.paragraph - 1] if 0 < s.paragraph <= len(paragraphs) else (s.start, s.end)
        whole = s.start <= a and s.end >= b
        text_s = s.text.strip()
        flags.append(
            text_s.startswith("#")
            or (bool(title_key) and squeeze(text_s) == title_key)
            or (whole and text_s.endswith("?") and len(text_s) < 160)
        )
    return flags


@dataclass(frozen=True)
class Candidates:
    """The candidate sentences of one question and their features (one row each, columns FEATURES)."""

    ids: np.ndarray  # global sentence ids, ascending
    features: np.ndarray  # float32 (len(ids), len(FEATURES))
    dense_rank: np.ndarray  # rank in the dense list, or the depth when not in it
    bm25_rank: np.ndarray  # rank in the BM25 list, or the depth when not in it


@dataclass(frozen=True)
class Neighbours:
    """The sentence just before (or after) each candidate: rows aligned with the candidates."""

    exists: np.ndarray  # bool: the corpus has a sentence there
    same_paragraph: np.ndarray  # bool: it is in the candidate's paragraph
    vectors: np.ndarray  # float32 (m, dim), zeros where it does not exist
    bm25: np.ndarray  # raw BM25 for the question, 0 where it does not exist
    traits: np.ndarray  # sentence_traits rows, zeros where it does not exist


@dataclass(frozen=True)
class CandidateRows:
    """What a question's candidate features are computed from, whatever index holds the sentences
    (FAISS + bm25s files, or Milvus): one row per candidate, ids ascending."""

    ids: np.ndarray  # sentence ids within the generation, ascending
    dense_rank: np.ndarray
    bm25_rank: np.ndarray
    vectors: np.ndarray  # float32 (m, dim)
    context: np.ndarray  # float32 (m, dim): the sentence encoded with its title and previous sentence
    traits: np.ndarray  # sentence_traits rows
    position: np.ndarray  # float32: the sentence's position in its document (0 = first)
    bm25: np.ndarray  # raw BM25 of the sentence
    top_bm25: float  # the best BM25 of any sentence of the corpus for this question
    coverage: np.ndarray  # share of the question's terms in the sentence
    entity_coverage: np.ndarray  # share of the names in the question found in the sentence
    neighbours: tuple[Neighbours, Neighbours]  # previous, next
    paragraph_vectors: np.ndarray  # float32 (m, dim): mean vector of the candidate's paragraph
    paragraph_bm25: np.ndarray  # raw BM25 of the paragraph
    top_paragraph: float  # the best BM25 of any paragraph of the corpus
    paragraph_coverage: np.ndarray
    document_vectors: np.ndarray  # float32 (m, dim): mean vector of the candidate's document
    title_vectors: np.ndarray  # float32 (m, dim)
    document_bm25: np.ndarray  # best BM25 of a paragraph of the candidate's document / top_paragraph


def merge_lists(dense_ids: np.ndarray, lexical: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The union of the dense and BM25 lists (ascending) and each id's rank in them (``depth`` when absent)."""
    ids = np.unique(np.concatenate([dense_ids, lexical]).astype(np.int64))
    dense_rank = np.full(len(ids), depth, dtype=np.int32)
    dense_rank[np.searchsorted(ids, dense_ids)] = np.arange(len(dense_ids))
    bm25_rank = np.full(len(ids), depth, dtype=np.int32)
    bm25_rank[np.searchsorted(ids, lexical)] = np.arange(len(lexical))
    return ids, dense_rank, bm25_rank


def candidate_features(question: str, qv: np.ndarray, rows: CandidateRows) -> Candidates:
    """The FEATURES of every candidate of a question (the same code for every index backend)."""
    m = len(rows.ids)
    dense = rows.vectors @ qv
    para_dense = rows.paragraph_vectors @ qv
    doc_dense = rows.document_vectors @ qv
    top_bm25, top_para = rows.top_bm25, rows.top_paragraph
    lex = rows.bm25 / top_bm25 if top_bm25 > 0 else np.zeros(m, dtype=np.float32)
    lex_para = rows.paragraph_bm25 / top_para if top_para > 0 else np.zeros(m, dtype=np.float32)
    # Neighbours: the sentences just before and after, when they are in the same paragraph.
    neighbour_dense = np.zeros(m, dtype=np.float32)
    neighbour_lex = np.zeros(m, dtype=np.float32)
    for nb in rows.neighbours:
        ok = nb.exists & nb.same_paragraph
        if ok.any():
            neighbour_dense[ok] = np.maximum(neighbour_dense[ok], nb.vectors[ok] @ qv)
            if top_bm25 > 0:
                neighbour_lex[ok] = np.maximum(neighbour_lex[ok], nb.bm25[ok] / top_bm25)
    trait = _asked_trait(question)
    traits = rows.traits
    answer_type = traits[:, trait] if trait is not None else np.zeros(m, dtype=np.float32)
    asked = asked_mask(question)
    type_neighbour = np.zeros(m, dtype=np.float32)
    if asked.any():
        type_match = (traits[:, TRAIT_BASE:TRAIT_HEADING] @ asked > 0).astype(np.float32)
        type_missing = 1.0 - type_match
        for nb in rows.neighbours:
            # At either end of the corpus the sentence counts as its own neighbour (as it always has:
            # the ranker was trained so).
            same = ~nb.exists | nb.same_paragraph
            other = np.where(nb.exists[:, None], nb.traits, traits)
            type_neighbour = np.maximum(type_neighbour, same * (other[:, TRAIT_BASE:TRAIT_HEADING] @ asked > 0))
    else:
        type_match = type_missing = np.zeros(m, dtype=np.float32)
    title = rows.title_vectors @ qv
    features = np.stack(
        [dense, para_dense, doc_dense, lex, lex_para, neighbour_dense, neighbour_lex,
         answer_type, traits[:, 3], type_match, type_missing, title, rows.coverage,
         rows.bm25, rows.paragraph_bm25, traits[:, TRAIT_HEADING],
         1.0 / (1.0 + rows.dense_rank), 1.0 / (1.0 + rows.bm25_rank), rows.document_bm25, rows.entity_coverage,
         rows.paragraph_coverage, np.log1p(rows.position), type_neighbour,
         rows.context @ qv],
        axis=1,
    ).astype(np.float32)
    return Candidates(ids=rows.ids, features=features, dense_rank=rows.dense_rank, bm25_rank=rows.bm25_rank)


@dataclass(frozen=True)
class Scored:
    """A candidate sentence (by global id) with its fused score and the parts it came from."""

    sid: int
    score: float
    dense: float
    paragraph_dense: float
    bm25: float
    coverage: float = 0.0  # fraction of the question's words in the sentence
    paragraph_coverage: float = 0.0  # fraction of the question's words in its paragraph
    title: float = 0.0  # cosine(question, the document's title)
    entity_coverage: float = 0.0  # fraction of the names in the question found in the sentence
    type_missing: float = 0.0  # 1 when the question asks for a kind of value the sentence lacks


HNSW_EF_CONSTRUCTION = 80


def make_faiss_index(vectors: np.ndarray, settings: RetrievalSettings) -> faiss.Index:
    """Exact inner-product search, or HNSW above ``settings.approximate_above`` vectors."""
    dim = vectors.shape[1]
    if len(vectors) > settings.approximate_above:
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


def group_means(vectors: np.ndarray, groups: np.ndarray, count: int) -> np.ndarray:
    """Normalized mean vector of each group (rows of ``vectors`` labelled 0..count-1 by ``groups``)."""
    # A sparse (count x n) membership matrix times the vectors: ~4x faster than np.add.at (bench_add).
    # scipy is imported here, when building, so that a process that only answers never loads it.
    import scipy.sparse

    n = len(groups)
    membership = scipy.sparse.csr_matrix(
        (np.ones(n, dtype=np.float32), (np.asarray(groups), np.arange(n))), shape=(count, n)
    )
    return normalize_rows(np.asarray(membership @ np.asarray(vectors, dtype=np.float32)))


def check_manifest(path: Path, *, model: str, dimension: int, backend: str) -> dict:
    """A generation's manifest, refused unless it was built with this format, model and index backend."""
    manifest = read_manifest(path)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelMismatchError(
            f"index format {manifest.get('format_version')} found, this version reads format {FORMAT_VERSION}"
        )
    if manifest.get("model") != model or manifest.get("dimension") != dimension:
        raise ModelMismatchError(
            f"index built with model {manifest.get('model')!r} ({manifest.get('dimension')} dims), "
            f"but the configured model is {model!r} ({dimension} dims)"
        )
    built = manifest.get("backend", "local")  # generations written before issue 14 are local
    if built != backend:
        raise ModelMismatchError(
            f"{path.name} was built with INDEX_BACKEND={built}, but this process uses INDEX_BACKEND={backend}; "
            f"set INDEX_BACKEND={built} or rebuild it with `newsqa index build --corpus {manifest.get('corpus', 'default')}`"
        )
    return manifest


class CorpusIndex:
    """An immutable, loaded generation. Safe to search from several threads at once."""

    def __init__(self, path: Path, manifest: dict, settings: RetrievalSettings) -> None:
        self.path = path
        self.manifest = manifest
        self.settings = settings
        self.damage: str | None = None
        self._verified = threading.Event()
        self._stop = threading.Event()
        files = manifest.get("files") or {}  # generations written before checksums have none
        problem = check_sizes(path, files)
        if problem:
            raise IndexCorruptError(f"{path.name}: {problem}")
        background = sum(int(f["bytes"]) for f in files.values()) > SYNC_VERIFY_BYTES
        if not background:
            self._verify(files)
            if self.damage:
                raise IndexCorruptError(f"{path.name}: {self.damage}")
        self.db = open_tables(path / "docs.sqlite")
        self.db_lock = threading.Lock()
        self._open()
        if background:  # started once loaded, so it does not compete with the load itself
            threading.Thread(target=self._verify, args=(files, True), name=f"verify {path.name}", daemon=True).start()

    def _open(self) -> None:
        """Load what answering reads besides docs.sqlite: FAISS, BM25 and the arrays of the generation."""
        path = self.path
        try:
            self.faiss = faiss.read_index(str(path / "sentences.faiss"))
            self.vectors = np.load(path / "vectors.npy", mmap_mode="r")
            self.paragraph_vectors = np.load(path / "paragraphs.npy")
            self.document_vectors = np.load(path / "documents.npy")
            self.sent_doc = np.load(path / "sent_doc.npy")
            self.sent_para = np.load(path / "sent_para.npy")
            self.bm25 = LexicalIndex.load(path / "bm25-sentences")
            self.bm25_paragraphs = LexicalIndex.load(path / "bm25-paragraphs")
            self.traits = np.load(path / "sentence_traits.npy")
            self.title_vectors = np.load(path / "titles.npy")
            self.context_vectors = np.load(path / "context.npy", mmap_mode="r")
        except (OSError, RuntimeError, ValueError, KeyError, EOFError, IndexCorruptError) as exc:
            raise IndexCorruptError(f"{path.name} of this corpus cannot be read ({exc})") from exc
        self._check_consistent()
        n = len(self.sent_doc)
        # Each paragraph's document, and each sentence's position in its document (0 = first).
        self.para_doc = np.zeros(len(self.paragraph_vectors), dtype=np.int64)
        self.para_doc[self.sent_para] = self.sent_doc
        starts = np.flatnonzero(np.r_[True, self.sent_doc[1:] != self.sent_doc[:-1]]) if n else np.zeros(0, np.int64)
        self.position = (np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))).astype(np.float32)
        if isinstance(self.faiss, faiss.IndexHNSWFlat):
            self.faiss.hnsw.efSearch = self.settings.hnsw_ef_search

    def _check_consistent(self) -> None:
        """Every array, index and table must agree on its length: a damaged file is caught at load."""
        n = len(self.sent_doc)
        (rows,) = self.query("SELECT count(*) FROM sentences")[0]
        (docs,) = self.query("SELECT count(*) FROM documents")[0]
        counts = {
            "manifest sentences": self.manifest.get("sentences"),
            "sentences table": rows,
            "FAISS vectors": self.faiss.ntotal,
            "vectors.npy": len(self.vectors),
            "context.npy": len(self.context_vectors),
            "sent_para.npy": len(self.sent_para),
            "sentence_traits": len(self.traits) if self.traits.ndim == 2 and self.traits.shape[1] == TRAIT_COLUMNS else -1,
            "BM25 sentences": self.bm25.size,
        }
        wrong = {k: v for k, v in counts.items() if v != n}
        paragraphs = len(self.paragraph_vectors)
        if self.bm25_paragraphs.size != paragraphs or (n and int(self.sent_para.max()) >= paragraphs):
            wrong["paragraphs"] = f"{paragraphs} vectors, {self.bm25_paragraphs.size} BM25 rows"
        if len(self.document_vectors) != docs or len(self.title_vectors) != docs or docs != self.manifest.get("documents") or (n and int(self.sent_doc.max()) >= docs):
            wrong["documents"] = f"{docs} rows, {len(self.document_vectors)} vectors"
        if wrong:
            raise IndexCorruptError(f"{self.path.name} is inconsistent: {n} sentences, but {wrong}")

    @classmethod
    def load(cls, path: Path, *, model: str, dimension: int, settings: RetrievalSettings) -> CorpusIndex:
        """Load a generation folder, checking it was built with this model and format."""
        return cls(path, check_manifest(path, model=model, dimension=dimension, backend="local"), settings)

    def _verify(self, files: dict, background: bool = False) -> None:
        if background:
            try:  # Linux: a thread is a task with its own nice value; answering comes first
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
            except (AttributeError, OSError):
                pass
        started = time.perf_counter()
        try:
            self.damage = check_checksums(self.path, files, self._stop)
        finally:
            self._verified.set()
        if self.damage:
            log.error("%s: %s", self.path, self.damage)
        else:
            log.debug("%s: %d files checksummed in %.2f s", self.path.name, len(files), time.perf_counter() - started)

    def check(self) -> None:
        """Raise IndexCorruptError if a checksum (possibly still being verified) failed."""
        if self.damage:
            raise IndexCorruptError(f"{self.path.name}: {self.damage}")

    def wait_verified(self) -> None:
        """Wait for the checksums to be verified, then raise IndexCorruptError if one failed."""
        self._verified.wait()
        self.check()

    @property
    def size(self) -> int:
        return len(self.sent_doc)

    def close(self) -> None:
        self._stop.set()
        self.db.close()

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.db_lock:
            try:
                return self.db.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise IndexCorruptError(
                    f"{self.path.name}/docs.sqlite cannot be read ({exc}); rebuild it from its sources with "
                    f"`newsqa index build --corpus {self.manifest.get('corpus', 'default')}`") from exc

    def confidence(self, best: Scored) -> float:
        """How sure we are that the best sentence answers the question, in [0, 1].

        A logistic model (RetrievalSettings.confidence_weights) of what means the same whatever the size
        of the corpus: the best sentence's cosine, its paragraph's cosine, its document title's cosine,
        the share of the question's words in the sentence and in the paragraph, the share of the names
        the question mentions found in the sentence, and whether the question asks for a kind of value
        (a date, an amount ...) the sentence does not hold. Fitted by bench/tune_confidence.py.
        """
        w = self.settings.confidence_weights
        x = (best.dense, best.paragraph_dense, best.title, best.coverage, best.paragraph_coverage,
             best.entity_coverage, best.type_missing, 1.0)
        z = float(np.dot(w, x))
        return float(1.0 / (1.0 + np.exp(-z)))

    def candidates(self, query_vector: np.ndarray, question: str, depth: int) -> Candidates:
        """Dense top-``depth`` ∪ BM25 top-``depth`` sentences with their scoring features."""
        qv = np.ascontiguousarray(query_vector.reshape(-1), dtype=np.float32)
        return candidate_features(question, qv, self.candidate_rows(qv, question, depth))

    def candidate_rows(self, qv: np.ndarray, question: str, depth: int) -> CandidateRows:
        """The candidates of a question and what their features are computed from (FAISS, bm25s, arrays).

        Cost is O(candidates) on top of the FAISS search and the two BM25 score arrays.
        """
        n = self.size
        depth = max(1, min(n, depth))
        _, dense_ids = self.faiss.search(qv.reshape(1, -1), depth)
        dense_ids = dense_ids[0][dense_ids[0] >= 0].astype(np.int64)

        bm25 = self.bm25.scores(question)
        bm25_para = self.bm25_paragraphs.scores(question)
        top_para = float(bm25_para.max()) if bm25_para.size else 0.0
        # Only sentences sharing a word with the question score above 0: select among those, not
        # among all n (argpartition over 1M scores alone took ~10 ms). `!= 0` first: numpy finds the
        # nonzero entries of a bool array 2-9x faster than of a float one (~2.7 ms at 1M sentences).
        matched = np.flatnonzero(bm25 != 0)
        top_bm25 = float(bm25[matched].max()) if matched.size else 0.0
        if matched.size > depth:
            matched = matched[np.argpartition(-bm25[matched], depth - 1)[:depth]]
        lexical = matched[np.argsort(-bm25[matched], kind="stable")].astype(np.int64)
        ids, dense_rank, bm25_rank = merge_lists(dense_ids, lexical, depth)

        paras = self.sent_para[ids]
        docs = self.sent_doc[ids]
        neighbours = []
        for step in (-1, 1):
            other = ids + step
            exists = (other >= 0) & (other < n)
            same = np.zeros(len(ids), dtype=bool)
            same[exists] = self.sent_para[other[exists]] == paras[exists]
            rows = other[exists]
            vectors = np.zeros((len(ids), qv.shape[0]), dtype=np.float32)
            vectors[exists] = np.asarray(self.vectors[rows], dtype=np.float32)
            nb_bm25 = np.zeros(len(ids), dtype=np.float32)
            nb_bm25[exists] = bm25[rows]
            traits = np.zeros((len(ids), self.traits.shape[1]), dtype=np.float32)
            traits[exists] = self.traits[rows]
            neighbours.append(Neighbours(exists=exists, same_paragraph=same, vectors=vectors, bm25=nb_bm25,
                                         traits=traits))
        # The document's best paragraph for the question (BM25 / the question's best): is this the story asked about?
        doc_lex = np.zeros(len(self.document_vectors), dtype=np.float32)
        hit_paras = np.flatnonzero(bm25_para != 0)
        if hit_paras.size and top_para > 0:
            np.maximum.at(doc_lex, self.para_doc[hit_paras], bm25_para[hit_paras] / top_para)
        entities = " ".join(_ENTITY.findall(question))
        return CandidateRows(
            ids=ids, dense_rank=dense_rank, bm25_rank=bm25_rank,
            vectors=np.asarray(self.vectors[ids], dtype=np.float32),
            context=np.asarray(self.context_vectors[ids], dtype=np.float32),
            traits=self.traits[ids], position=self.position[ids],
            bm25=bm25[ids], top_bm25=top_bm25,
            coverage=self.bm25.coverage(question, ids),
            entity_coverage=self.bm25.coverage(entities, ids) if entities else np.zeros(len(ids), dtype=np.float32),
            neighbours=tuple(neighbours),
            paragraph_vectors=self.paragraph_vectors[paras], paragraph_bm25=bm25_para[paras], top_paragraph=top_para,
            paragraph_coverage=self.bm25_paragraphs.coverage(question, paras),
            document_vectors=self.document_vectors[docs], title_vectors=self.title_vectors[docs],
            document_bm25=doc_lex[docs],
        )

    def relevance(self, query_vector: np.ndarray, text: str, sids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Of the sentences ``sids``: cosine with ``query_vector``, and BM25 for ``text`` divided by the
        best BM25 of any sentence of the corpus (0 when no word matches)."""
        sids = np.asarray(sids, dtype=np.int64)
        lexical = self.bm25.scores(text)
        best = float(lexical.max()) if lexical.size else 0.0
        lex = lexical[sids] / best if best > 0 else np.zeros(len(sids), dtype=np.float32)
        return np.asarray(self.vectors[sids], dtype=np.float32) @ query_vector, lex

    def search(self, query_vector: np.ndarray, question: str, k: int) -> list[Scored]:
        """The ``k`` best sentences for a question, best first."""
        if self.size == 0:
            return []
        s = self.settings
        c = self.candidates(query_vector, question, max(s.candidates, k))
        f = c.features
        if s.ranker == "learned":
            score = ranker.score(f, FEATURES, s.ranker_model)
        else:
            score = f[:, :FUSED] @ s.weights()
        score[f[:, FEATURES.index("heading")] > 0] = -np.inf  # headings and the headline are never answers
        order = np.argsort(-score, kind="stable")
        order = order[np.isfinite(score[order])][:k]
        col = {name: f[order, FEATURES.index(name)] for name in (
            "sentence", "paragraph", "title", "bm25_raw", "coverage", "paragraph_coverage", "entity_coverage",
            "type_missing")}
        return [
            Scored(
                sid=int(c.ids[i]),
                score=float(score[i]),
                dense=float(col["sentence"][j]),
                paragraph_dense=float(col["paragraph"][j]),
                bm25=float(col["bm25_raw"][j]),
                coverage=float(col["coverage"][j]),
                paragraph_coverage=float(col["paragraph_coverage"][j]),
                title=float(col["title"][j]),
                entity_coverage=float(col["entity_coverage"][j]),
                type_missing=float(col["type_missing"][j]),
            )
            for j, i in enumerate(order)
        ]
