"""INDEX_BACKEND=milvus: a generation's sentences, paragraphs and documents in Milvus collections.

What lives where:
- The generation folder under INDEX_DIR keeps what the engine cites from and lists figures from
  (docs.sqlite: documents, sentences, paragraphs, figures), the manifest, ``milvus.json`` (the names of
  the generation's collections) and ``terms.json`` (BM25 statistics of its sentences and paragraphs).
- Milvus holds three collections per generation: sentences (vector, context vector, traits, paragraph,
  document, position, analyzed terms with a BM25 function), paragraphs (mean vector, document, terms
  with BM25) and documents (mean vector, title vector). Milvus answers the dense and BM25 searches and
  returns the rows of the candidates; ``search.candidate_features`` scores them with the same code as the
  local backend. BM25 features are recomputed from ``terms.json`` (corpus-level statistics), because
  Milvus's own BM25 statistics are per segment on milvus-lite (docs/SCALING.md), and its scores must not
  change with how Milvus happened to seal segments.

Write guarantees. A generation's collections get fresh names (corpus, generation number, random
suffix), are written and counted while nobody reads them, and only become the answer when the engine
names the generation in the corpus's CURRENT file (store.CorpusDir.publish), the same single switch as
for a local generation. So a reindex killed half way leaves the previous generation answering; its
half-written collections are named in its unpublished folder's ``milvus.json`` (written before they are
created) and dropped by the next write's garbage collection; an add is a new generation, never rows
inserted into the live one. Two writers are serialized by the corpus's writer lock (flock on
INDEX_DIR/corpora/NAME/lock): Milvus has no lock or transaction to do it, so every writer of a corpus
must share INDEX_DIR (one host, or a file system with working flock).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .backend import GenerationData
from .errors import IndexCorruptError, IndexWriteError, NewsQAError
from .lexical import TermStats, analyzed_text, analyzed_texts
from .milvus_backend import MilvusConfig, _both_forms, _fit, connect
from .search import (
    _ENTITY,
    CandidateRows,
    CorpusIndex,
    Neighbours,
    RetrievalSettings,
    check_manifest,
    merge_lists,
)
from .store import atomic_write

log = logging.getLogger(__name__)

KINDS = ("sentences", "paragraphs", "documents")
_BATCH = 1_000


def collection_names(prefix: str, corpus: str, generation: int) -> dict[str, str]:
    """Fresh collection names for a generation: Milvus allows letters, digits and '_' only, so other
    characters of the corpus name are written as _xx (their code in hex), and '_' itself as _5f."""
    safe = "".join(c if c.isascii() and c.isalnum() else f"_{ord(c):02x}" for c in corpus)
    base = f"{prefix}_{safe}_g{generation:06d}_{secrets.token_hex(3)}"
    return {kind: f"{base}_{kind[0]}" for kind in KINDS}


class MilvusBackend:
    """Writes generations into Milvus collections and loads them as MilvusCorpusIndex."""

    name = "milvus"
    outside_files = ("milvus.json",)

    def __init__(self, config: MilvusConfig, client: Any | None = None) -> None:
        self.config = config
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The Milvus client, connected on first use (importing pymilvus only then)."""
        with self._lock:
            if self._client is None:
                self._client = connect(self.config)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ------------------------------------------------------------------ writing

    def write(self, folder: Path, data: GenerationData, settings: RetrievalSettings, *,
              previous: Path | None = None) -> dict:
        """(``previous`` is ignored: every generation gets collections of its own.)"""
        from .engine import _step  # the crash tests' step hook

        names = collection_names(self.config.prefix, data.corpus, data.generation)
        # Named before they exist: if this write dies, garbage collection finds and drops them.
        atomic_write(folder / "milvus.json", json.dumps({"collections": names}, indent=2))
        sentence_terms = analyzed_texts(data.texts)
        paragraph_terms = analyzed_texts(data.paragraph_texts)
        stats = {"sentences": TermStats.build(sentence_terms).to_json(),
                 "paragraphs": TermStats.build(paragraph_terms).to_json()}
        atomic_write(folder / "terms.json", json.dumps(stats, ensure_ascii=False))
        dim = data.vectors.shape[1]
        _step("arrays")
        try:
            self._create(names, dim, data.traits.shape[1], settings)
            n = len(data.texts)
            starts = np.flatnonzero(np.r_[True, data.sent_doc[1:] != data.sent_doc[:-1]]) if n else np.zeros(0, np.int64)
            position = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n])) if n else np.zeros(0, np.int64)
            _step("faiss")
            self._insert(names["sentences"], [
                {"sid": i, "para": int(data.sent_para[i]), "doc": int(data.sent_doc[i]), "position": int(position[i]),
                 "traits": data.traits[i].tolist(), "terms": _fit(sentence_terms[i]),
                 "vector": data.vectors[i].tolist(), "context": data.context[i].tolist()}
                for i in range(n)])
            para_doc = data.paragraph_doc
            first_para = np.searchsorted(para_doc, np.arange(len(data.document_vectors)))
            counts = np.bincount(para_doc, minlength=len(data.document_vectors))
            _step("bm25")
            self._insert(names["paragraphs"], [
                {"pid": i, "doc": int(para_doc[i]), "terms": _fit(paragraph_terms[i]),
                 "vector": data.paragraph_vectors[i].tolist()}
                for i in range(len(data.paragraph_texts))])
            self._insert(names["documents"], [
                {"did": i, "first_para": int(first_para[i]), "paragraphs": int(counts[i]),
                 "vector": data.document_vectors[i].tolist(), "title": data.title_vectors[i].tolist()}
                for i in range(len(data.document_vectors))])
            expected = {"sentences": n, "paragraphs": len(data.paragraph_texts), "documents": len(data.document_vectors)}
            for kind, name in names.items():
                self.client.flush(name)
                got = _count(self.client, name)
                if got != expected[kind]:
                    raise IndexWriteError(f"Milvus collection {name} holds {got} rows after the write, expected "
                                          f"{expected[kind]}; the corpus is unchanged, try again")
        except NewsQAError:
            raise
        except Exception as exc:  # pymilvus raises MilvusException and gRPC errors
            raise IndexWriteError(f"writing corpus {data.corpus!r} to Milvus at {self.config.uri} failed "
                                  f"({type(exc).__name__}: {exc}); the corpus is unchanged") from exc
        return {"index_type": "Milvus HNSW + BM25", "milvus": {"uri": self.config.uri, "collections": names}}

    def _create(self, names: dict[str, str], dim: int, traits: int, settings: RetrievalSettings) -> None:
        from pymilvus import DataType, Function, FunctionType

        client = self.client
        for name in names.values():
            if client.has_collection(name):  # left by a write killed before it could record it (very unlikely)
                client.drop_collection(name)

        def bm25(schema: Any) -> None:
            schema.add_field("terms", DataType.VARCHAR, max_length=65_535, enable_analyzer=True,
                             analyzer_params={"tokenizer": "standard"})
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                         input_field_names=["terms"], output_field_names=["sparse"]))

        def flat(index: Any, field: str) -> None:  # fetched by id, never searched: no graph to build
            index.add_index(field_name=field, index_type="FLAT", metric_type="IP", params={})

        def sparse(index: Any) -> None:
            from .lexical import B, K1

            index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                            params=_both_forms({"bm25_k1": K1, "bm25_b": B}))

        s = client.create_schema(auto_id=False)
        s.add_field("sid", DataType.INT64, is_primary=True)
        s.add_field("para", DataType.INT64)
        s.add_field("doc", DataType.INT64)
        s.add_field("position", DataType.INT64)
        s.add_field("traits", DataType.ARRAY, element_type=DataType.FLOAT, max_capacity=max(traits, 1))
        bm25(s)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        s.add_field("context", DataType.FLOAT_VECTOR, dim=dim)
        index = client.prepare_index_params()
        index.add_index(field_name="vector", index_type="HNSW", metric_type="IP",
                        params=_both_forms({"M": settings.hnsw_m, "efConstruction": 80}))
        flat(index, "context")
        sparse(index)
        _create_collection(client, names["sentences"], s, index)

        p = client.create_schema(auto_id=False)
        p.add_field("pid", DataType.INT64, is_primary=True)
        p.add_field("doc", DataType.INT64)
        bm25(p)
        p.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = client.prepare_index_params()
        flat(index, "vector")
        sparse(index)
        _create_collection(client, names["paragraphs"], p, index)

        d = client.create_schema(auto_id=False)
        d.add_field("did", DataType.INT64, is_primary=True)
        d.add_field("first_para", DataType.INT64)  # its paragraphs are first_para .. first_para + paragraphs - 1
        d.add_field("paragraphs", DataType.INT64)
        d.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        d.add_field("title", DataType.FLOAT_VECTOR, dim=dim)
        index = client.prepare_index_params()
        flat(index, "vector")
        flat(index, "title")
        _create_collection(client, names["documents"], d, index)

    def _insert(self, name: str, rows: list[dict]) -> None:
        for start in range(0, len(rows), _BATCH):
            self.client.insert(name, rows[start:start + _BATCH])

    # ------------------------------------------------------------------ reading

    def load(self, path: Path, *, model: str, dimension: int, settings: RetrievalSettings) -> CorpusIndex:
        manifest = check_manifest(path, model=model, dimension=dimension, backend=self.name)
        return MilvusCorpusIndex(path, manifest, settings, self.client)

    def discard(self, folder: Path) -> None:
        """Drop the collections of a generation folder about to be deleted."""
        try:
            names = json.loads((folder / "milvus.json").read_text(encoding="utf-8"))["collections"]
        except FileNotFoundError:
            return  # died before naming any collection
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("%s/milvus.json is unreadable (%s): its Milvus collections, if any, stay", folder, exc)
            return
        try:
            for name in names.values():
                if self.client.has_collection(name):
                    self.client.drop_collection(name)
                    log.info("dropped Milvus collection %s (%s)", name, folder.name)
        except NewsQAError:
            raise
        except Exception as exc:
            raise IndexWriteError(f"could not drop the Milvus collections of {folder.name} ({exc})") from exc


def _create_collection(client: Any, name: str, schema: Any, index: Any) -> None:
    """Create a collection, its indexes and load it. Consistency Strong: a search sees every row
    acknowledged before it. The indexes are created without waiting: pymilvus waits with a call
    milvus-lite lacks (0.5 s per vector field, 3 s of a 4 s seed build); on an empty collection there is
    nothing to wait for, and rows inserted later are indexed as Milvus seals their segments."""
    client.create_collection(name, schema=schema, consistency_level="Strong")
    client.create_index(name, index, sync=False)
    client.load_collection(name)


def _count(client: Any, name: str) -> int:
    rows = client.query(name, filter="", output_fields=["count(*)"])
    return int(rows[0]["count(*)"]) if rows else 0


class MilvusCorpusIndex(CorpusIndex):
    """A loaded generation whose sentences are searched and fetched from Milvus (see the module doc)."""

    def __init__(self, path: Path, manifest: dict, settings: RetrievalSettings, client: Any) -> None:
        self.client = client
        super().__init__(path, manifest, settings)

    def _open(self) -> None:
        path = self.path
        try:
            self.names = json.loads((path / "milvus.json").read_text(encoding="utf-8"))["collections"]
            stats = json.loads((path / "terms.json").read_text(encoding="utf-8"))
            self.sentence_terms = TermStats.from_json(stats["sentences"])
            self.paragraph_terms = TermStats.from_json(stats["paragraphs"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"{path.name} of this corpus cannot be read ({exc})") from exc
        self._sentences = int(self.manifest["sentences"])
        expected = {"sentences": self._sentences, "paragraphs": self.paragraph_terms.count,
                    "documents": int(self.manifest["documents"])}
        for kind, name in self.names.items():
            try:
                self.client.load_collection(name)  # a reopened collection is "released" until loaded
                got = _count(self.client, name)
            except Exception as exc:
                raise IndexCorruptError(
                    f"{path.name}: its Milvus collection {name} cannot be loaded ({type(exc).__name__}: {exc})") from exc
            if got != expected[kind]:
                raise IndexCorruptError(f"{path.name}: Milvus collection {name} holds {got} rows, expected "
                                        f"{expected[kind]}")

    @property
    def size(self) -> int:
        return self._sentences

    def _search(self, kind: str, data: Any, field: str, depth: int, params: dict, output: list[str]) -> list[dict]:
        try:
            return self.client.search(self.names[kind], data=[data], anns_field=field, limit=depth,
                                      output_fields=output, search_params=params)[0]
        except Exception as exc:
            raise _unavailable(self, exc) from exc

    def _rows(self, kind: str, key: str, values: np.ndarray, output: list[str]) -> dict[int, dict]:
        """Rows of a collection by primary key ``key`` (a get: a filter query scans the collection on
        milvus-lite, 2-3x slower at 10k rows)."""
        if not len(values):
            return {}
        try:
            found = self.client.get(self.names[kind], ids=[int(v) for v in np.unique(values)],
                                    output_fields=[key, *output])
        except Exception as exc:
            raise _unavailable(self, exc) from exc
        return {int(r[key]): r for r in found}

    def _lexical(self, question: str, depth: int) -> tuple[np.ndarray, float]:
        """The BM25 top-``depth`` sentences by Milvus, ordered by their exact scores; the best score."""
        terms = analyzed_text(question)
        if not terms:
            return np.zeros(0, np.int64), 0.0
        hits = self._search("sentences", terms, "sparse", depth, {"metric_type": "BM25"}, ["terms"])
        sids = np.array([int(h["sid"]) for h in hits], dtype=np.int64)
        scores = self.sentence_terms.scores(question, [h["entity"]["terms"] for h in hits])
        keep = scores > 0
        sids, scores = sids[keep], scores[keep]
        order = np.lexsort((sids, -scores))  # best first; equal scores by id
        return sids[order], float(scores.max()) if len(scores) else 0.0

    def candidate_rows(self, qv: np.ndarray, question: str, depth: int) -> CandidateRows:
        """The candidates of a question and what their features need, from 3 searches and 5 gets."""
        n = self.size
        depth = max(1, min(n, depth))
        dense = self._search("sentences", qv.tolist(), "vector", depth,
                             {"metric_type": "IP", "params": {"ef": max(self.settings.hnsw_ef_search, depth)}},
                             ["position"])  # a small field: without one, milvus-lite returns every field
        dense_ids = np.array([int(h["sid"]) for h in dense], dtype=np.int64)
        lexical, top_bm25 = self._lexical(question, depth)
        ids = np.unique(np.concatenate([dense_ids, lexical]))
        around = np.setdiff1d(np.concatenate([ids - 1, ids + 1]), ids)
        around = around[(around >= 0) & (around < n)]
        rows = self._rows("sentences", "sid", ids, ["para", "doc", "position", "traits", "terms", "vector", "context"])
        rows.update(self._rows("sentences", "sid", around, ["para", "traits", "terms", "vector"]))  # neighbours
        missing = set(ids.tolist()) - set(rows)
        if missing:
            raise IndexCorruptError(f"{self.path.name}: sentences {sorted(missing)[:5]} are missing from Milvus "
                                    f"collection {self.names['sentences']}; rebuild it with "
                                    f"`newsqa index build --corpus {self.manifest.get('corpus', 'default')}`")
        # Milvus's dense order, made exact: by the cosine of the fetched vectors, equal ones by id (as FAISS).
        exact = np.array([rows[i]["vector"] for i in dense_ids.tolist()], dtype=np.float32).reshape(len(dense_ids), -1) @ qv
        dense_ids = dense_ids[np.lexsort((dense_ids, -exact))]
        ids, dense_rank, bm25_rank = merge_lists(dense_ids, lexical, depth)
        mine = [rows[i] for i in ids.tolist()]
        scores = dict(zip(rows, self.sentence_terms.scores(question, [r["terms"] for r in rows.values()])))
        paras = np.array([r["para"] for r in mine], dtype=np.int64)
        docs = np.array([r["doc"] for r in mine], dtype=np.int64)
        traits = np.array([r["traits"] for r in mine], dtype=np.float32).reshape(len(ids), -1)
        dim = qv.shape[0]
        neighbours = []
        for step in (-1, 1):
            exists = np.array([(i + step) in rows for i in ids.tolist()], dtype=bool)
            others = [rows.get(i + step) for i in ids.tolist()]
            neighbours.append(Neighbours(
                exists=exists,
                same_paragraph=np.array([o is not None and o["para"] == p for o, p in zip(others, paras)], dtype=bool),
                vectors=np.array([o["vector"] if o is not None else np.zeros(dim) for o in others],
                                 dtype=np.float32).reshape(len(ids), dim),
                bm25=np.array([scores[i + step] if o is not None else 0.0 for i, o in zip(ids.tolist(), others)],
                              dtype=np.float32),
                traits=np.array([o["traits"] if o is not None else np.zeros(traits.shape[1]) for o in others],
                                dtype=np.float32).reshape(traits.shape),
            ))

        # Paragraphs: the candidates' (vectors, scores) and every paragraph of their documents (for the
        # document's best paragraph); the corpus's best paragraph from Milvus's BM25 search.
        doc_rows = self._rows("documents", "did", docs, ["first_para", "paragraphs", "vector", "title"])
        pids = [p for r in doc_rows.values() for p in range(int(r["first_para"]), int(r["first_para"]) + int(r["paragraphs"]))]
        in_docs = self._rows("paragraphs", "pid", np.array(pids, dtype=np.int64), ["doc", "terms"])
        para_scores = dict(zip(in_docs, self.paragraph_terms.scores(question, [r["terms"] for r in in_docs.values()])))
        top_para = max(para_scores.values(), default=0.0)
        terms = analyzed_text(question)
        if terms:
            best = self._search("paragraphs", terms, "sparse", depth, {"metric_type": "BM25"}, ["terms"])
            found = self.paragraph_terms.scores(question, [h["entity"]["terms"] for h in best])
            top_para = max(top_para, float(found.max()) if len(found) else 0.0)
        top_para = float(top_para)
        para_vectors = self._rows("paragraphs", "pid", paras, ["vector"])
        doc_best: dict[int, float] = {}
        if top_para > 0:
            for pid, r in in_docs.items():
                doc_best[int(r["doc"])] = max(doc_best.get(int(r["doc"]), 0.0), para_scores[pid] / top_para)
        entities = " ".join(_ENTITY.findall(question))
        sentence_terms = [r["terms"] for r in mine]
        return CandidateRows(
            ids=ids, dense_rank=dense_rank, bm25_rank=bm25_rank,
            vectors=np.array([r["vector"] for r in mine], dtype=np.float32).reshape(len(ids), dim),
            context=np.array([r["context"] for r in mine], dtype=np.float32).reshape(len(ids), dim),
            traits=traits, position=np.array([r["position"] for r in mine], dtype=np.float32),
            bm25=np.array([scores[i] for i in ids.tolist()], dtype=np.float32), top_bm25=top_bm25,
            coverage=TermStats.coverage(question, sentence_terms),
            entity_coverage=TermStats.coverage(entities, sentence_terms) if entities
            else np.zeros(len(ids), dtype=np.float32),
            neighbours=(neighbours[0], neighbours[1]),
            paragraph_vectors=np.array([para_vectors[p]["vector"] for p in paras.tolist()],
                                       dtype=np.float32).reshape(len(ids), dim),
            paragraph_bm25=np.array([para_scores.get(p, 0.0) for p in paras.tolist()], dtype=np.float32),
            top_paragraph=top_para,
            paragraph_coverage=TermStats.coverage(question, [in_docs[p]["terms"] for p in paras.tolist()]),
            document_vectors=np.array([doc_rows[d]["vector"] for d in docs.tolist()],
                                      dtype=np.float32).reshape(len(ids), dim),
            title_vectors=np.array([doc_rows[d]["title"] for d in docs.tolist()], dtype=np.float32).reshape(len(ids), dim),
            document_bm25=np.array([doc_best.get(d, 0.0) for d in docs.tolist()], dtype=np.float32),
        )

    def relevance(self, query_vector: np.ndarray, text: str, sids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sids = np.asarray(sids, dtype=np.int64)
        rows = self._rows("sentences", "sid", sids, ["terms", "vector"])
        vectors = np.array([rows[i]["vector"] for i in sids.tolist()], dtype=np.float32).reshape(len(sids), -1)
        _, best = self._lexical(text, self.settings.candidates)
        scores = self.sentence_terms.scores(text, [rows[i]["terms"] for i in sids.tolist()])
        lex = scores / best if best > 0 else np.zeros(len(sids), dtype=np.float32)
        return vectors @ np.asarray(query_vector, dtype=np.float32), lex


def _unavailable(idx: MilvusCorpusIndex, exc: BaseException) -> NewsQAError:
    from .milvus_backend import MilvusUnavailableError

    return MilvusUnavailableError(f"{idx.path.name}: Milvus did not answer ({type(exc).__name__}: {exc}); "
                                  "check that it is running and MILVUS_URI")
