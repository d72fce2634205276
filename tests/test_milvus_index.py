"""INDEX_BACKEND=milvus (index/milvus_index.py) on milvus-lite in a temp dir: the same features as the
local index, and the write guarantees (an interrupted write changes nothing visible; old generations'
collections are dropped). Skipped without the optional extra ``newsqa[milvus]``; test_engine.py runs
the whole engine suite on this backend too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import index.engine as engine_module
from index.backend import LocalBackend
from index.documents import load_text
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from index.errors import IndexWriteError, ModelMismatchError
from index.lexical import LexicalIndex, TermStats, analyzed_texts
from index.search import FEATURES

from .conftest import DATA, milvus_backend, read_jsonl

QUESTIONS = [r["question"] for r in read_jsonl(DATA / "seed_questions.jsonl")]
ARTICLE = (
    "Lighthouse keepers on the island of Skerra voted to automate the beacon.\n\n"
    "The automation will cost 4 million euros and finish by 2027.\n\n"
    "Fishermen said the keepers saved dozens of lives during winter storms."
)


class Killed(BaseException):
    """Stands for the process being killed at a write step: nothing of the engine's cleanup runs."""


@pytest.fixture
def milvus(tmp_path: Path):
    backend = milvus_backend(tmp_path)
    yield backend
    backend.close()


@pytest.fixture
def engines(tmp_path: Path, seeds_dir: Path, milvus):
    """The seed corpus on milvus-lite and locally, from the same encoder."""
    settings = EngineSettings(seeds_dir=seeds_dir)
    on_milvus = Engine(tmp_path / "milvus-index", HashingEncoder(), settings, backend=milvus)
    local = Engine(tmp_path / "local-index", HashingEncoder(), settings)
    on_milvus.ensure()
    local.ensure()
    yield on_milvus, local
    on_milvus.close()
    local.close()


def _collections(backend) -> set[str]:
    return {c for c in backend.client.list_collections() if c.startswith(backend.config.prefix + "_")}


def _named(engine: Engine, corpus: str = "default") -> set[str]:
    """Collections named by the generation folders of a corpus (live, kept, or left by a dead write)."""
    root = engine.corpus(corpus).root
    return {n for p in root.glob("gen-*/milvus.json") for n in json.loads(p.read_text())["collections"].values()}


def test_term_stats_score_as_bm25s_does() -> None:
    texts = [s for r in read_jsonl(DATA / "seed_questions.jsonl") for s in r["expect_any"]]
    texts += ARTICLE.split("\n\n") + ["the of and", "", "Defense, defense and more defense spending."]
    local = LexicalIndex.build(texts)
    stats = TermStats.build(analyzed_texts(texts))
    rows = np.arange(len(texts))
    for question in [*QUESTIONS, "defense defense spending", "the", "Skerra keepers"]:
        assert np.allclose(stats.scores(question, analyzed_texts(texts)), local.scores(question), atol=1e-5)
        assert np.array_equal(stats.coverage(question, analyzed_texts(texts)), local.coverage(question, rows))


def test_milvus_candidates_carry_the_local_features(engines) -> None:
    on_milvus, local = engines
    for question in QUESTIONS:
        qv = on_milvus.embed_questions([question])[0]
        got = on_milvus.index().candidates(qv, question, 48)
        want = local.index().candidates(qv, question, 48)
        assert np.array_equal(got.ids, want.ids), question
        # Every feature is computed from what Milvus returned; only the order of equally close vectors
        # in the dense list may differ from FAISS's (the hashing encoder makes many ties).
        same = [i for i, name in enumerate(FEATURES) if name != "dense_rank"]
        np.testing.assert_allclose(got.features[:, same], want.features[:, same], atol=2e-5, err_msg=question)
        a, b = on_milvus.ask(question), local.ask(question)
        assert [h.citation for h in a.hits] == [h.citation for h in b.hits]
        assert a.confidence == pytest.approx(b.confidence, abs=1e-5)


def test_figures_rank_alike_on_both_backends(engines) -> None:
    on_milvus, local = engines
    got = [(f.text, f.score) for f in on_milvus.figures("GDP spending")]
    want = [(f.text, f.score) for f in local.figures("GDP spending")]
    assert [t for t, _ in got] == [t for t, _ in want]
    assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-3)


@pytest.mark.parametrize("step", ["faiss", "bm25", "manifest", "publish"])
def test_a_write_killed_midway_leaves_the_previous_corpus_answering(engines, milvus, monkeypatch: pytest.MonkeyPatch,
                                                                     step: str) -> None:
    on_milvus, _ = engines
    before = on_milvus.ask("How much will the lighthouse automation cost?")
    live = _named(on_milvus)

    def kill(at: str) -> None:
        if at == step:
            raise Killed(at)

    monkeypatch.setattr(engine_module, "write_step_hook", kill)
    with pytest.raises(Killed):
        on_milvus.add([load_text(ARTICLE, title="Skerra lighthouse")])
    monkeypatch.setattr(engine_module, "write_step_hook", None)
    # Half-written collections exist, but nothing names them as live: a new process sees the old corpus.
    left = _collections(milvus) - live
    assert left
    fresh = Engine(on_milvus.index_dir, HashingEncoder(), on_milvus.settings, backend=milvus)
    assert [d.doc_id for d in fresh.documents()] == ["nato-defense-ministers"]
    after = fresh.ask("How much will the lighthouse automation cost?")
    assert [h.citation for h in after.hits] == [h.citation for h in before.hits]
    # The next write drops them.
    fresh.add([load_text(ARTICLE, title="Skerra lighthouse")])
    assert not left & _collections(milvus)
    assert _collections(milvus) == _named(fresh)
    assert "4 million euros" in fresh.ask("How much will the lighthouse automation cost?").hits[0].text


def test_a_failed_write_drops_its_collections_at_once(engines, milvus, monkeypatch: pytest.MonkeyPatch) -> None:
    on_milvus, _ = engines
    live = _collections(milvus)

    def fail(at: str) -> None:
        if at == "bm25":
            raise RuntimeError("Milvus went away")

    monkeypatch.setattr(engine_module, "write_step_hook", fail)
    with pytest.raises(IndexWriteError, match="unchanged"):
        on_milvus.add([load_text(ARTICLE, title="Skerra lighthouse")])
    assert _collections(milvus) == live
    assert [d.doc_id for d in on_milvus.documents()] == ["nato-defense-ministers"]


def test_only_the_kept_generations_keep_collections(engines, milvus) -> None:
    on_milvus, _ = engines
    for n in range(3):
        on_milvus.add([load_text(ARTICLE.replace("Skerra", f"Isle{n}"), title=f"Isle{n} lighthouse")])
    assert len(list(on_milvus.corpus("default").root.glob("gen-*"))) == 2
    assert _collections(milvus) == _named(on_milvus) and len(_collections(milvus)) == 6


def test_a_generation_built_on_milvus_is_not_read_as_local(engines) -> None:
    on_milvus, _ = engines
    other = Engine(on_milvus.index_dir, HashingEncoder(), on_milvus.settings, backend=LocalBackend())
    with pytest.raises(ModelMismatchError, match="built with INDEX_BACKEND=milvus.*set INDEX_BACKEND=milvus"):
        other.ask("Who is Rutte?")


def test_switching_a_corpus_to_milvus_keeps_its_articles(engines, milvus) -> None:
    """INDEX_BACKEND changed on an existing corpus: a rebuild (or the next add) starts from its sources,
    so the articles added to it are kept."""
    _, local = engines
    local.add([load_text(ARTICLE, title="Skerra lighthouse")])
    moved = Engine(local.index_dir, HashingEncoder(), local.settings, backend=milvus)
    with pytest.raises(ModelMismatchError, match="INDEX_BACKEND=local"):
        moved.ask("How much will the lighthouse automation cost?")
    moved.build()
    assert {d.doc_id for d in moved.documents()} == {"nato-defense-ministers", "skerra-lighthouse"}
    assert "4 million euros" in moved.ask("How much will the lighthouse automation cost?").hits[0].text
