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
    w_neighbour: float = 0.0  # best cosine of the previous / next sentence of the same paragraph
    w_bm25_neighbour: float = 0.0  # best BM25 / max of the previous / next sentence
    threshold: float = 0.35  # confidence below which a question is declined
    approximate_above: int = 200_000  # sentences; above this an HNSW index replaces exact search
    hnsw_m: int = 32
    hnsw_ef_search: int = 96

    def weights(self) -> np.ndarray:
        """Weights aligned with the first columns of ``Candidates.features`` (see FEATURES)."""
        return np.array(
            [self.w_sentence, self.w_paragraph, self.w_document, self.w_bm25, self.w_bm25_paragraph,
             self.w_neighbour, self.w_bm25_neighbour],
            dtype=np.float32,
        )


# Columns of Candidates.features; the first seven are fused linearly with RetrievalSettings.weights().
FEATURES = (
    "dense", "paragraph_dense", "document_dense", "bm25", "bm25_paragraph", "neighbour_dense",
    "bm25_neighbour", "bm25_raw", "bm25_paragraph_raw",
)


@dataclass(frozen=True)
class Candidates:
    """The candidate sentences of one question and their features (one row each, columns FEATURES)."""

    ids: np.ndarray  # global sentence ids, ascending
    features: np.ndarray  # float32 (len(ids), len(FEATURES))
    dense_rank: np.ndarray  # rank in the dense list, or the depth when not in it
    bm25_rank: np.ndarray  # rank in the BM25 list, or the depth when not in it


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

    def candidates(self, query_vector: np.ndarray, question: str, depth: int) -> Candidates:
        """Dense top-``depth`` ∪ BM25 top-``depth`` sentences with their scoring features.

        Cost is O(candidates) on top of the FAISS search and the two BM25 score arrays.
        """
        n = self.size
        q = np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32)
        qv = q[0]
        depth = max(1, min(n, depth))
        _, dense_ids = self.faiss.search(q, depth)
        dense_ids = dense_ids[0][dense_ids[0] >= 0].astype(np.int64)

        bm25 = self.bm25.scores(question)
        bm25_para = self.bm25_paragraphs.scores(question)
        top_bm25 = float(bm25.max()) if bm25.size else 0.0
        top_para = float(bm25_para.max()) if bm25_para.size else 0.0
        if top_bm25 > 0:
            lexical = np.argpartition(-bm25, depth - 1)[:depth]
            lexical = lexical[bm25[lexical] > 0]
            lexical = lexical[np.argsort(-bm25[lexical], kind="stable")].astype(np.int64)
        else:
            lexical = np.zeros(0, dtype=np.int64)
        ids = np.unique(np.concatenate([dense_ids, lexical]))
        dense_rank = np.full(len(ids), depth, dtype=np.int32)
        dense_rank[np.searchsorted(ids, dense_ids)] = np.arange(len(dense_ids))
        bm25_rank = np.full(len(ids), depth, dtype=np.int32)
        bm25_rank[np.searchsorted(ids, lexical)] = np.arange(len(lexical))

        vecs = np.asarray(self.vectors[ids], dtype=np.float32)
        dense = vecs @ qv
        paras = self.sent_para[ids]
        para_dense = self.paragraph_vectors[paras] @ qv
        doc_dense = self.document_vectors[self.sent_doc[ids]] @ qv
        lex = bm25[ids] / top_bm25 if top_bm25 > 0 else np.zeros(len(ids), dtype=np.float32)
        lex_para = bm25_para[paras] / top_para if top_para > 0 else np.zeros(len(ids), dtype=np.float32)
        # Neighbours: the sentences just before and after, when they are in the same paragraph.
        neighbour_dense = np.zeros(len(ids), dtype=np.float32)
        neighbour_lex = np.zeros(len(ids), dtype=np.float32)
        for step in (-1, 1):
            other = ids + step
            ok = (other >= 0) & (other < n)
            ok[ok] &= self.sent_para[other[ok]] == paras[ok]
            if ok.any():
                nd = np.asarray(self.vectors[other[ok]], dtype=np.float32) @ qv
                neighbour_dense[ok] = np.maximum(neighbour_dense[ok], nd)
                if top_bm25 > 0:
                    neighbour_lex[ok] = np.maximum(neighbour_lex[ok], bm25[other[ok]] / top_bm25)
        features = np.stack(
            [dense, para_dense, doc_dense, lex, lex_para, neighbour_dense, neighbour_lex,
             bm25[ids], bm25_para[paras]],
            axis=1,
        ).astype(np.float32)
        return Candidates(ids=ids, features=features, dense_rank=dense_rank, bm25_rank=bm25_rank)

    def search(self, query_vector: np.ndarray, question: str, k: int) -> list[Scored]:
        """The ``k`` best sentences for a question, best first."""
        if self.size == 0:
            return []
        s = self.settings
        c = self.candidates(query_vector, question, max(s.candidates, k))
        f = c.features
        score = f[:, :7] @ s.weights()
        order = np.argsort(-score, kind="stable")[:k]
        return [
            Scored(
                sid=int(c.ids[i]),
                score=float(score[i]),
                dense=float(f[i, 0]),
                paragraph_dense=float(f[i, 1]),
                bm25=float(f[i, 7]),
            )
            for i in order
        ]
