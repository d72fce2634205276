"""Where a generation's searchable data lives: the one point where the index backend is chosen.

The engine prepares a generation (documents, sentences, their vectors and traits) the same way for
every backend, writes docs.sqlite and the manifest into the generation folder itself, and hands the
rest to its backend: ``LocalBackend`` writes FAISS, bm25s and numpy files beside them,
``index.milvus_backend.MilvusBackend`` writes Milvus collections and records their names there. Loading
a generation gives a ``CorpusIndex`` (or subclass) that the engine scores, cites and lists figures from
without knowing which backend it came from.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from .errors import IndexCorruptError
from .lexical import LexicalIndex
from .search import HNSW_EF_CONSTRUCTION, CorpusIndex, RetrievalSettings, check_manifest, make_faiss_index
from .store import read_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationData:
    """Everything searchable of one generation, rows aligned with docs.sqlite's ids."""

    corpus: str
    generation: int
    texts: list[str]  # sentences, by sentence id
    paragraph_texts: list[str]  # paragraphs, by paragraph id
    vectors: np.ndarray  # float32 (sentences, dim)
    context: np.ndarray  # float32 (sentences, dim): each sentence encoded with its title and previous sentence
    sent_doc: np.ndarray  # each sentence's document
    sent_para: np.ndarray  # each sentence's paragraph
    paragraph_doc: np.ndarray  # each paragraph's document (a document's paragraphs are consecutive)
    traits: np.ndarray  # search.sentence_traits
    paragraph_vectors: np.ndarray  # float32 (paragraphs, dim)
    document_vectors: np.ndarray  # float32 (documents, dim)
    title_vectors: np.ndarray  # float32 (documents, dim)


class IndexBackend(Protocol):
    """Writes and loads the searchable part of generations (see the module docstring)."""

    name: str  # recorded in each manifest as "backend"
    # the files of a generation folder that name what it stored outside the folder: what ``discard``
    # reads (index.shared fetches just these to free a generation another host wrote)
    outside_files: tuple[str, ...]

    def write(self, folder: Path, data: GenerationData, settings: RetrievalSettings, *,
              previous: Path | None = None) -> dict:
        """Store ``data`` for the generation being written in ``folder`` (not live yet); return manifest
        entries (at least ``index_type``). Anything it stores outside ``folder`` must be named in it, so
        that ``discard`` can find it.

        ``previous``: for an add, the live generation the new one extends (its sentences, then new
        ones). A backend may reuse what it built for it instead of building anew, but must never change
        it (it answers until the new one is live) and must check that ``data`` really extends it; it may
        also ignore the hint."""
        ...

    def load(self, path: Path, *, model: str, dimension: int, settings: RetrievalSettings) -> CorpusIndex:
        """The generation in ``path`` ready to answer."""
        ...

    def discard(self, folder: Path) -> None:
        """Free what a generation folder about to be deleted stored outside it (a failed or old write)."""
        ...


class LocalBackend:
    """FAISS + bm25s + numpy files in the generation folder (the default)."""

    name = "local"
    outside_files: tuple[str, ...] = ()

    def __init__(self, *, extend: bool = True) -> None:
        self.extend = extend  # False: always build the HNSW graph anew (bench/bench_add.py compares both)
        self.extended = 0  # writes that extended the previous generation's HNSW graph (read by tests)

    def write(self, folder: Path, data: GenerationData, settings: RetrievalSettings, *,
              previous: Path | None = None) -> dict:
        from .engine import _step  # the crash tests' step hook

        _step("arrays")
        np.save(folder / "vectors.npy", data.vectors)
        np.save(folder / "context.npy", data.context)
        np.save(folder / "sent_doc.npy", data.sent_doc)
        np.save(folder / "sent_para.npy", data.sent_para)
        np.save(folder / "sentence_traits.npy", data.traits)
        np.save(folder / "titles.npy", data.title_vectors)
        np.save(folder / "paragraphs.npy", data.paragraph_vectors)
        np.save(folder / "documents.npy", data.document_vectors)
        _step("faiss")
        index = None
        if previous is not None and self.extend:
            index = extended_hnsw(previous, data.vectors, settings)
        if index is None:
            index = make_faiss_index(data.vectors, settings)
        else:
            self.extended += 1
            _step("faiss extended")  # only on this path: the crash tests kill an appending write here
        faiss.write_index(index, str(folder / "sentences.faiss"))
        _step("bm25")
        LexicalIndex.build(data.texts).save(folder / "bm25-sentences")
        LexicalIndex.build(data.paragraph_texts).save(folder / "bm25-paragraphs")
        return {"index_type": type(index).__name__}

    def load(self, path: Path, *, model: str, dimension: int, settings: RetrievalSettings) -> CorpusIndex:
        return CorpusIndex.load(path, model=model, dimension=dimension, settings=settings)

    def discard(self, folder: Path) -> None:
        """Nothing: a local generation is all in its folder."""


def extended_hnsw(previous: Path, vectors: np.ndarray, settings: RetrievalSettings) -> faiss.Index | None:
    """The HNSW index of the generation in ``previous`` with the vectors it lacks added, or None when
    ``vectors`` do not extend it exactly (then the caller builds the index anew).

    Building the graph is most of an add at 100k sentences (bench/bench_add.py); adding ~30 vectors
    to a copy of it costs milliseconds. The previous file is read into memory and only read: the copy
    is written into the new generation. It is used only when all of this holds, else None:
    the new index would be HNSW too, with the same dimension, metric and M; the previous file has the
    size and CRC-32 its manifest recorded (a damaged graph is not carried forward); and the vectors it
    holds are bit for bit the first rows of ``vectors`` (sentences were only appended: not after a
    removal, a replacement, a reordering or another model).
    """
    n, dim = vectors.shape
    if n <= settings.approximate_above:
        return None  # exact search: nothing worth reusing
    try:
        manifest = read_manifest(previous)
    except IndexCorruptError as exc:
        log.warning("%s: cannot extend its HNSW index (%s); building it anew", previous.name, exc)
        return None
    info = (manifest.get("files") or {}).get("sentences.faiss")
    if manifest.get("index_type") != "IndexHNSWFlat" or manifest.get("dimension") != dim or not isinstance(info, dict):
        return None  # a flat index (or no checksum to trust the file by): build anew
    try:
        raw = np.fromfile(previous / "sentences.faiss", dtype=np.uint8)
    except OSError as exc:
        log.warning("%s: cannot read its HNSW index (%s); building it anew", previous.name, exc)
        return None
    crc = f"{zlib.crc32(raw):08x}"
    if len(raw) != info.get("bytes") or crc != info.get("crc32"):
        log.warning("%s: sentences.faiss differs from its manifest (%d bytes, CRC-32 %s); building the index anew",
                    previous.name, len(raw), crc)
        return None
    try:
        index = faiss.deserialize_index(raw)
    except RuntimeError as exc:
        log.warning("%s: cannot read its HNSW index (%s); building it anew", previous.name, exc)
        return None
    del raw
    old = index.ntotal
    if (not isinstance(index, faiss.IndexHNSWFlat) or index.d != dim or index.metric_type != faiss.METRIC_INNER_PRODUCT
            or index.hnsw.nb_neighbors(1) != settings.hnsw_m or not 0 < old < n):
        log.info("%s: its HNSW index does not match this one (M, size or metric); building it anew", previous.name)
        return None
    if not np.array_equal(index.reconstruct_n(0, old), vectors[:old]):
        log.info("%s: its sentences are not the first of the new generation; building the HNSW index anew",
                 previous.name)
        return None
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    # A loaded index restarts faiss's level generator from its fixed seed, so the new vectors would get
    # the levels of the first vectors ever added, append after append; seed it by the count instead.
    index.hnsw.rng = faiss.RandomGenerator(12345 + old)
    index.add(np.ascontiguousarray(vectors[old:], dtype=np.float32))
    log.info("%s: extended its HNSW index with %d vectors (%d in all) instead of building it anew",
             previous.name, n - old, n)
    return index
