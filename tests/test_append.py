"""An add extends the live generation's HNSW index instead of building it anew (index.backend.extended_hnsw).

The new generation gets a copy of the previous graph with the new vectors added; the previous
generation is never changed, and anything but a plain add (a removal, a rebuild, a replaced document,
a damaged previous file, other vectors) builds the graph anew. Small corpora are made to use HNSW with
RetrievalSettings(approximate_above=...).
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from pathlib import Path

import faiss
import numpy as np
import pytest

from index.backend import LocalBackend, extended_hnsw
from index.documents import load_text
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from index.search import RetrievalSettings, make_faiss_index

HNSW = RetrievalSettings(approximate_above=50)
_WORDS = ("harbour budget council ferry bridge tunnel museum school hospital river festival tax rail port "
          "mayor minister union strike grain wheat steel copper energy wind solar coal oil gas price wage "
          "rent loan bank court judge police fire storm flood drought forest farm fishing tourism airport").split()
QUESTIONS = [
    "How much did the harbour budget grow?",
    "What did the mayor say about the ferry?",
    "Why did the union strike at the port?",
    "How much did NATO allies invest in defense in 2024?",
    "What happened to wheat and grain prices?",
    "Who decided on the tunnel and the bridge?",
    "What did the court rule about the rent?",
    "How did the storm and flood affect the farm?",
]


def article(n: int, sentences: int = 12) -> tuple[str, str]:
    """A deterministic made-up article ``n`` of ``sentences`` sentences in paragraphs of three."""
    rng = random.Random(n)
    sents = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 14))).capitalize()
             + f" rose by {rng.randint(2, 90)} percent in {rng.randint(2001, 2025)}." for _ in range(sentences)]
    paras = [" ".join(sents[i : i + 3]) for i in range(0, sentences, 3)]
    return f"Local report {n}", "\n\n".join(paras)


def doc(n: int, sentences: int = 12):  # noqa: ANN201
    title, text = article(n, sentences)
    return load_text(text, title=title, doc_id=f"report-{n}")


def engine_at(folder: Path, seeds: Path, *, extend: bool = True, retrieval: RetrievalSettings = HNSW) -> Engine:
    return Engine(folder, HashingEncoder(), EngineSettings(seeds_dir=seeds, retrieval=retrieval),
                  backend=LocalBackend(extend=extend))


def faiss_sha(folder: Path) -> str:
    return hashlib.sha256((folder / "sentences.faiss").read_bytes()).hexdigest()


def top_hits(engine: Engine, k: int = 3) -> list[list[tuple[str, int]]]:
    return [[(h.doc_id, h.sentence) for h in engine.ask(q, k=k).hits] for q in QUESTIONS]


@pytest.fixture
def hnsw_engine(tmp_path: Path, seeds_dir: Path) -> Engine:
    engine = engine_at(tmp_path / "index", seeds_dir)
    engine.add([doc(i) for i in range(8)])  # the seed article + 8 reports: ~140 sentences, HNSW above 50
    assert engine.stats().index_type == "IndexHNSWFlat"
    yield engine
    engine.close()


def test_an_add_extends_the_live_hnsw_index_and_leaves_it_untouched(hnsw_engine: Engine) -> None:
    cdir = hnsw_engine.corpus("default")
    live = cdir.current()
    before = faiss_sha(live)
    extended = hnsw_engine.backend.extended
    old = faiss.read_index(str(live / "sentences.faiss"))
    report = hnsw_engine.add([doc(100)])
    assert hnsw_engine.backend.extended == extended + 1
    assert faiss_sha(live) == before, "the previous generation's index must not change"
    new = faiss.read_index(str(cdir.current() / "sentences.faiss"))
    assert isinstance(new, faiss.IndexHNSWFlat) and new.ntotal == report.sentences
    assert new.ntotal == old.ntotal + len(doc(100).sentences)
    assert np.array_equal(new.reconstruct_n(0, old.ntotal), old.reconstruct_n(0, old.ntotal))
    # A copy of the previous graph, not a new one: the old nodes keep their levels.
    assert np.array_equal(faiss.vector_to_array(new.hnsw.levels)[: old.ntotal], faiss.vector_to_array(old.hnsw.levels))
    assert "report-100" in {d.doc_id for d in hnsw_engine.documents()}


def test_answers_after_appending_equal_those_after_full_builds(tmp_path: Path, seeds_dir: Path) -> None:
    appending = engine_at(tmp_path / "a", seeds_dir)
    rebuilding = engine_at(tmp_path / "b", seeds_dir, extend=False)
    for engine in (appending, rebuilding):
        engine.add([doc(i) for i in range(8)])
        for n in range(20, 26):  # six adds, one article each
            engine.add([doc(n)])
    assert appending.backend.extended == 6 and rebuilding.backend.extended == 0
    assert top_hits(appending) == top_hits(rebuilding)
    # And the extended graph finds what exact search finds (recall@10 over sentence vectors as queries).
    live = appending.corpus("default").current()
    vectors = np.load(live / "vectors.npy")
    hnsw = faiss.read_index(str(live / "sentences.faiss"))
    hnsw.hnsw.efSearch = HNSW.hnsw_ef_search
    exact = make_faiss_index(vectors, dataclasses.replace(HNSW, approximate_above=10**9))
    queries = vectors[::3]
    _, got = hnsw.search(queries, 10)
    _, want = exact.search(queries, 10)
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)])
    assert recall >= 0.99, recall
    appending.close()
    rebuilding.close()


def test_removals_rebuilds_and_replacements_build_the_index_anew(hnsw_engine: Engine) -> None:
    backend = hnsw_engine.backend
    hnsw_engine.add([doc(100)])
    assert backend.extended == 1
    hnsw_engine.remove("report-3")
    hnsw_engine.build()
    title, text = article(100)
    hnsw_engine.add([load_text(text + "\n\nA late correction was added.", title=title, doc_id="report-100")])
    assert backend.extended == 1, "a removal, a rebuild and a replacement must not extend the previous graph"
    stats = hnsw_engine.stats()
    assert stats.index_type == "IndexHNSWFlat"
    hits = hnsw_engine.ask("late correction", k=1).hits
    assert hits[0].doc_id == "report-100" and "correction" in hits[0].text
    hnsw_engine.add([doc(101)])  # a plain add after all that extends again
    assert backend.extended == 2


def test_an_exact_index_growing_past_the_threshold_is_built_as_hnsw(tmp_path: Path, seeds_dir: Path) -> None:
    engine = engine_at(tmp_path / "index", seeds_dir, retrieval=RetrievalSettings(approximate_above=80))
    engine.ensure()
    assert engine.stats().index_type == "IndexFlatIP"
    engine.add([doc(i) for i in range(6)])
    assert engine.stats().index_type == "IndexHNSWFlat" and engine.backend.extended == 0
    engine.add([doc(50)])
    assert engine.backend.extended == 1
    engine.close()


def test_a_damaged_previous_index_is_not_carried_forward(hnsw_engine: Engine) -> None:
    """Damage after the live generation was checked (bit rot, a stray write) is caught by the
    checksum before the graph is copied: the new generation's graph is built from the vectors."""
    live = hnsw_engine.corpus("default").current()
    raw = bytearray((live / "sentences.faiss").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (live / "sentences.faiss").write_bytes(bytes(raw))
    hnsw_engine.add([doc(100)])
    assert hnsw_engine.backend.extended == 0
    fresh = engine_at(hnsw_engine.index_dir, hnsw_engine.settings.seeds_dir)  # loads and checksums the new one
    assert "$485 billion" in fresh.ask("How much did NATO allies invest in defense in 2024?").hits[0].text
    fresh.close()


def _hnsw(vectors: np.ndarray, settings: RetrievalSettings, folder: Path) -> Path:
    """A minimal generation folder holding an HNSW index of ``vectors`` and its manifest."""
    from index.store import atomic_write, file_table
    import json

    folder.mkdir()
    faiss.write_index(make_faiss_index(vectors, settings), str(folder / "sentences.faiss"))
    atomic_write(folder / "manifest.json", json.dumps({
        "format_version": 4, "generation": 1, "model": "fake", "dimension": vectors.shape[1],
        "index_type": "IndexHNSWFlat", "documents": 1, "sentences": len(vectors), "figures": 0,
        "built_at": "now", "files": file_table(folder)}))
    return folder


def test_other_vectors_or_settings_are_not_extended(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    settings = RetrievalSettings(approximate_above=10, hnsw_m=8)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    previous = _hnsw(vectors[:200], settings, tmp_path / "gen")
    grown = extended_hnsw(previous, vectors, settings)
    assert grown is not None and grown.ntotal == 300
    changed = vectors.copy()
    changed[57, 3] += 1e-6  # one sentence in the middle is not the same any more
    assert extended_hnsw(previous, changed, settings) is None
    assert extended_hnsw(previous, vectors[1:], settings) is None  # the first sentence was removed
    assert extended_hnsw(previous, vectors[:200], settings) is None  # nothing new
    assert extended_hnsw(previous, vectors, dataclasses.replace(settings, hnsw_m=16)) is None
    assert extended_hnsw(previous, vectors[:, :8].copy(), settings) is None  # another model's dimension
    assert extended_hnsw(previous, vectors, dataclasses.replace(settings, approximate_above=1000)) is None


def test_appended_vectors_get_levels_of_their_own(tmp_path: Path) -> None:
    """A loaded faiss index restarts its level generator: without reseeding, every append would give
    its vectors the levels of the first vectors ever added (M=4: a quarter of nodes above level 0)."""
    rng = np.random.default_rng(2)
    settings = RetrievalSettings(approximate_above=10, hnsw_m=4)
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    previous = _hnsw(vectors[:400], settings, tmp_path / "gen")
    grown = extended_hnsw(previous, vectors, settings)
    levels = faiss.vector_to_array(grown.hnsw.levels)
    assert not np.array_equal(levels[400:], levels[:100])
    assert 0.1 < np.mean(levels[400:] > 1) < 0.45  # about 1/M above the base level, as in a full build


def _embedded_counts(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many texts each EmbeddingCache.embed call of ``engine`` is asked for."""
    counts: list[int] = []
    real = engine.cache.embed

    def spy(encoder, texts, **kwargs):  # noqa: ANN001, ANN003, ANN202
        counts.append(len(texts))
        return real(encoder, texts, **kwargs)

    monkeypatch.setattr(engine.cache, "embed", spy)
    return counts


def test_an_add_takes_vectors_and_traits_of_the_kept_sentences_from_the_live_generation(
        hnsw_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from index.engine import context_texts
    from index.search import heading_flags, sentence_traits

    counts = _embedded_counts(hnsw_engine, monkeypatch)
    new = doc(100)
    hnsw_engine.add([new])
    hnsw_engine.add([doc(101), doc(102)])
    # Only the new sentences (then with their context) and titles are looked up.
    n1, n2 = len(new.sentences), len(doc(101).sentences) + len(doc(102).sentences)
    assert counts == [n1, n1, 1, n2, n2, 2]
    # What was taken over equals what computing everything anew gives.
    live = hnsw_engine.corpus("default").current()
    docs = hnsw_engine._live_docs(hnsw_engine.corpus("default"))[0]
    texts = [s.text for d in docs for s in d.sentences]
    encoder = HashingEncoder()
    assert np.array_equal(np.load(live / "vectors.npy"), encoder.encode(texts))
    assert np.array_equal(np.load(live / "context.npy"), encoder.encode(context_texts(docs)))
    assert np.array_equal(np.load(live / "titles.npy"), encoder.encode([d.title for d in docs]))
    headings = [f for d in docs for f in heading_flags(d.title, d.text, d.sentences, d.paragraphs)]
    assert np.array_equal(np.load(live / "sentence_traits.npy"), sentence_traits(texts, headings))


def test_traits_of_another_version_or_changed_code_are_computed_again(hnsw_engine: Engine,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import index.engine as engine_module

    counts = _embedded_counts(hnsw_engine, monkeypatch)
    total = hnsw_engine.stats().sentences
    monkeypatch.setattr(engine_module, "TRAITS_VERSION", engine_module.TRAITS_VERSION + 1)
    hnsw_engine.add([doc(100)])
    assert counts[0] == total + len(doc(100).sentences), "another traits version: everything anew"
    # Traits code that changed without a new version: the sample check notices and computes all again.
    real = engine_module.sentence_traits

    def changed(texts, headings=None):  # noqa: ANN001, ANN202
        out = real(texts, headings)
        out[:, 0] = 1 - out[:, 0]
        return out

    monkeypatch.setattr(engine_module, "sentence_traits", changed)
    counts.clear()
    hnsw_engine.add([doc(101)])
    assert counts[0] == total + len(doc(100).sentences) + len(doc(101).sentences)
    live = hnsw_engine.corpus("default").current()
    traits = np.load(live / "sentence_traits.npy")
    docs = hnsw_engine._live_docs(hnsw_engine.corpus("default"))[0]
    texts = [s.text for d in docs for s in d.sentences]
    assert np.array_equal(traits[:, 0], changed(texts)[:, 0])
