"""A loaded generation of one corpus and the retrieval over it: dense + BM25, fused with context."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from .errors import IndexCorruptError, ModelMismatchError
from .lexical import LexicalIndex
from .store import FORMAT_VERSION, open_tables

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrievalSettings:
    """How candidates are gathered and scored. Defaults were tuned on SQuAD (see bench/eval_squad.py)."""

    candidates: int = 64  # taken from each of the dense and BM25 rankings
    w_sentence: float = 1.0  # cosine(question, sentence)
    w_paragraph: float = 0.5  # cosine(question, mean of the paragraph's sentence vectors)
    w_document: float = 0.2  # cosine(question, mean of the document's sentence vectors)
    w_bm25: float = 0.3  # BM25 of the sentence, divided by the best BM25 score of the question
    w_bm25_paragraph: float = 0.2  # BM25 of the paragraph, likewise
    threshold: float = 0.35  # confidence below which a question is declined
    approximate_above: int = 200_000  # sentences; above this an HNSW index replaces exact search
    hnsw_m: int = 32
    hnsw_ef_search: int = 96


@dataclass(frozen=True)
class Scored:
    """A candidate sentence (by global id) with its fused score and the parts it came from."""

    sid: int
    score: float
    dense: float
    paragraph_dense: float
    bm25: float


def make_faiss_index(vectors: np.ndarray, settings: RetrievalSettings) -> faiss.Index:
    """Exact inner-product search, or HNSW above ``settings.approximate_above`` vectors."""
    dim = vectors.shape[1]
    if len(vectors) > settings.approximate_above:
        index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
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
    sums = np.zeros((count, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, groups, vectors)
    return normalize_rows(sums)


class CorpusIndex:
    """An immutable, loaded generation. Safe to search from several threads at once."""

    def __init__(self, path: Path, manifest: dict, settings: RetrievalSettings) -> None:
        self.path = path
        self.manifest = manifest
        self.settings = settings
        self.db = open_tables(path / "docs.sqlite")
        self.db_lock = threading.Lock()
        try:
            self.faiss = faiss.read_index(str(path / "sentences.faiss"))
            self.vectors = np.load(path / "vectors.npy", mmap_mode="r")
            self.paragraph_vectors = np.load(path / "paragraphs.npy")
            self.document_vectors = np.load(path / "documents.npy")
            self.sent_doc = np.load(path / "sent_doc.npy")
            self.sent_para = np.load(path / "sent_para.npy")
            self.bm25 = LexicalIndex.load(path / "bm25-sentences")
            self.bm25_paragraphs = LexicalIndex.load(path / "bm25-paragraphs")
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise IndexCorruptError(f"{path.name} of this corpus cannot be read ({exc})") from exc
        n = len(self.sent_doc)
        if self.faiss.ntotal != n or len(self.vectors) != n or self.bm25.size != n:
            raise IndexCorruptError(f"{path} is inconsistent: {n} sentences, {self.faiss.ntotal} vectors")
        if isinstance(self.faiss, faiss.IndexHNSWFlat):
            self.faiss.hnsw.efSearch = settings.hnsw_ef_search

    @classmethod
    def load(cls, path: Path, *, model: str, dimension: int, settings: RetrievalSettings) -> CorpusIndex:
        """Load a generation folder, checking it was built with this model and format."""
        try:
            manifest = json.loads((path / "manifest.json").read_text())
        except FileNotFoundError:
            raise IndexCorruptError(f"{path}/manifest.json is missing") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IndexCorruptError(f"{path}/manifest.json is not valid JSON ({exc})") from exc
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ModelMismatchError(
                f"index format {manifest.get('format_version')} found, this version reads format {FORMAT_VERSION}"
            )
        if manifest.get("model") != model or manifest.get("dimension") != dimension:
            raise ModelMismatchError(
                f"index built with model {manifest.get('model')!r} ({manifest.get('dimension')} dims), "
                f"but the configured model is {model!r} ({dimension} dims)"
            )
        return cls(path, manifest, settings)

    @property
    def size(self) -> int:
        return len(self.sent_doc)

    def close(self) -> None:
        self.db.close()

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.db_lock:
            return self.db.execute(sql, params).fetchall()

    def confidence(self, best: Scored) -> float:
        """How sure we are that the best sentence answers the question, in [0, 1]."""
        raw = 0.6 * best.dense + 0.4 * best.paragraph_dense
        return float(min(1.0, max(0.0, raw)))

    def search(self, query_vector: np.ndarray, question: str, k: int) -> list[Scored]:
        """The ``k`` best sentences for a question, best first."""
        n = self.size
        if n == 0:
            return []
        s = self.settings
        q = np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32)
        depth = min(n, max(s.candidates, k))
        _, dense_ids = self.faiss.search(q, depth)
        candidates = {int(i) for i in dense_ids[0] if i >= 0}

        bm25 = self.bm25.scores(question)
        bm25_para = self.bm25_paragraphs.scores(question)
        top_bm25 = float(bm25.max()) if bm25.size else 0.0
        top_para = float(bm25_para.max()) if bm25_para.size else 0.0
        if top_bm25 > 0:
            lexical = np.argpartition(-bm25, min(depth, n) - 1)[:depth]
            candidates.update(int(i) for i in lexical if bm25[i] > 0)

        ids = np.fromiter(candidates, dtype=np.int64)
        vecs = np.asarray(self.vectors[ids], dtype=np.float32)
        qv = q[0]
        dense = vecs @ qv
        paras = self.sent_para[ids]
        para_dense = self.paragraph_vectors[paras] @ qv
        doc_dense = self.document_vectors[self.sent_doc[ids]] @ qv
        lex = bm25[ids] / top_bm25 if top_bm25 > 0 else np.zeros(len(ids), dtype=np.float32)
        lex_para = bm25_para[paras] / top_para if top_para > 0 else np.zeros(len(ids), dtype=np.float32)
        score = (
            s.w_sentence * dense
            + s.w_paragraph * para_dense
            + s.w_document * doc_dense
            + s.w_bm25 * lex
            + s.w_bm25_paragraph * lex_para
        )
        order = np.argsort(-score, kind="stable")[:k]
        return [
            Scored(
                sid=int(ids[i]),
                score=float(score[i]),
                dense=float(dense[i]),
                paragraph_dense=float(para_dense[i]),
                bm25=float(bm25[ids[i]]),
            )
            for i in order
        ]
