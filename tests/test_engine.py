"""Core engine behaviour with the fake encoder: build, ask, add, remove, errors, concurrency."""

from __future__ import annotations

import dataclasses

import json
import threading
import time
from pathlib import Path

import pytest

from index.backend import IndexBackend, LocalBackend
from index.documents import load_text
from index.embed import HashingEncoder
import index.engine as engine_module
from index.engine import Engine, EngineSettings
from index.store import CorpusDir
from index.search import RetrievalSettings
from index.errors import (
    DocumentNotFoundError,
    IndexCorruptError,
    IndexMissingError,
    InvalidQuestionError,
    ModelMismatchError,
    NewsQAError,
)

from .conftest import milvus_backend


@pytest.fixture(params=["local", pytest.param("milvus", marks=pytest.mark.milvus)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> IndexBackend:
    """Every test here runs on both index backends (milvus: milvus-lite in a temp dir, when installed)."""
    if request.param == "local":
        yield LocalBackend()
        return
    chosen = milvus_backend(tmp_path)
    yield chosen
    chosen.close()


ARTICLE = (
    "Lighthouse keepers on the island of Skerra voted to automate the beacon.\n"
    "The automation will cost 4 million euros and finish by 2027.\n"
    "Fishermen said the keepers saved dozens of lives during winter storms."
)


def test_build_from_seeds(fake_engine: Engine) -> None:
    docs = fake_engine.documents()
    assert [d.doc_id for d in docs] == ["nato-defense-ministers"]
    stats = fake_engine.stats()
    assert stats.documents == 1 and stats.sentences == docs[0].sentences > 10
    assert stats.figures >= 5
    assert stats.index_type == {"local": "IndexFlatIP", "milvus": "Milvus HNSW + BM25"}[fake_engine.backend.name]


def test_answer_spans_are_exact(fake_engine: Engine, seeds_dir: Path) -> None:
    text = (seeds_dir / "nato-defense-ministers.txt").read_text(encoding="utf-8")
    answer = fake_engine.ask("How much did allies in Europe and Canada invest in defense in 2024?")
    assert "$485 billion" in answer.hits[0].text
    for hit in answer.hits:
        assert text[hit.start : hit.end] == hit.text
        assert text[hit.context_start : hit.context_end] == hit.context
        assert hit.text in hit.context
        assert hit.citation.doc_id == hit.doc_id and f"¶{hit.paragraph}" in hit.citation.label
    assert "$485 billion" in answer.hits[0].text
    assert [h.rank for h in answer.hits] == list(range(1, len(answer.hits) + 1))


def test_context_windows_never_overlap(fake_engine: Engine) -> None:
    answer = fake_engine.ask("defense spending allies GDP percent", k=5)
    spans = sorted((h.context_start, h.context_end) for h in answer.hits)
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert a1 < b0 or a1 <= b0, "overlapping windows must be merged"


@pytest.mark.parametrize("question", ["", "   ", "\x00\x01", "\n\t"])
def test_empty_question_is_refused(fake_engine: Engine, question: str) -> None:
    with pytest.raises(InvalidQuestionError, match="empty"):
        fake_engine.ask(question)


def test_huge_question_is_refused(fake_engine: Engine) -> None:
    with pytest.raises(InvalidQuestionError, match="6000 characters"):
        fake_engine.ask("x" * 6000)


def test_add_embeds_only_the_new_article(fake_engine: Engine) -> None:
    encoder = fake_engine.encoder
    before = encoder.encoded
    report = fake_engine.add([load_text(ARTICLE, title="Skerra lighthouse")])
    assert report.added == ("skerra-lighthouse",)
    # its 3 sentences, each again with its context (title, previous sentence), and its title
    assert report.embedded == 3 and encoder.encoded - before == 7
    answer = fake_engine.ask("How much will the lighthouse automation cost?")
    assert answer.hits[0].doc_id == "skerra-lighthouse"
    assert "4 million euros" in answer.hits[0].text
    assert {d.doc_id for d in fake_engine.documents()} == {"nato-defense-ministers", "skerra-lighthouse"}


def test_added_documents_survive_a_rebuild_and_removals_stick(fake_engine: Engine) -> None:
    fake_engine.add([load_text(ARTICLE, title="Skerra lighthouse")])
    fake_engine.build()
    assert {d.doc_id for d in fake_engine.documents()} == {"nato-defense-ministers", "skerra-lighthouse"}
    fake_engine.remove("nato-defense-ministers")
    fake_engine.build()
    assert [d.doc_id for d in fake_engine.documents()] == ["skerra-lighthouse"]
    with pytest.raises(DocumentNotFoundError, match="nato-defense-ministers"):
        fake_engine.remove("nato-defense-ministers")


def test_same_slug_from_another_source_gets_its_own_id(fake_engine: Engine) -> None:
    fake_engine.add([load_text(ARTICLE, title="Skerra lighthouse", source="a")])
    fake_engine.add([load_text(ARTICLE + " More.", title="Skerra lighthouse", source="b")])
    ids = [d.doc_id for d in fake_engine.documents()]
    assert ids == ["nato-defense-ministers", "skerra-lighthouse", "skerra-lighthouse-2"]


def test_model_mismatch_is_a_clear_error(fake_engine: Engine) -> None:
    other = Engine(fake_engine.index_dir, HashingEncoder(name="another-model"), fake_engine.settings, backend=fake_engine.backend)
    with pytest.raises(ModelMismatchError, match="another-model"):
        other.ask("anything?")


def test_missing_index_says_how_to_build(tmp_path: Path, backend: IndexBackend) -> None:
    engine = Engine(tmp_path / "empty", HashingEncoder(), EngineSettings(), backend=backend)
    with pytest.raises(IndexMissingError, match="newsqa index build"):
        engine.ask("anything?")


def test_corrupt_index_is_reported_and_rebuilt(fake_engine: Engine) -> None:
    live = fake_engine.corpus("default").current()
    if fake_engine.backend.name == "local":
        (live / "sentences.faiss").write_bytes(b"garbage")
    else:  # its sentences collection dropped behind the engine's back
        fake_engine.backend.client.drop_collection(json.loads((live / "milvus.json").read_text())["collections"]["sentences"])
    fresh = Engine(fake_engine.index_dir, HashingEncoder(), fake_engine.settings, backend=fake_engine.backend)
    with pytest.raises(IndexCorruptError):
        fresh.ask("Who is the NATO Secretary General?")
    fresh.build()
    assert "Rutte" in fresh.ask("Who is the NATO Secretary General?").hits[0].text


def test_writers_are_serialized(fake_engine: Engine) -> None:
    errors: list[Exception] = []

    def add(title: str) -> None:
        try:
            fake_engine.add([load_text(ARTICLE.replace("Skerra", title), title=title)])
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(name,)) for name in ("Alpha", "Beta", "Gamma")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert {"alpha", "beta", "gamma"} <= {d.doc_id for d in fake_engine.documents()}


def test_figures_list_and_topic_ranking(fake_engine: Engine) -> None:
    figures = fake_engine.figures()
    texts = [f.text for f in figures]
    assert any("485 billion" in t for t in texts)
    for f in figures:
        assert f.text in f.sentence_text and f.citation is not None
    ranked = fake_engine.figures("GDP", limit=3)
    assert "GDP" in ranked[0].sentence_text
    with pytest.raises(DocumentNotFoundError):
        fake_engine.figures(doc_id="nope")


def test_passage_returns_the_paragraph(fake_engine: Engine) -> None:
    hit = fake_engine.ask("How many allies spend 2% of GDP?").hits[0]
    passage = fake_engine.passage(hit.doc_id, hit.sentence)
    assert passage.text[passage.sentence_start : passage.sentence_end] == hit.text
    with pytest.raises(DocumentNotFoundError):
        fake_engine.passage(hit.doc_id, 999)


def test_ask_many_keeps_order_and_errors_in_place(fake_engine: Engine) -> None:
    results = fake_engine.ask_many(["Who is Rutte?", "", "What about GDP?"])
    assert results[0].question == "Who is Rutte?"
    assert isinstance(results[1], NewsQAError)
    assert results[2].question == "What about GDP?"


def test_invalid_corpus_name(fake_engine: Engine) -> None:
    with pytest.raises(NewsQAError, match="invalid corpus name"):
        fake_engine.ask("x?", corpus="../etc")


def test_many_corpora_share_the_cache_and_stay_within_the_loaded_limit(tmp_path: Path, seeds_dir: Path,
                                                                      backend: IndexBackend) -> None:
    encoder = HashingEncoder()
    engine = Engine(tmp_path / "index", encoder, EngineSettings(seeds_dir=seeds_dir, max_loaded=3), backend=backend)
    engine.ensure("100")
    first = encoder.encoded
    for name in ("101", "102", "103", "104"):
        engine.ensure(name)
        assert "Rutte" in engine.ask("Who is the NATO Secretary General?", corpus=name).hits[0].text
    assert encoder.encoded - first == 4  # seed sentences come from the cache: only the 4 questions are embedded
    assert len(engine._indexes) == 3
    engine.add([load_text(ARTICLE, title="Skerra lighthouse")], corpus="101")
    assert "skerra-lighthouse" not in {d.doc_id for d in engine.documents("102")}
    assert engine.corpora() == ["100", "101", "102", "103", "104"]


def test_add_to_a_new_or_broken_corpus_keeps_its_sources(fake_engine: Engine) -> None:
    fake_engine.add([load_text(ARTICLE, title="Skerra lighthouse")], corpus="fresh")
    assert {d.doc_id for d in fake_engine.documents("fresh")} == {"nato-defense-ministers", "skerra-lighthouse"}
    live = fake_engine.corpus("fresh").current()
    (live / "docs.sqlite").write_bytes(b"broken")
    other = Engine(fake_engine.index_dir, HashingEncoder(), fake_engine.settings, backend=fake_engine.backend)
    other.add([load_text(ARTICLE.replace("Skerra", "Orla"), title="Orla lighthouse")], corpus="fresh")
    assert {d.doc_id for d in other.documents("fresh")} == {
        "nato-defense-ministers", "skerra-lighthouse", "orla-lighthouse"}


def test_concurrent_ensure_builds_once(tmp_path: Path, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                       backend: IndexBackend) -> None:
    """Four engines find no corpus at the same moment; the writer lock must let only one of them build it.

    The race is made certain, not probable: all four have seen "no corpus" before any goes on (a
    barrier), and the first writer holds its write until the other three have asked for the lock."""
    n = 4
    seen_no_corpus = threading.Barrier(n, timeout=30)
    asked_for_lock = threading.Semaphore(0)
    real_has_corpus, real_writer_lock = Engine.has_corpus, CorpusDir.writer_lock

    def has_corpus(self: Engine, name: str) -> bool:
        found = real_has_corpus(self, name)
        seen_no_corpus.wait()
        return found

    def writer_lock(self: CorpusDir, timeout: float | None = None, **kwargs):  # noqa: ANN202 - a context manager
        asked_for_lock.release()
        return real_writer_lock(self, timeout, **kwargs)

    held = []

    def hold_first_write(step: str) -> None:
        if step == "embed" and not held:
            held.append(step)
            deadline = time.monotonic() + 5
            for _ in range(n):  # this writer and the three others
                asked_for_lock.acquire(timeout=max(0.0, deadline - time.monotonic()))
            time.sleep(0.2)  # a writer that did not wait for the lock would be past its own check by now

    monkeypatch.setattr(Engine, "has_corpus", has_corpus)
    monkeypatch.setattr(CorpusDir, "writer_lock", writer_lock)
    monkeypatch.setattr(engine_module, "write_step_hook", hold_first_write)
    engines = [Engine(tmp_path / "index", HashingEncoder(), EngineSettings(seeds_dir=seeds_dir), backend=backend)
               for _ in range(n)]
    results: list[object] = [None] * n

    def ensure(i: int) -> None:
        try:
            results[i] = engines[i].ensure("new")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=ensure, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert held, "the build never reached its embed step"
    assert sorted(type(r).__name__ for r in results) == ["ChangeReport", "NoneType", "NoneType", "NoneType"], results
    assert engines[0].stats("new").generation == 1


def test_large_corpora_switch_to_hnsw_automatically(tmp_path: Path, seeds_dir: Path, backend: IndexBackend) -> None:
    if backend.name != "local":
        pytest.skip("FAISS index types are the local backend's (Milvus uses HNSW at every size)")
    settings = EngineSettings(seeds_dir=seeds_dir, retrieval=RetrievalSettings(approximate_above=10))
    engine = Engine(tmp_path / "index", HashingEncoder(), settings)
    engine.ensure("default")
    assert engine.stats().index_type == "IndexHNSWFlat"
    assert "$485 billion" in engine.ask("How much did allies in Europe and Canada invest in defense in 2024?").hits[0].text


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("vectors.npy", b""),
        ("sent_doc.npy", b""),
        ("paragraphs.npy", b""),
        ("bm25-paragraphs/size", b"3"),
        ("bm25-sentences/data.csc.index.npy", b""),
        ("sentence_traits.npy", b"\x93NUMPY garbage"),
        ("docs.sqlite", b"SQLite format 3\x00" + b"\xff" * 200),
        ("manifest.json", b"\xff\xfe"),
        ("milvus.json", b"{}"),
        ("terms.json", b"{"),
    ],
)
def test_damaged_files_are_reported_as_corrupt(fake_engine: Engine, name: str, damage: bytes) -> None:
    live = fake_engine.corpus("default").current()
    if not (live / name).exists():
        pytest.skip(f"the {fake_engine.backend.name} backend writes no {name}")
    (live / name).write_bytes(damage)
    fresh = Engine(fake_engine.index_dir, HashingEncoder(), fake_engine.settings, backend=fake_engine.backend)
    with pytest.raises(IndexCorruptError, match="newsqa index build"):
        fresh.ask("Who is the NATO Secretary General?")
    fresh.build()
    assert "Rutte" in fresh.ask("Who is the NATO Secretary General?").hits[0].text


def test_garbage_current_state_and_cache_do_not_block_a_rebuild(fake_engine: Engine) -> None:
    root = fake_engine.corpus("default").root
    (root / "CURRENT").write_bytes(b"\xff\xfe\x00junk")
    (root / "state.json").write_bytes(b"\xff{not json")
    (fake_engine.index_dir / "embeddings.sqlite").write_bytes(b"not a database at all" * 10)
    fresh = Engine(fake_engine.index_dir, HashingEncoder(), fake_engine.settings, backend=fake_engine.backend)
    with pytest.raises(IndexCorruptError, match="newsqa index build"):
        fresh.ask("Who is the NATO Secretary General?")
    fresh.build()
    assert "Rutte" in fresh.ask("Who is the NATO Secretary General?").hits[0].text
    assert list(root.glob("state.json.corrupt-*"))


def test_figures_are_listed_in_ranked_order_and_an_old_extractor_is_not_reused(fake_engine: Engine) -> None:
    import json
    import sqlite3

    from index.documents import load_path
    from index.figures import FIGURES_VERSION, extract_figures

    seed = load_path(fake_engine.settings.seeds_dir / "nato-defense-ministers.txt")
    ranked = [f.text for f in extract_figures(seed.doc_id, seed.text, seed.sentences, title=seed.title)]
    listed = [f.text for f in fake_engine.figures(doc_id=seed.doc_id)]
    assert listed == ranked and listed != sorted(listed, key=seed.text.index)  # importance, not document order
    # a generation written by an older extractor: its figures are extracted again on the next add
    live = fake_engine.corpus("default").current()
    manifest = json.loads((live / "manifest.json").read_text())
    assert manifest["figures_version"] == FIGURES_VERSION
    manifest["figures_version"] = FIGURES_VERSION - 1
    (live / "manifest.json").write_text(json.dumps(manifest))
    with sqlite3.connect(live / "docs.sqlite") as db:
        db.execute("UPDATE figures SET label = 'old label'")
    fake_engine.close()
    fresh = Engine(fake_engine.index_dir, HashingEncoder(), fake_engine.settings, backend=fake_engine.backend)
    fresh.add([load_text(ARTICLE, title="Skerra lighthouse")])
    assert not [f for f in fresh.figures() if f.label == "old label"]
    assert [f.text for f in fresh.figures(doc_id=seed.doc_id)] == ranked
    fresh.close()


def test_a_question_for_money_is_declined_when_the_best_passage_states_no_amount(tmp_path: Path) -> None:
    from bot.console import NO_ANSWER, format_answer
    from bot.records import answer_from_dict
    from index.documents import load_text

    retrieval = RetrievalSettings(threshold=0.0)  # only the missing amount can decline
    engine = Engine(tmp_path / "index", HashingEncoder(), EngineSettings(seeds_dir=None, retrieval=retrieval))
    text = ("The new Widget Pro goes on sale in March with a larger screen.\n\n"
            "Its maker says the Widget Pro is faster than any phone it has sold.")
    engine.add([load_text(text, title="Widget Pro launch", doc_id="widget")], corpus="news")
    question = "How much will the new Widget Pro cost?"
    answer = engine.ask(question, corpus="news")
    assert not answer.answered and answer.hits, "the passages stay available, the answer is declined"
    assert answer.missing == "money" and not answer.close_call
    assert answer_from_dict(answer.to_dict()).missing == "money"
    assert format_answer(answer).splitlines()[:2] == [
        NO_ANSWER, "Closest passages (not an answer: the best one states no amount of money):"]
    on_sale = engine.ask("When does the new Widget Pro go on sale?", corpus="news")
    assert on_sale.answered and on_sale.missing is None

    engine.use_retrieval(dataclasses.replace(retrieval, decline_missing_measure=False))
    assert engine.ask(question, corpus="news").answered
    engine.use_retrieval(retrieval)
    engine.add([load_text("The Widget Pro will cost $999 when it goes on sale.", title="Widget Pro price",
                          doc_id="price")], corpus="news")
    answer = engine.ask(question, corpus="news")
    assert answer.answered and "$999" in answer.hits[0].context
