"""Can Milvus feed the engine's scoring unchanged? Its first-stage candidates beside FAISS + bm25s (issue 14).

    .venv/bin/python bench/bench_milvus.py ../shared/eval/squad-dev-a.json [--limit 1000] [--index-dir DIR]
        [--milvus-dir DIR] [--sizes 20000,50000] [--out bench/results/milvus.json]

Builds SQuAD-A (24 articles, one corpus) locally with the engine (vectors from its embedding cache when
--index-dir is kept), then stores the same sentences and vectors in milvus-lite (index/milvus_backend.py:
one collection, corpus as partition key, HNSW over the vectors, a BM25 function over the pre-analyzed
terms). For each question, side by side in one loop: the dense top-48 and BM25 top-48 of the local
first stage (what CorpusIndex.candidates starts from) and of Milvus. Prints how much the lists overlap,
whether the sentence holding the answer is among the candidates, and the latency of each. Then a second
corpus (the 12 even-numbered articles) is added to the same collection, and finally the corpus is
written again one article per write (as admins add articles), each time measuring again: milvus-lite
keeps BM25 statistics (document count, average length, document frequencies) per segment.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from common import ROOT, finish_info, machine_info, print_table, summary_ms, write_results
from eval_squad import build_corpus, encode_cached, hits_of, load_squad
from index.embed import ModelEncoder
from index.engine import Engine, EngineSettings
from index.lexical import LexicalIndex
from index.milvus_backend import FirstStage, MilvusCandidates, MilvusConfig, connect
from index.search import CorpusIndex, make_faiss_index

log = logging.getLogger("bench_milvus")


def local_first_stage(idx: CorpusIndex, vector: np.ndarray, question: str, depth: int,
                      timings: dict[str, list[float]]) -> FirstStage:
    """The dense and BM25 lists CorpusIndex.candidates builds before its features (same code)."""
    t0 = time.perf_counter()
    _, dense = idx.faiss.search(np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32), depth)
    dense = dense[0][dense[0] >= 0].astype(np.int64)
    t1 = time.perf_counter()
    bm25 = idx.bm25.scores(question)
    matched = np.flatnonzero(bm25)
    if matched.size > depth:
        matched = matched[np.argpartition(-bm25[matched], depth - 1)[:depth]]
    lexical = matched[np.argsort(-bm25[matched], kind="stable")].astype(np.int64)
    t2 = time.perf_counter()
    timings["local dense"].append(t1 - t0)
    timings["local bm25"].append(t2 - t1)
    return FirstStage(dense=dense, bm25=lexical)


def milvus_first_stage(milvus: MilvusCandidates, corpus: str, vector: np.ndarray, question: str, depth: int,
                       timings: dict[str, list[float]]) -> FirstStage:
    t0 = time.perf_counter()
    dense = milvus.candidates(corpus, vector, "", depth)  # no question terms: dense search only
    t1 = time.perf_counter()
    both = milvus.candidates(corpus, vector, question, depth)
    t2 = time.perf_counter()
    timings["milvus dense"].append(t1 - t0)
    timings["milvus dense+bm25"].append(t2 - t1)
    return FirstStage(dense=dense.dense, bm25=both.bm25)


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Share of ``a``'s ids found in ``b`` (1.0 when both are empty)."""
    return len(np.intersect1d(a, b)) / len(a) if len(a) else float(len(b) == 0)


def compare(local: list[FirstStage], other: list[FirstStage], answer_hits: list) -> dict:
    """Overlap of the candidate lists and answer recall of their union, over all questions."""
    out: dict[str, float] = {}
    for part in ("dense", "bm25"):
        out[f"{part}_overlap@48"] = round(float(np.mean([overlap(getattr(l, part), getattr(o, part))
                                                         for l, o in zip(local, other)])), 4)
        out[f"{part}_overlap@10"] = round(float(np.mean([overlap(getattr(l, part)[:10], getattr(o, part)[:10])
                                                         for l, o in zip(local, other)])), 4)
        out[f"{part}_same_order@10"] = round(float(np.mean([np.array_equal(getattr(l, part)[:10], getattr(o, part)[:10])
                                                            for l, o in zip(local, other)])), 4)
    unions_l = [np.union1d(l.dense, l.bm25) for l in local]
    unions_o = [np.union1d(o.dense, o.bm25) for o in other]
    out["same_candidate_set"] = round(float(np.mean([np.array_equal(a, b) for a, b in zip(unions_l, unions_o)])), 4)
    out["answer_in_local_candidates"] = round(float(np.mean([hit(u) for hit, u in zip(answer_hits, unions_l)])), 4)
    out["answer_in_milvus_candidates"] = round(float(np.mean([hit(u) for hit, u in zip(answer_hits, unions_o)])), 4)
    return out


def run_size(n: int, docs: list, vectors: np.ndarray, questions: list, qvec: np.ndarray, client, settings,
             depth: int) -> dict:  # noqa: ANN001
    """Both first stages over ``n`` sentences (the local one HNSW above settings.approximate_above)."""
    from bench_latency import corpus_of_size

    sized_docs, sized_vectors = corpus_of_size(n, docs, vectors)
    texts = [s.text for d in sized_docs for s in d.sentences]
    t0 = time.perf_counter()
    faiss_index = make_faiss_index(sized_vectors, settings)
    if hasattr(faiss_index, "hnsw"):
        faiss_index.hnsw.efSearch = settings.hnsw_ef_search
    bm25 = LexicalIndex.build(texts)
    local_build = time.perf_counter() - t0
    milvus = MilvusCandidates(client)
    corpus = f"size-{n}"
    milvus.remove(corpus)
    t0 = time.perf_counter()
    milvus.write(corpus, texts, sized_vectors)
    client.flush(milvus.collection)
    milvus.count(corpus)  # the first search after a flush builds the segment's indexes; count it in the build
    milvus.candidates(corpus, qvec[0], questions[0].text, depth)
    milvus_build = time.perf_counter() - t0

    local_idx = SimpleNamespace(faiss=faiss_index, bm25=bm25)  # what local_first_stage reads of a CorpusIndex
    timings: dict[str, list[float]] = {k: [] for k in ("local dense", "local bm25", "milvus dense", "milvus dense+bm25")}
    local, other = [], []
    step = max(1, len(questions) // 200)
    for q, v in list(zip(questions, qvec))[::step]:
        local.append(local_first_stage(local_idx, v, q.text, depth, timings))
        other.append(milvus_first_stage(milvus, corpus, v, q.text, depth, timings))
    quality = {}
    for part in ("dense", "bm25"):
        quality[f"{part}_overlap@48"] = round(float(np.mean([overlap(getattr(l, part), getattr(o, part))
                                                             for l, o in zip(local, other)])), 4)
    latency = {k: summary_ms(v) for k, v in timings.items()}
    build = {"local_faiss_bm25_s": round(local_build, 2), "milvus_write_flush_first_search_s": round(milvus_build, 2),
             "local_dense_index": type(faiss_index).__name__}
    print_table([[k, v] for k, v in {**build, **quality}.items()], [f"{n} sentences", "value"])
    print_table([[k, v["p50_ms"], v["p99_ms"]] for k, v in latency.items()], [f"latency at {n}", "p50 ms", "p99 ms"])
    milvus.remove(corpus)
    return {"build": build, "candidates": quality, "latency": latency, "questions": len(local)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", type=Path)
    parser.add_argument("--limit", type=int, default=1000, help="ask every k-th question, about N in all")
    parser.add_argument("--depth", type=int, default=48, help="candidates from each of dense and BM25")
    parser.add_argument("--index-dir", type=Path, default=None, help="keep the local index and vectors here")
    parser.add_argument("--milvus-dir", type=Path, default=None, help="milvus-lite data here (default: temp)")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "data" / "index" / "models",
                        help="where the ONNX export is kept")
    parser.add_argument("--sizes", default="", help="also compare at these sizes (e.g. 20000,50000): SQuAD "
                        "sentences, then synthetic ones as in bench_latency.py; 200 questions each")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    args.sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    info = machine_info()
    tmp = tempfile.TemporaryDirectory(prefix="bench-milvus-")
    index_dir = args.index_dir or Path(tmp.name) / "index"
    milvus_dir = args.milvus_dir or Path(tmp.name) / "milvus"
    milvus_dir.mkdir(parents=True, exist_ok=True)

    docs, questions = load_squad(args.squad)
    if args.limit and args.limit < len(questions):
        questions = questions[:: -(-len(questions) // args.limit)]
    engine = Engine(index_dir, ModelEncoder(backend="onnx", models_dir=args.models_dir), EngineSettings(seeds_dir=None))
    idx, ranked = build_corpus(engine, "squad-all", docs, list(range(len(docs))))
    qvec = encode_cached(engine, index_dir, [q.text for q in questions])
    texts = [r[0] for r in idx.query("SELECT text FROM sentences ORDER BY id")]
    vectors = np.asarray(idx.vectors, dtype=np.float32)
    settings = engine.settings.retrieval
    print(f"{len(docs)} articles, {idx.size} sentences, {len(questions)} questions")

    # Build side by side: the local first stage's two indexes, and the Milvus collection.
    t0 = time.perf_counter()
    make_faiss_index(vectors, settings)
    LexicalIndex.build(texts)
    local_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    import pymilvus  # noqa: F401  (import cost measured apart from the build)
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    client = connect(MilvusConfig(uri=str(milvus_dir / "milvus.db")))
    connect_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    milvus = MilvusCandidates.create(client, vectors.shape[1], hnsw_m=settings.hnsw_m)
    milvus.remove("squad-all")
    written = milvus.write("squad-all", texts, vectors)
    client.flush(milvus.collection)
    milvus_build = time.perf_counter() - t0
    assert written == idx.size == milvus.count("squad-all"), (written, idx.size, milvus.count("squad-all"))
    build = {"local_faiss_bm25_s": round(local_build, 2), "milvus_write_s": round(milvus_build, 2),
             "pymilvus_import_s": round(import_s, 2), "milvus_lite_start_s": round(connect_s, 2)}
    print_table([[k, v] for k, v in build.items()], ["build", "seconds"])

    answer_hits = [lambda sids, q=q: bool(hits_of(ranked, q, sids).any()) for q in questions]

    def run(label: str) -> tuple[dict, dict]:
        timings: dict[str, list[float]] = {k: [] for k in ("local dense", "local bm25", "milvus dense", "milvus dense+bm25")}
        local, other = [], []
        for q, v in zip(questions, qvec):  # interleaved: both backends see the same machine load
            local.append(local_first_stage(idx, v, q.text, args.depth, timings))
            other.append(milvus_first_stage(milvus, "squad-all", v, q.text, args.depth, timings))
        quality = compare(local, other, answer_hits)
        latency = {k: summary_ms(v) for k, v in timings.items()}
        print_table([[k, v] for k, v in quality.items()], ["candidates: " + label, "value"])
        print_table([[k, v["p50_ms"], v["p99_ms"]] for k, v in latency.items()], ["latency: " + label, "p50 ms", "p99 ms"])
        return quality, latency

    alone = run("squad-all alone in the collection")
    even = [a for a in range(len(docs)) if a % 2 == 0]
    even_texts = [t for t, d in zip(texts, ranked.doc_pos) if ranked.article_of_pos[int(d)] in even]
    even_vectors = vectors[[ranked.article_of_pos[int(d)] in even for d in ranked.doc_pos]]
    milvus.remove("squad-even")
    milvus.write("squad-even", even_texts, even_vectors)
    client.flush(milvus.collection)
    shared = run("squad-all beside squad-even (same collection)")

    # How an admin grows a corpus: one article per write. milvus-lite keeps BM25 statistics per segment.
    milvus.remove("squad-all")
    t0 = time.perf_counter()
    starts = np.flatnonzero(np.r_[True, ranked.doc_pos[1:] != ranked.doc_pos[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], len(texts)]):
        milvus.write("squad-all", texts[a:b], vectors[a:b], first=int(a))
        client.flush(milvus.collection)
    incremental_s = time.perf_counter() - t0
    assert milvus.count("squad-all") == idx.size
    incremental = run(f"squad-all written one article at a time ({len(starts)} writes)")

    scaled = {}
    for n in args.sizes:
        scaled[str(n)] = run_size(n, docs, vectors, questions, qvec, client, settings, args.depth)

    payload = {
        "machine": finish_info(info),
        "corpus": {"articles": len(docs), "sentences": idx.size, "questions": len(questions), "depth": args.depth},
        "build": build,
        "alone": {"candidates": alone[0], "latency": alone[1]},
        "beside_second_corpus": {"candidates": shared[0], "latency": shared[1], "second_corpus_sentences": len(even_texts)},
        "one_article_per_write": {"candidates": incremental[0], "latency": incremental[1],
                                  "writes": len(starts), "write_s": round(incremental_s, 2)},
        "sizes": scaled,
        "milvus": {"uri": "milvus-lite (file)", "pymilvus": pymilvus.__version__,
                   "milvus_lite": __import__("milvus_lite").__version__,
                   "dense_index": f"HNSW M {settings.hnsw_m} efConstruction 80 ef {settings.hnsw_ef_search}",
                   "local_dense_index": type(idx.faiss).__name__},
    }
    print("wrote", write_results("milvus", payload, args.out))
    client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
