"""Where a generation's searchable data lives: the one point where the index backend is chosen.

The engine prepares a generation (documents, sentences, their vectors and traits) the same way for
every backend, writes docs.sqlite and the manifest into the generation folder itself, and hands the
rest to its backend: ``LocalBackend`` writes FAISS, bm25s and numpy files beside them,
``index.milvus_backend.MilvusBackend`` writes Milvus collections and records their names there. Loading
a generation gives a ``CorpusIndex`` (or subclass) that the engine scores, cites and lists figures from
without knowing which backend it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from .lexical import LexicalIndex
from .search import CorpusIndex, RetrievalSettings, check_manifest, make_faiss_index


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

    def write(self, folder: Path, data: GenerationData, settings: RetrievalSettings) -> dict:
        """Store ``data`` for the generation being written in ``folder`` (not live yet); return manifest
        entries (at least ``index_type``). Anything it stores outside ``folder`` must be named in it, so
        that ``discard`` can find it."""
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

    def write(self, folder: Path, data: GenerationData, settings: RetrievalSettings) -> dict:
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
        index = make_faiss_index(data.vectors, settings)
        faiss.write_index(index, str(folder / "sentences.faiss"))
        _step("bm25")
        LexicalIndex.build(data.texts).save(folder / "bm25-sentences")
        LexicalIndex.build(data.paragraph_texts).save(folder / "bm25-paragraphs")
        return {"index_type": type(index).__name__}

    def load(self, path: Path, *, model: str, dimension: int, settings: RetrievalSettings) -> CorpusIndex:
        return CorpusIndex.load(path, model=model, dimension=dimension, settings=settings)

    def discard(self, folder: Path) -> None:
        """Nothing: a local generation is all in its folder."""
