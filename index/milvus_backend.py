"""Connecting to Milvus (``connect``, ``MilvusConfig``), and the shared-collection layout measured by
bench/bench_milvus.py (``MilvusCandidates``). INDEX_BACKEND=milvus itself is index/milvus_index.py.

``MilvusCandidates`` keeps the sentences of every corpus in one collection, the corpus name being its
partition key: the layout a deployment with thousands of corpora would need (docs/SCALING.md). Each row
is a sentence: its id within its corpus's generation, its vector and its text already analyzed by
``index.lexical`` (stemmed, stopwords dropped, joined by spaces), from which a Milvus BM25 function
derives the sparse vector. Storing the project's own tokens, not the raw sentence, gives the same terms
on milvus-lite (whose analyzer has no stemmer) and on a Milvus server, and the same BM25 ranking as
bm25s (same Lucene IDF, same k1 and b). It returns only the first stage (the dense and the BM25 top
``depth``). pymilvus (and milvus-lite for a file URI) is the optional extra ``newsqa[milvus]``,
imported on first use.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelMismatchError, NewsQAError
from .lexical import B, K1, analyzed_text, analyzed_texts
from .store import check_corpus_name

log = logging.getLogger(__name__)

COLLECTION = "newsqa_sentences"
MAX_TEXT = 65_535  # Milvus VARCHAR limit, in bytes
_INSERT_BATCH = 2_000


class MilvusUnavailableError(NewsQAError):
    """pymilvus (or milvus-lite) is not installed, or the Milvus server cannot be reached."""


@dataclass(frozen=True)
class MilvusConfig:
    """Where Milvus is: a file path ending in .db for milvus-lite, or http://host:19530 for a server."""

    uri: str
    token: str | None = None
    db_name: str | None = None
    collection: str = COLLECTION
    prefix: str = "newsqa"  # of the per-generation collections of INDEX_BACKEND=milvus (index/milvus_index.py)


@dataclass(frozen=True)
class FirstStage:
    """A question's candidate sentence ids (within its corpus), best first."""

    dense: np.ndarray  # int64, by inner product with the question vector
    bm25: np.ndarray  # int64, by BM25 score; only sentences sharing a term with the question


def connect(config: MilvusConfig) -> Any:
    """A pymilvus MilvusClient for ``config`` (milvus-lite starts in this process for a .db path)."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise MilvusUnavailableError(
            f"the Milvus backend needs pymilvus ({exc}); install it with `pip install 'newsqa[milvus]'`"
        ) from exc
    if "://" not in config.uri:  # a milvus-lite file: its folder must exist
        try:
            Path(config.uri).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MilvusUnavailableError(f"cannot create the folder of MILVUS_URI={config.uri} ({exc.strerror or exc})") from exc
    kwargs: dict[str, Any] = {"uri": config.uri}
    if config.token:
        kwargs["token"] = config.token
    if config.db_name:
        kwargs["db_name"] = config.db_name
    try:
        return MilvusClient(**kwargs)
    except Exception as exc:  # pymilvus raises MilvusException, or a bare error when milvus-lite is missing
        raise MilvusUnavailableError(
            f"cannot open Milvus at {config.uri!r} ({exc}); for a local file install milvus-lite "
            f"(`pip install 'newsqa[milvus]'`), for a server check MILVUS_URI and that it is running"
        ) from exc


def _both_forms(params: dict[str, Any]) -> dict[str, Any]:
    """Index parameters as separate keys (how pymilvus 3 sends them) and as one JSON "params" key too:
    milvus-lite 3.2 reads only the latter and silently builds with its defaults (k1 1.5, b 0.75)
    otherwise, which cut the BM25 top-48 overlap with bm25s to 0.83 (bench/bench_milvus.py)."""
    return {**params, "params": dict(params)}


def _corpus_filter(corpus: str) -> str:
    return f"corpus == {json.dumps(check_corpus_name(corpus))}"


class MilvusCandidates:
    """Dense and BM25 candidate sentences of the corpora stored in one Milvus collection."""

    def __init__(self, client: Any, collection: str = COLLECTION) -> None:
        self.client = client
        self.collection = collection

    @classmethod
    def create(cls, client: Any, dimension: int, *, collection: str = COLLECTION, k1: float = K1, b: float = B,
               hnsw_m: int = 32, hnsw_ef_construction: int = 80) -> MilvusCandidates:
        """Open the collection, creating it (schema, indexes) if it does not exist yet."""
        from pymilvus import DataType, Function, FunctionType

        if not client.has_collection(collection):
            schema = client.create_schema(auto_id=False)
            schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=128)  # "<corpus>/<sid>"
            schema.add_field("corpus", DataType.VARCHAR, max_length=64, is_partition_key=True)
            schema.add_field("sid", DataType.INT64)
            schema.add_field("terms", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True,
                             analyzer_params={"tokenizer": "standard"})
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                         input_field_names=["terms"], output_field_names=["sparse"]))
            index = client.prepare_index_params()
            index.add_index(field_name="vector", index_type="HNSW", metric_type="IP",
                            params=_both_forms({"M": hnsw_m, "efConstruction": hnsw_ef_construction}))
            index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                            params=_both_forms({"bm25_k1": k1, "bm25_b": b}))
            # Strong: a search sees every insert acknowledged before it (Bounded could miss a fresh add).
            client.create_collection(collection, schema=schema, index_params=index, consistency_level="Strong")
            log.info("created Milvus collection %s (%d dims)", collection, dimension)
        else:
            fields = {f["name"]: f.get("params") or {} for f in client.describe_collection(collection)["fields"]}
            stored = int(fields.get("vector", {}).get("dim", -1))
            if stored != dimension:
                raise ModelMismatchError(
                    f"Milvus collection {collection!r} holds {stored}-dimension vectors but the model gives "
                    f"{dimension}; use another collection or drop this one and rebuild"
                )
        client.load_collection(collection)
        return cls(client, collection)

    def write(self, corpus: str, texts: Sequence[str], vectors: np.ndarray, *, first: int = 0) -> int:
        """Store sentences of a corpus (ids first, first+1, ...) with their vectors; returns the rows written.

        Not atomic: rows become visible batch by batch, and rows of an earlier write with higher ids
        stay. Remove the corpus first. (The backend, index/milvus_index.py, writes each generation into
        collections of its own and switches with the generation folder instead.)
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(texts) != len(vectors):
            raise ValueError(f"{len(texts)} texts but {len(vectors)} vectors")
        check_corpus_name(corpus)
        written = 0
        for start in range(0, len(texts), _INSERT_BATCH):
            stop = min(start + _INSERT_BATCH, len(texts))
            terms = analyzed_texts(texts[start:stop])
            rows = [
                {"pk": f"{corpus}/{first + i}", "corpus": corpus, "sid": first + i, "terms": _fit(terms[i - start]),
                 "vector": vectors[i].tolist()}
                for i in range(start, stop)
            ]
            written += int(self.client.insert(self.collection, rows)["insert_count"])
        return written

    def remove(self, corpus: str) -> None:
        """Delete every sentence of a corpus."""
        self.client.delete(self.collection, filter=_corpus_filter(corpus))

    def count(self, corpus: str) -> int:
        """How many sentences of a corpus are stored."""
        rows = self.client.query(self.collection, filter=_corpus_filter(corpus), output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def candidates(self, corpus: str, query_vector: np.ndarray, question: str, depth: int,
                   *, ef_search: int = 96) -> FirstStage:
        """The dense top-``depth`` and the BM25 top-``depth`` sentences of ``corpus`` for a question."""
        where = _corpus_filter(corpus)
        vector = np.asarray(query_vector, dtype=np.float32).reshape(-1).tolist()
        dense = self.client.search(
            self.collection, data=[vector], anns_field="vector", limit=depth, filter=where,
            output_fields=["sid"], search_params={"metric_type": "IP", "params": {"ef": max(ef_search, depth)}},
        )[0]
        terms = analyzed_text(question)
        lexical = []
        if terms:
            lexical = self.client.search(
                self.collection, data=[terms], anns_field="sparse", limit=depth, filter=where,
                output_fields=["sid"], search_params={"metric_type": "BM25"},
            )[0]
        return FirstStage(dense=_sids(dense), bm25=_sids(lexical))


def _fit(terms: str) -> str:
    """Terms cut at a space to fit a VARCHAR field (a sentence this long is a segmentation failure)."""
    data = terms.encode()
    if len(data) <= MAX_TEXT:
        return terms
    return data[:MAX_TEXT].decode(errors="ignore").rsplit(" ", 1)[0]


def _sids(hits: list) -> np.ndarray:
    return np.array([int(h["entity"]["sid"]) for h in hits], dtype=np.int64)
