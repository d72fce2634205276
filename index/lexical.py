"""BM25 over sentences and paragraphs, with bm25s and an English Snowball stemmer."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import Stemmer

from .imports import import_without

# bm25s imports scipy when it is installed, for a build option (csc_backend="scipy") this module never
# asks for: without it a serving process holds ~14 MiB less.
bm25s = import_without("bm25s", ("scipy",))
from bm25s.stopwords import STOPWORDS_EN_PLUS  # noqa: E402

log = logging.getLogger(__name__)

_STEMMER = Stemmer.Stemmer("english")
# The NLTK-style list (179 words), not bm25s's 33-word "en": question words and auxiliaries ("what",
# "does", "did") otherwise match sentences on their own (SQuAD P@1: BM25 alone +0.011, fused +0.002; see search.py).
_STOPWORDS = list(STOPWORDS_EN_PLUS)

# BM25 (Lucene variant) parameters; bm25s applies them when the index is built.
K1 = 0.6
B = 0.25


def _tokenize(texts: Sequence[str]) -> list[list[str]]:
    return bm25s.tokenize(
        list(texts), stopwords=_STOPWORDS, stemmer=_STEMMER, return_ids=False, show_progress=False
    )


@functools.lru_cache(maxsize=256)
def _query_tokens(query: str) -> tuple[str, ...]:
    """A question's tokens; cached because one question is scored and covered by two indexes."""
    return tuple(_tokenize([query])[0])


def analyzed_texts(texts: Sequence[str]) -> list[str]:
    """Each text's BM25 terms (stemmed, stopwords dropped) joined by spaces: what another BM25 engine
    (Milvus, index/milvus_backend.py) indexes so that its terms are exactly these."""
    return [" ".join(tokens) for tokens in _tokenize(texts)] if texts else []


def analyzed_text(text: str) -> str:
    """A question's BM25 terms joined by spaces (cached, like the question's own scoring)."""
    return " ".join(_query_tokens(text))


class LexicalIndex:
    """A BM25 index whose scores come back as one dense array, aligned with the texts it was built on."""

    def __init__(self, retriever: bm25s.BM25 | None, size: int) -> None:
        self._retriever = retriever
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str], *, k1: float = K1, b: float = B) -> LexicalIndex:
        """Index ``texts``; an empty list gives an index that scores nothing."""
        if not texts:
            return cls(None, 0)
        retriever = bm25s.BM25(k1=k1, b=b)
        # bm25s drops documents whose tokens are all stopwords only if asked; keep alignment.
        retriever.index(_tokenize(texts), show_progress=False)
        return cls(retriever, len(texts))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "size").write_text(str(self.size))
        if self._retriever is not None:
            self._retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        size = int((folder / "size").read_text())
        if size == 0:
            return cls(None, 0)
        retriever = bm25s.BM25.load(str(folder), show_progress=False, mmap=False)
        return cls(retriever, size)

    def coverage(self, query: str, rows: np.ndarray) -> np.ndarray:
        """Fraction of the query's words (stemmed, stopwords dropped) found in each of ``rows``.

        Unlike a BM25 score it does not depend on the size of the corpus, so it can feed a confidence.
        Cost: the posting lists of the query's words, like ``scores``.
        """
        rows = np.asarray(rows, dtype=np.int64)
        tokens = list(dict.fromkeys(_query_tokens(query)))
        out = np.zeros(len(rows), dtype=np.float32)
        if self._retriever is None or not tokens or not len(rows):
            return out
        vocab = self._retriever.vocab_dict
        matrix = self._retriever.scores
        indptr, indices = matrix["indptr"], matrix["indices"]
        sorted_columns = self._columns_sorted()
        for token in tokens:
            t = vocab.get(token)
            if t is None:
                continue
            posting = indices[indptr[t] : indptr[t + 1]]
            if not len(posting):
                continue
            if sorted_columns:  # O(rows · log posting): common words have huge posting lists at 1M
                at = np.minimum(np.searchsorted(posting, rows), len(posting) - 1)
                out += posting[at] == rows
            else:
                out += np.isin(rows, posting)
        return out / len(tokens)

    def _columns_sorted(self) -> bool:
        """Whether every posting list is in ascending row order (checked once)."""
        cached = getattr(self, "_sorted", None)
        if cached is None:
            matrix = self._retriever.scores
            indptr, indices = np.asarray(matrix["indptr"]), np.asarray(matrix["indices"])
            drops = np.flatnonzero(np.diff(indices) < 0) + 1
            cached = self._sorted = bool(np.isin(drops, indptr).all())
        return cached

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every indexed text for ``query`` (zeros when no query word is known)."""
        if self._retriever is None:
            return np.zeros(0, dtype=np.float32)
        tokens = _query_tokens(query)
        vocab = self._retriever.vocab_dict
        tokens = [t for t in tokens if t in vocab]
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(tokens), dtype=np.float32)


class TermStats:
    """Corpus-level BM25 statistics (how many texts hold each term, their average length), to score a
    few texts exactly as a LexicalIndex over the whole corpus would (same Lucene IDF, k1, b, float32).

    For an index whose texts live elsewhere (Milvus, index/milvus_index.py): its BM25 search picks the
    candidates, these statistics give them the scores the features need. bm25s cannot score texts it
    did not index, hence these few lines; tests/test_milvus_index.py checks them against bm25s.
    """

    def __init__(self, df: dict[str, int], count: int, average: float, *, k1: float = K1, b: float = B) -> None:
        self.df = df
        self.count = count
        self.average = average
        self.k1 = k1
        self.b = b

    @classmethod
    def build(cls, analyzed: Sequence[str], *, k1: float = K1, b: float = B) -> TermStats:
        """Statistics of texts given as their analyzed terms joined by spaces (``analyzed_texts``)."""
        df: dict[str, int] = {}
        total = 0
        for text in analyzed:
            tokens = text.split()
            total += len(tokens)
            for t in set(tokens):
                df[t] = df.get(t, 0) + 1
        return cls(df, len(analyzed), total / len(analyzed) if analyzed else 0.0, k1=k1, b=b)

    def to_json(self) -> dict:
        return {"count": self.count, "average": self.average, "k1": self.k1, "b": self.b, "df": self.df}

    @classmethod
    def from_json(cls, data: dict) -> TermStats:
        return cls({str(k): int(v) for k, v in data["df"].items()}, int(data["count"]), float(data["average"]),
                   k1=float(data["k1"]), b=float(data["b"]))

    def scores(self, query: str, analyzed: Sequence[str]) -> np.ndarray:
        """BM25 of each of ``analyzed`` (analyzed texts of this corpus) for ``query``, as bm25s scores it."""
        out = np.zeros(len(analyzed), dtype=np.float32)
        tokens = [t for t in _query_tokens(query) if t in self.df]  # repeated words count again, as in bm25s
        if not tokens or not self.average:
            return out
        idf = {t: np.float32(np.log(1 + (self.count - self.df[t] + 0.5) / (self.df[t] + 0.5))) for t in set(tokens)}
        for i, text in enumerate(analyzed):
            words = text.split()
            norm = self.k1 * ((1 - self.b) + self.b * len(words) / self.average)
            score = np.float32(0.0)
            for t in tokens:
                tf = words.count(t)
                if tf:
                    score += np.float32(idf[t] * (tf / (norm + tf)))
            out[i] = score
        return out

    @staticmethod
    def coverage(query: str, analyzed: Sequence[str]) -> np.ndarray:
        """Fraction of the query's terms found in each of ``analyzed`` (as LexicalIndex.coverage)."""
        tokens = list(dict.fromkeys(_query_tokens(query)))
        if not tokens:
            return np.zeros(len(analyzed), dtype=np.float32)
        found = [sum(t in words for t in tokens) for words in (set(text.split()) for text in analyzed)]
        return np.asarray(found, dtype=np.float32) / len(tokens)
