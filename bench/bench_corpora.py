"""Per-server corpora at 100 servers: one FAISS index per corpus (what the engine does) versus one shared
FAISS index holding every corpus's sentences, searched with per-corpus ID filtering.

One process, the real model (loaded once). Each of the 100 corpora is the seeds plus one distinct
synthetic article of about 20 sentences, built the way the bot builds a server's corpus
(``Engine.ensure`` from the seeds, then ``Engine.add``). Figures are medians where repeated; the
machine is shared, so the load average is recorded with them.

    .venv/bin/python bench/bench_corpora.py [--corpora 100] [--asks 400] [--out bench/results/corpora.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import faiss  # noqa: E402

from index.documents import load_text  # noqa: E402
from index.engine import Engine, EngineSettings  # noqa: E402
from index.lexical import LexicalIndex  # noqa: E402

SEEDS = ROOT / "seeds"

TOWNS = ["Arvenholt", "Brisca", "Calder Falls", "Dunmore", "Elsway", "Farrowgate", "Glenhaven", "Harlow Bay",
         "Iverton", "Juniper Ridge", "Kestrel Point", "Lowmere", "Marrowby", "Northfen", "Oakhurst", "Pellston",
         "Quarry Hill", "Redwater", "Saltmarsh", "Thornbury", "Upton Vale", "Varley", "Westcombe", "Yarrow"]
PEOPLE = ["Maria Okafor", "Tomas Lindqvist", "Priya Raman", "Jonas Weber", "Aiko Tanaka", "Samuel Reyes",
          "Hannah Müller", "Diego Alvarez", "Fatima Haddad", "Liam O'Connor", "Chen Wei", "Grace Mensah"]
TOPICS = [
    ("water treatment plant", "the council", "litres of water a day", "residents"),
    ("wind farm", "the energy board", "megawatts", "households"),
    ("hospital wing", "the health trust", "beds", "patients"),
    ("tram line", "the transport authority", "passengers a day", "commuters"),
    ("school expansion", "the education office", "pupils", "families"),
    ("harbour dredging project", "the port authority", "tonnes of cargo a week", "shipping firms"),
    ("broadband rollout", "the digital agency", "homes connected", "rural households"),
    ("flood barrier", "the environment agency", "metres of embankment", "property owners"),
]


def synthetic_article(i: int, rng: random.Random) -> tuple[str, str, str]:
    """A realistic ~20-sentence local-news article with figures; (title, text, a question it answers)."""
    town = f"{rng.choice(TOWNS)}-{i}"
    thing, body, unit, who = TOPICS[i % len(TOPICS)]
    person, other = rng.sample(PEOPLE, 2)
    cost = rng.randint(12, 480)
    size = rng.randint(200, 9000)
    year = rng.choice([2025, 2026, 2027, 2028])
    share = rng.randint(11, 74)
    jobs = rng.randint(40, 900)
    title = f"{town} approves {cost} million euro {thing}"
    paragraphs = [
        f"{body.capitalize()} of {town} approved a {cost} million euro {thing} on Tuesday after a two-hour debate. "
        f"The vote passed by {rng.randint(9, 15)} to {rng.randint(2, 8)}, with two members abstaining. "
        f"Work is expected to begin in the spring and finish by {year}.",
        f"{person}, who chairs {body}, said the project would serve about {size} {unit} once complete. "
        f"\"This is the largest investment {town} has made in a generation,\" {person.split()[0]} said. "
        f"She added that {share}% of the cost would be covered by a regional grant.",
        f"Critics questioned the timetable. {other}, a local business owner, said earlier projects had run "
        f"over budget by as much as {rng.randint(10, 40)}%. "
        f"\"We have heard promises like this before,\" {other.split()[0]} told reporters outside the town hall. "
        f"The opposition group asked for an independent review of the contracts.",
        f"According to the plan, the {thing} will create {jobs} construction jobs and {jobs // 10} permanent posts. "
        f"Contracts will be tendered in three lots, the first of them before the end of the year. "
        f"Local suppliers will be given priority where the rules allow it.",
        f"{who.capitalize()} in the eastern districts are expected to benefit first. "
        f"A public consultation drew {rng.randint(300, 4000)} responses, most of them in favour. "
        f"Some residents raised concerns about noise and traffic during construction.",
        f"The project follows a {rng.randint(2, 9)}-year campaign by residents' associations. "
        f"Officials said a progress report would be published every six months. "
        f"The next council meeting on the {thing} is scheduled for {rng.choice(['March', 'June', 'September'])}.",
        f"{body.capitalize()} will also set aside {rng.randint(1, 9)} million euros for maintenance. "
        f"Independent engineers will inspect the site twice a year.",
    ]
    question = f"How much will the {thing} in {town} cost?"
    return title, "\n\n".join(paragraphs), question


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def ms(values: list[float]) -> dict:
    return {"p50_ms": round(statistics.median(values) * 1000, 3), "p99_ms": round(pct(values, 0.99) * 1000, 3),
            "n": len(values)}


class SharedIndex:
    """The alternative: every corpus's sentences in one FAISS index (seed sentences stored once) and one BM25,
    each corpus being a set of allowed sentence ids passed to FAISS as an IDSelectorBatch."""

    def __init__(self, vectors: np.ndarray, texts: list[str], allowed: dict[str, np.ndarray]) -> None:
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.bm25 = LexicalIndex.build(texts)
        self.allowed = allowed
        self.selectors = {name: faiss.IDSelectorBatch(ids) for name, ids in allowed.items()}
        self.masks = {}
        for name, ids in allowed.items():
            mask = np.zeros(len(texts), dtype=bool)
            mask[ids] = True
            self.masks[name] = mask

    def candidates(self, corpus: str, vector: np.ndarray, question: str, depth: int) -> np.ndarray:
        """Dense top-depth ∪ BM25 top-depth among the corpus's sentences (the retrieval stage of CorpusIndex)."""
        params = faiss.SearchParameters(sel=self.selectors[corpus])
        _, dense = self.index.search(vector.reshape(1, -1), depth, params=params)
        scores = self.bm25.scores(question)
        scores = np.where(self.masks[corpus], scores, 0.0)
        top = np.argpartition(-scores, depth - 1)[:depth]
        top = top[scores[top] > 0]
        return np.unique(np.concatenate([dense[0][dense[0] >= 0], top]))


def decision(r: dict) -> str:
    """The choice, argued from the measured numbers."""
    per, shared, proj = r["per_corpus"], r["shared_filtered"], r["projection_100k_sentences_dense_only"]
    shared_add = shared["add_article_seconds_median (engine generation writer over all documents)"]
    return (
        f"Keep one FAISS index per corpus (one generation folder each, in the one index directory). "
        f"Latency does not decide it at 100 corpora: a warm ask is {per['ask_warm']['p50_ms']:.0f} ms p50, of which "
        f"encoding the question is {per['question_encode']['p50_ms']:.0f} ms; dense search is "
        f"{per['dense_search']['p50_ms']:.3f} ms per corpus vs {shared['dense_search_filtered']['p50_ms']:.3f} ms "
        f"filtered in the shared index. Writes do: adding one article costs "
        f"{r['per_corpus_add_same_article_seconds_median (sentences cached, as in the shared row)']:.2f} s per corpus but {shared_add:.2f} s as a new shared "
        f"generation, and the shared cost grows with every server's data (bm25s cannot add incrementally; the "
        f"generation is rewritten whole for the atomic switch) behind one global writer lock. The shared flat "
        f"search also scans every server's vectors: at 100k sentences {proj['shared_flat_with_IDSelectorBatch']['p50_ms']:.2f} ms "
        f"vs {proj['per_corpus_flat']['p50_ms']:.2f} ms p50. Per corpus, isolation is structural (no other "
        f"server's rows exist to leak through BM25, paragraphs, figures or SQL, which a filter would have to cover "
        f"on every path), a corrupt file or a crash mid-write affects one server and is rebuilt alone, and idle "
        f"corpora are dropped from memory (LRU). The price: {per['disk_mb_per_corpus']:.2f} MB of disk and "
        f"{per['rss_all_loaded (fresh process, no model)']['rss_mb_per_loaded_corpus']:.2f} MB of RAM per loaded "
        f"corpus (each repeats the seeds), {per['ensure_from_seeds_seconds_median']:.2f} s to create one from the "
        f"seeds thanks to the shared embedding cache."
    )


def rss_probe(folder: Path, model: str, dimension: int) -> dict:
    """In a fresh process (no model, no build garbage): RSS before and after loading every corpus of ``folder``."""
    import gc

    from index.embed import HashingEncoder

    engine = Engine(folder, HashingEncoder(dimension=dimension, name=model), EngineSettings(max_loaded=10_000))
    names = [n for n in engine.corpora() if n.isdigit()]
    engine.index(names[0])  # imports and first-use allocations out of the baseline
    gc.collect()
    before = rss_mb()
    for name in names:
        engine.index(name)
    after = rss_mb()
    return {"corpora": len(names), "rss_mb_before": round(before, 1), "rss_mb_all_loaded": round(after, 1),
            "rss_mb_per_loaded_corpus": round((after - before) / max(1, len(names) - 1), 3)}


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--rss-probe":
        print(json.dumps(rss_probe(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=int, default=100)
    parser.add_argument("--asks", type=int, default=400)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "corpora.json")
    parser.add_argument("--keep", type=Path, default=None, help="build in this folder and keep it")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rng = random.Random(7)
    load_before = os.getloadavg()

    from index.embed import SentenceTransformerEncoder

    t = time.perf_counter()
    encoder = SentenceTransformerEncoder()
    model_load = time.perf_counter() - t
    encoder.encode(["warm-up sentence"])
    rss_model = rss_mb()

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-corpora-"))
    if workdir.exists() and args.keep:
        shutil.rmtree(workdir)
    engine = Engine(workdir, encoder, EngineSettings(seeds_dir=SEEDS, max_loaded=max(256, args.corpora)))

    names = [f"{1_100_000_000_000_000_000 + i}" for i in range(args.corpora)]  # guild ids, as the bot names them
    articles = [synthetic_article(i, rng) for i in range(args.corpora)]
    docs = [load_text(text, title=title) for title, text, _ in articles]

    # ---------------------------------------------------------------- per-corpus: build
    ensure_s, add_s = [], []
    started = time.perf_counter()
    for name, doc in zip(names, docs):
        t = time.perf_counter()
        engine.ensure(name)
        ensure_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        engine.add([doc], corpus=name)
        add_s.append(time.perf_counter() - t)
    total_build = time.perf_counter() - started
    corpora_mb = disk_mb(workdir / "corpora")
    cache_mb = sum(p.stat().st_size for p in workdir.glob("embeddings.sqlite*")) / 1e6
    per_corpus_mb = corpora_mb / len(names)

    # ---------------------------------------------------------------- per-corpus: memory and latency
    import gc
    import subprocess

    probe = json.loads(subprocess.run(
        [sys.executable, __file__, "--rss-probe", str(workdir), encoder.name, str(encoder.dimension)],
        check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    engine._indexes.clear()  # time loading all of them from disk, as after a restart
    gc.collect()
    t = time.perf_counter()
    for name in names:
        engine.index(name)
    load_all = time.perf_counter() - t

    picks = [rng.randrange(len(names)) for _ in range(args.asks)]
    for i in picks[:20]:  # warm-up
        engine.ask(articles[i][2], corpus=names[i])
    ask_s, retrieve_s, own_hits = [], [], 0
    vectors = {}
    for i in picks:
        question = articles[i][2]
        t = time.perf_counter()
        answer = engine.ask(question, corpus=names[i])
        ask_s.append(time.perf_counter() - t)
        own_hits += bool(answer.hits) and answer.hits[0].doc_id == docs[i].doc_id
        vectors.setdefault(i, engine.embed_questions([question])[0])
    depth = 9  # k * 3, as Engine._answer asks for
    for i in picks:
        idx = engine.index(names[i])
        t = time.perf_counter()
        idx.candidates(vectors[i], articles[i][2], depth)
        retrieve_s.append(time.perf_counter() - t)
    dense_s = []
    for i in picks:
        idx = engine.index(names[i])
        t = time.perf_counter()
        idx.faiss.search(vectors[i].reshape(1, -1), depth)
        dense_s.append(time.perf_counter() - t)
    encode_s = []
    for i in picks[:100]:
        t = time.perf_counter()
        engine.embed_questions([articles[i][2]])
        encode_s.append(time.perf_counter() - t)

    # ---------------------------------------------------------------- shared index with ID filtering
    seed_idx = engine.index(names[0])
    n_seed = int((seed_idx.sent_doc == 0).sum())
    seed_vectors = np.asarray(seed_idx.vectors[:n_seed])
    seed_texts = [r[0] for r in seed_idx.query("SELECT text FROM sentences WHERE doc_pos = 0 ORDER BY id")]
    all_vectors, all_texts, allowed = [seed_vectors], list(seed_texts), {}
    offset = n_seed
    for name in names:
        idx = engine.index(name)
        mine = np.flatnonzero(idx.sent_doc == 1)
        all_vectors.append(np.asarray(idx.vectors[mine]))
        all_texts += [r[0] for r in idx.query("SELECT text FROM sentences WHERE doc_pos = 1 ORDER BY id")]
        allowed[name] = np.concatenate([np.arange(n_seed), np.arange(offset, offset + len(mine))]).astype(np.int64)
        offset += len(mine)
    stacked = np.concatenate(all_vectors)
    gc.collect()
    rss_before_shared = rss_mb()
    t = time.perf_counter()
    shared = SharedIndex(stacked, all_texts, allowed)
    shared_build = time.perf_counter() - t
    rss_shared = rss_mb() - rss_before_shared
    for i in picks[:20]:
        shared.candidates(names[i], vectors[i], articles[i][2], depth)
    shared_dense_s = []
    for i in picks:
        params = faiss.SearchParameters(sel=shared.selectors[names[i]])
        t = time.perf_counter()
        shared.index.search(vectors[i].reshape(1, -1), depth, params=params)
        shared_dense_s.append(time.perf_counter() - t)
    shared_s, agree = [], 0
    for i in picks:
        t = time.perf_counter()
        ids = shared.candidates(names[i], vectors[i], articles[i][2], depth)
        shared_s.append(time.perf_counter() - t)
        agree += bool(set(ids.tolist()) <= set(allowed[names[i]].tolist()))

    # what an add costs in the shared design: a new generation of the whole shared index (FAISS file + BM25),
    # since bm25s cannot add incrementally and a generation is written whole for the atomic switch
    extra_title, extra_text, _ = synthetic_article(10_000, rng)
    extra = load_text(extra_text, title=extra_title)
    shared_add_s = []
    tmp = workdir / "shared-gen"
    for _ in range(3):
        t = time.perf_counter()
        new_vectors, _embedded = engine.cache.embed(encoder, [s.text for s in extra.sentences])
        grown = np.concatenate([stacked, new_vectors])
        index = faiss.IndexFlatIP(grown.shape[1])
        index.add(np.ascontiguousarray(grown, dtype=np.float32))
        tmp.mkdir(exist_ok=True)
        faiss.write_index(index, str(tmp / "sentences.faiss"))
        LexicalIndex.build(all_texts + [s.text for s in extra.sentences]).save(tmp / "bm25-sentences")
        shared_add_s.append(time.perf_counter() - t)
    shared_disk = disk_mb(tmp)
    # the same with the engine's own generation writer (docs.sqlite, figures, paragraphs, both BM25s, fsync):
    # one corpus holding the seeds and all articles, then one more article added to it
    engine.ensure("shared-all")
    engine.add(docs, corpus="shared-all")
    shared_engine_add_s = []
    for j in range(3):
        variant = load_text(extra_text.replace("approved", f"approved (update {j})"), title=f"{extra_title} {j}")
        t = time.perf_counter()
        engine.add([variant], corpus="shared-all")
        shared_engine_add_s.append(time.perf_counter() - t)
    shared_gen_mb = disk_mb(engine.corpus("shared-all").current())
    # the per-corpus add of the same article to one corpus (a fresh corpus so the article is new to it)
    per_add_s = []
    for j in range(3):
        name = f"extra-{j}"
        engine.ensure(name)
        t = time.perf_counter()
        engine.add([extra], corpus=name)
        per_add_s.append(time.perf_counter() - t)

    # ---------------------------------------------------------------- scaling projection (synthetic vectors)
    # 100 servers that each added 50 articles of 20 sentences: 100k sentences. Dense search only.
    big_n, per = 100 * 50 * 20, 50 * 20 + n_seed
    rs = np.random.default_rng(0)
    big = rs.standard_normal((big_n, stacked.shape[1])).astype(np.float32)
    big /= np.linalg.norm(big, axis=1, keepdims=True)
    big_index = faiss.IndexFlatIP(big.shape[1])
    big_index.add(big)
    small_index = faiss.IndexFlatIP(big.shape[1])
    small_index.add(big[:per])
    sel = faiss.IDSelectorBatch(np.arange(per, dtype=np.int64))
    params = faiss.SearchParameters(sel=sel)
    queries = big[rs.integers(0, per, 200)]
    big_s, small_s = [], []
    for q in queries:
        q = q.reshape(1, -1)
        t = time.perf_counter()
        big_index.search(q, depth, params=params)
        big_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        small_index.search(q, depth)
        small_s.append(time.perf_counter() - t)

    result = {
        "what": "per-server corpora: one FAISS index per corpus vs one shared FAISS index with ID filtering",
        "setup": {
            "corpora": len(names), "seed_sentences": n_seed,
            "article_sentences_median": statistics.median(len(d.sentences) for d in docs),
            "model": encoder.name, "model_load_seconds": round(model_load, 2),
            "cpu_count": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "per_corpus": {
            "total_build_seconds": round(total_build, 2),
            "ensure_from_seeds_seconds_median": round(statistics.median(ensure_s), 3),
            "add_new_article_seconds_median (embeds its ~21 sentences)": round(statistics.median(add_s), 3),
            "add_article_seconds_p99": round(pct(add_s, 0.99), 3),
            "disk_mb_corpora": round(corpora_mb, 2), "disk_mb_per_corpus": round(per_corpus_mb, 3),
            "disk_mb_embedding_cache": round(cache_mb, 2),
            "rss_mb_model_only": round(rss_model, 1),
            "rss_all_loaded (fresh process, no model)": probe,
            "rss_mb_bot_estimate_all_loaded": round(rss_model + probe["rss_mb_all_loaded"] - probe["rss_mb_before"], 1),
            "load_all_seconds": round(load_all, 2),
            "ask_warm": ms(ask_s),
            "question_encode": ms(encode_s),
            "retrieval_stage": ms(retrieve_s),
            "dense_search": ms(dense_s),
            "own_article_ranked_first": f"{own_hits}/{len(picks)}",
        },
        "shared_filtered": {
            "sentences": int(stacked.shape[0]),
            "build_seconds": round(shared_build, 3),
            "rss_mb": round(rss_shared, 1),
            "retrieval_stage": ms(shared_s),
            "results_within_corpus": f"{agree}/{len(picks)}",
            "add_article_seconds_median (new shared generation: FAISS + BM25 over everything)":
                round(statistics.median(shared_add_s), 3),
            "disk_mb_faiss_and_bm25_only": round(shared_disk, 2),
            "add_article_seconds_median (engine generation writer over all documents)":
                round(statistics.median(shared_engine_add_s), 3),
            "disk_mb_one_full_generation": round(shared_gen_mb, 2),
            "dense_search_filtered": ms(shared_dense_s),
        },
        "per_corpus_add_same_article_seconds_median (sentences cached, as in the shared row)": round(statistics.median(per_add_s), 3),
        "projection_100k_sentences_dense_only": {
            "note": "100 servers x 50 articles x 20 sentences, random unit vectors; one server's 1,013 sentences",
            "shared_flat_with_IDSelectorBatch": ms(big_s),
            "per_corpus_flat": ms(small_s),
        },
    }
    result["decision"] = decision(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    engine.close()
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
