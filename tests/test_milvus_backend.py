"""index/milvus_backend.py against milvus-lite in a temp dir: the same first-stage candidates as the local
FAISS + bm25s index. Skipped when the optional extra ``newsqa[milvus]`` is not installed (CI: ``.[test]``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from index.engine import Engine
from index.errors import ModelMismatchError, NewsQAError
from index.search import CorpusIndex

from .conftest import read_jsonl

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from index.milvus_backend import MilvusCandidates, MilvusConfig, MilvusUnavailableError, connect  # noqa: E402

DATA = Path(__file__).parent / "data"
QUESTIONS = [r["question"] for r in read_jsonl(DATA / "seed_questions.jsonl")]
EPS = 1e-4


@pytest.fixture
def stored(fake_engine: Engine, tmp_path: Path):
    """The seed corpus, local and in a milvus-lite collection beside a second corpus (its first half)."""
    idx = fake_engine.index("default")
    texts = [r[0] for r in idx.query("SELECT text FROM sentences ORDER BY id")]
    vectors = np.asarray(idx.vectors, dtype=np.float32)
    client = connect(MilvusConfig(uri=str(tmp_path / "milvus.db")))
    milvus = MilvusCandidates.create(client, vectors.shape[1])
    assert milvus.write("default", texts, vectors) == idx.size
    half = len(texts) // 2
    milvus.write("other", texts[:half], vectors[:half][:, ::-1].copy())
    yield idx, milvus
    client.close()


def _local_bm25(idx: CorpusIndex, question: str) -> np.ndarray:
    return idx.bm25.scores(question)


@pytest.mark.parametrize("depth", [5, 48])
def test_candidates_are_a_true_top_depth_of_the_local_scores(stored, depth: int) -> None:
    idx, milvus = stored
    vectors = np.asarray(idx.vectors, dtype=np.float32)
    for question, qv in zip(QUESTIONS, vectors[: len(QUESTIONS)] * 0.5 + vectors[-len(QUESTIONS):] * 0.5):
        got = milvus.candidates("default", qv, question, depth)
        dense = vectors @ qv
        bm25 = _local_bm25(idx, question)
        assert len(got.dense) == min(depth, idx.size)
        assert len(set(got.dense.tolist())) == len(got.dense)
        # Every returned sentence scores at least as high as the depth-th best, best first.
        assert dense[got.dense].min() >= np.sort(dense)[::-1][len(got.dense) - 1] - EPS
        assert np.all(np.diff(dense[got.dense]) <= EPS)
        matched = int(np.count_nonzero(bm25))
        assert len(got.bm25) == min(depth, matched), question
        if len(got.bm25):
            assert bm25[got.bm25].min() > 0
            assert bm25[got.bm25].min() >= np.sort(bm25)[::-1][len(got.bm25) - 1] - EPS, question
            assert np.all(np.diff(bm25[got.bm25]) <= EPS), question  # same k1, b and IDF as bm25s


def test_corpora_stay_apart_and_remove_deletes_only_one(stored) -> None:
    idx, milvus = stored
    half = idx.size // 2
    assert milvus.count("default") == idx.size
    assert milvus.count("other") == half
    got = milvus.candidates("other", np.asarray(idx.vectors[0], dtype=np.float32), QUESTIONS[0], 48)
    assert set(got.dense.tolist()) <= set(range(half))
    milvus.remove("other")
    assert milvus.count("other") == 0
    assert milvus.count("default") == idx.size
    empty = milvus.candidates("other", np.asarray(idx.vectors[0], dtype=np.float32), QUESTIONS[0], 48)
    assert len(empty.dense) == 0 and len(empty.bm25) == 0


def test_question_without_known_terms_has_no_bm25_candidates(stored) -> None:
    idx, milvus = stored
    got = milvus.candidates("default", np.asarray(idx.vectors[1], dtype=np.float32), "what is it?", 10)
    assert len(got.bm25) == 0  # only stopwords: nothing to match, like bm25s
    assert len(got.dense) == 10


def test_bad_inputs_are_clear_errors(stored) -> None:
    idx, milvus = stored
    with pytest.raises(NewsQAError, match="invalid corpus name"):
        milvus.candidates('x" or corpus != "', np.zeros(idx.vectors.shape[1], dtype=np.float32), "NATO", 5)
    with pytest.raises(ValueError, match="2 texts but 1 vectors"):
        milvus.write("default", ["a", "b"], np.zeros((1, idx.vectors.shape[1]), dtype=np.float32))


def test_reopening_with_another_dimension_is_refused(stored) -> None:
    idx, milvus = stored
    with pytest.raises(ModelMismatchError, match=f"holds {idx.vectors.shape[1]}-dimension vectors but the model gives 7"):
        MilvusCandidates.create(milvus.client, 7)
    assert MilvusCandidates.create(milvus.client, idx.vectors.shape[1]).count("default") == idx.size


def test_missing_pymilvus_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(MilvusUnavailableError, match=r"newsqa\[milvus\]"):
        connect(MilvusConfig(uri=str(tmp_path / "m.db")))
