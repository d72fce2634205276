"""Sentence-level answer retrieval on SQuAD, as ../shared/eval/README.md describes it.

    .venv/bin/python bench/eval_squad.py ../shared/eval/squad-dev-a.json [--out bench/results/eval_squad.json]
        [--limit N] [--index-dir DIR] [--encoder onnx|torch] [--backend local|milvus] [--milvus-uri URI]

One document per article (paragraphs joined by a blank line), all articles in one corpus, every question
asked against the whole corpus. A returned sentence is a hit when its [start, end) span in its document
overlaps one answer span. Prints P@1 and MRR@10 for BM25 alone, dense alone, BM25+dense fused by RRF
(k=60, the baseline) and the engine's own scoring (CorpusIndex.search with the RetrievalSettings
defaults), on the tuning half of the articles, the held-out half and all of them; then the no-answer
calibration (questions asked against a corpus without their article, and the seed article's question
sets) and the engine's search latency.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))
import common  # noqa: E402
from index.answertypes import asked_measure, missing_measure  # noqa: E402
from index.embed import ModelEncoder  # noqa: E402
from index.engine import Engine, EngineSettings  # noqa: E402
from index.models import Document  # noqa: E402
from index.search import CorpusIndex  # noqa: E402
from index.segment import split_paragraphs, split_sentences  # noqa: E402

log = logging.getLogger("eval_squad")

RRF_K = 60
RRF_DEPTH = 100  # taken from each of the BM25 and dense rankings for the RRF baseline
TOP = 10
SEEDS = ROOT / "seeds"
SEED_ARTICLE = SEEDS / "nato-defense-ministers.txt"
DATA = ROOT / "tests" / "data"


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    article: int  # position of its article in the SQuAD file
    spans: tuple[tuple[int, int], ...]  # answer [start, end) in the article's document text


@dataclass(frozen=True)
class Ranked:
    """Sentence spans (doc position in the corpus, start, end) of a corpus, by global sentence id."""

    doc_pos: np.ndarray
    start: np.ndarray
    end: np.ndarray
    article_of_pos: dict[int, int]


def load_squad(path: Path) -> tuple[list[Document], list[Question]]:
    """One Document per article and every question with its answer spans in that document."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    docs, questions = [], []
    for a, article in enumerate(data):
        contexts = [p["context"] for p in article["paragraphs"]]
        text = "\n\n".join(contexts)
        offset = 0
        for p, context in zip(article["paragraphs"], contexts):
            for qa in p["qas"]:
                spans = tuple(
                    (offset + ans["answer_start"], offset + ans["answer_start"] + len(ans["text"]))
                    for ans in qa["answers"]
                )
                assert all(text[s:e] == ans["text"] for (s, e), ans in zip(spans, qa["answers"]))
                questions.append(Question(qa["id"], qa["question"], a, spans))
            offset += len(context) + 2
        title = article["title"]
        docs.append(
            Document(
                doc_id=title.lower().replace("(", "").replace(")", "").replace(",", ""),
                title=title.replace("_", " "),
                source=f"squad:{title}",
                text=text,
                sentences=tuple(split_sentences(text)),
                paragraphs=tuple(split_paragraphs(text)),
            )
        )
    return docs, questions


def build_corpus(engine: Engine, name: str, docs: list[Document], articles: list[int]) -> tuple[CorpusIndex, Ranked]:
    """Index the given articles as corpus ``name`` (vectors come from the engine's cache when known)."""
    if engine.has_corpus(name):
        idx = engine.index(name)
        have = [r[0] for r in idx.query("SELECT doc_id FROM documents ORDER BY pos")]
        if have != [docs[a].doc_id for a in articles]:
            for doc_id in have:
                engine.remove(doc_id, corpus=name)
    if not engine.has_corpus(name) or engine.index(name).size == 0:
        engine.add([docs[a] for a in articles], corpus=name)
    idx = engine.index(name)
    rows = idx.query('SELECT doc_pos, start, "end" FROM sentences ORDER BY id')
    arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
    pos_of = {r[0]: r[1] for r in idx.query("SELECT doc_id, pos FROM documents")}
    article_of_pos = {pos_of[docs[a].doc_id]: a for a in articles}
    return idx, Ranked(arr[:, 0], arr[:, 1], arr[:, 2], article_of_pos)


def hits_of(ranked: Ranked, q: Question, sids: np.ndarray) -> np.ndarray:
    """Whether each returned sentence overlaps one of the question's answer spans."""
    sids = np.asarray(sids, dtype=np.int64)
    out = np.zeros(len(sids), dtype=bool)
    for i, sid in enumerate(sids):
        if ranked.article_of_pos.get(int(ranked.doc_pos[sid])) != q.article:
            continue
        s, e = ranked.start[sid], ranked.end[sid]
        out[i] = any(s < b and a < e for a, b in q.spans)
    return out


def p1_mrr(hit_rows: list[np.ndarray]) -> dict[str, float]:
    p1 = float(np.mean([h[0] if len(h) else False for h in hit_rows]))
    rr = [1.0 / (int(np.argmax(h[:TOP])) + 1) if h[:TOP].any() else 0.0 for h in hit_rows]
    return {"p1": round(p1, 4), "mrr10": round(float(np.mean(rr)), 4), "n": len(hit_rows)}


def encode_cached(engine: Engine, folder: Path, texts: list[str]) -> np.ndarray:
    """Question vectors, kept beside the index so a rerun does not encode them again."""
    key = hashlib.blake2b("\x00".join([engine.encoder.name, *texts]).encode(), digest_size=8).hexdigest()
    path = folder / f"questions-{key}.npy"
    if path.exists():
        return np.load(path)
    vectors = engine.embed_questions(texts)
    np.save(path, vectors)
    return vectors


def rank_all(idx: CorpusIndex, questions: list[Question], vectors: np.ndarray, ranked: Ranked) -> dict[str, list]:
    """Hits of the top 10 of each method, for each question; and engine search timings."""
    out: dict[str, list] = {"bm25": [], "dense": [], "rrf": [], "engine": []}
    timings = []
    n = idx.size
    depth = min(n, RRF_DEPTH)
    local = hasattr(idx, "faiss")  # the baselines read the local FAISS and bm25s files; Milvus: the engine only
    for q, v in zip(questions, vectors):
        t0 = time.perf_counter()
        scored = idx.search(v, q.text, TOP)
        timings.append(time.perf_counter() - t0)
        out["engine"].append(hits_of(ranked, q, np.array([s.sid for s in scored])))
        if not local:
            continue
        bm25 = idx.bm25.scores(q.text)
        bm25_top = np.argsort(-bm25, kind="stable")[:depth]
        bm25_top = bm25_top[bm25[bm25_top] > 0]
        _, dense_top = idx.faiss.search(v.reshape(1, -1).astype(np.float32), depth)
        dense_top = dense_top[0][dense_top[0] >= 0]
        rrf: dict[int, float] = {}
        for ranking in (dense_top, bm25_top):
            for r, sid in enumerate(ranking):
                rrf[int(sid)] = rrf.get(int(sid), 0.0) + 1.0 / (RRF_K + r + 1)
        rrf_top = sorted(rrf, key=lambda s: -rrf[s])[:TOP]
        out["bm25"].append(hits_of(ranked, q, bm25_top[:TOP]))
        out["dense"].append(hits_of(ranked, q, dense_top[:TOP]))
        out["rrf"].append(hits_of(ranked, q, np.array(rrf_top)))
    out["timings"] = timings
    return out


def confidences(idx: CorpusIndex, questions: list[str], vectors: np.ndarray, context: int = 1) -> np.ndarray:
    """The confidence of each question's answer, 0 where the engine declines it for a missing measured value
    (RetrievalSettings.decline_missing_measure, judged on the best sentence's window as Engine._answer does)."""
    out = []
    for q, v in zip(questions, vectors):
        scored = idx.search(v, q, 3)
        c = idx.confidence(scored[0]) if scored else 0.0
        kind = asked_measure(q) if scored and idx.settings.decline_missing_measure else None
        if kind:
            doc, para, number = idx.query("SELECT doc_pos, paragraph, sentence FROM sentences WHERE id = ?", (scored[0].sid,))[0]
            window = " ".join(r[0] for r in idx.query(
                "SELECT text FROM sentences WHERE doc_pos = ? AND paragraph = ? AND sentence BETWEEN ? AND ? ORDER BY sentence",
                (doc, para, number - context, number + context)))
            c = 0.0 if missing_measure(q, window) else c
        out.append(c)
    return np.array(out)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def seed_check(engine: Engine, threshold: float) -> dict:
    """The seed article's in-scope questions (answered, expected sentence in the top 3) and out-of-scope ones."""
    seed_doc_text = SEED_ARTICLE.read_text(encoding="utf-8")
    doc = Document(
        doc_id="nato-defense-ministers", title="NATO defense ministers", source=str(SEED_ARTICLE),
        text=seed_doc_text, sentences=tuple(split_sentences(seed_doc_text)),
        paragraphs=tuple(split_paragraphs(seed_doc_text)),
    )
    if not engine.has_corpus("seed"):
        engine.add([doc], corpus="seed")
    inscope = read_jsonl(DATA / "seed_questions.jsonl")
    outscope = read_jsonl(DATA / "out_of_scope.jsonl")
    rows = []
    for item, answer in zip(inscope, engine.ask_many([x["question"] for x in inscope], corpus="seed", k=3)):
        rank = next((h.rank for h in answer.hits if any(p in h.text for p in item["expect_any"])), None)
        rows.append({"question": item["question"], "answered": answer.answered,
                     "confidence": round(answer.confidence, 3), "rank": rank})
    outs = []
    for item, answer in zip(outscope, engine.ask_many([x["question"] for x in outscope], corpus="seed", k=3)):
        outs.append({"question": item["question"], "answered": answer.answered, "confidence": round(answer.confidence, 3)})
    return {
        "in_scope_answered": sum(r["answered"] for r in rows),
        "in_scope_top3": sum(r["rank"] is not None for r in rows),
        "in_scope_rank1": sum(r["rank"] == 1 for r in rows),
        "in_scope": len(rows),
        "min_in_scope_confidence": min(r["confidence"] for r in rows),
        "out_of_scope_declined": sum(not r["answered"] for r in outs),
        "out_of_scope": len(outs),
        "max_out_of_scope_confidence": max(r["confidence"] for r in outs),
        "threshold": threshold,
        "questions": rows,
        "out_of_scope_questions": outs,
    }


def split_articles(count: int) -> tuple[list[int], list[int]]:
    """Tuning articles (even positions) and held-out articles (odd positions)."""
    return list(range(0, count, 2)), list(range(1, count, 2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "eval_squad.json")
    parser.add_argument("--limit", type=int, default=None, help="ask only every k-th question, about N in all")
    parser.add_argument("--index-dir", type=Path, default=None, help="keep the index here (default: a temp dir)")
    parser.add_argument("--encoder", choices=("onnx", "torch"), default="onnx",
                        help="run the model with ONNX Runtime (the default runtime) or sentence-transformers")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "data" / "index" / "models",
                        help="where the ONNX export is kept (default: the default index directory's)")
    common.add_backend_options(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)

    t0 = time.perf_counter()
    docs, questions = load_squad(args.squad)
    if args.limit and args.limit < len(questions):
        questions = questions[:: -(-len(questions) // args.limit)]
    print(f"{len(docs)} articles, {sum(len(d.sentences) for d in docs)} sentences, {len(questions)} questions "
          f"(loaded and segmented in {time.perf_counter() - t0:.1f} s)")

    tmp = None
    if args.index_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="eval-squad-")
        args.index_dir = Path(tmp.name)
    encoder = ModelEncoder(backend=args.encoder, models_dir=args.models_dir)
    engine = Engine(args.index_dir, encoder, EngineSettings(seeds_dir=None),
                    backend=common.index_backend(args.backend, args.index_dir, args.milvus_uri))
    settings = engine.settings.retrieval
    t0 = time.perf_counter()
    idx, ranked = build_corpus(engine, "squad-all", docs, list(range(len(docs))))
    print(f"indexed in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    vectors = encode_cached(engine, args.index_dir, [q.text for q in questions])
    print(f"{len(questions)} questions encoded in {time.perf_counter() - t0:.1f} s")

    tune, held = split_articles(len(docs))
    res = rank_all(idx, questions, vectors, ranked)
    parts = {
        "tuning": [i for i, q in enumerate(questions) if q.article in tune],
        "held_out": [i for i, q in enumerate(questions) if q.article in held],
        "all": list(range(len(questions))),
    }
    table = {m: {p: p1_mrr([res[m][i] for i in ids]) for p, ids in parts.items()}
             for m in ("bm25", "dense", "rrf", "engine") if res[m]}
    names = {"bm25": "BM25 alone", "dense": "dense alone", "rrf": "BM25+dense RRF k=60 (baseline)",
             "engine": "engine (RetrievalSettings defaults)"}
    print(f"\n{'method':38} {'tune P@1':>8} {'MRR@10':>7} {'held P@1':>8} {'MRR@10':>7} {'all P@1':>8} {'MRR@10':>7}")
    for m, row in table.items():
        print(f"{names[m]:38} " + " ".join(f"{row[p]['p1']:8.3f} {row[p]['mrr10']:7.3f}" for p in parts))
    print("(the engine row uses the shipped LambdaMART ranker, which was fitted on these questions: it is "
          "in-sample; bench/tune_ranker.py gives the cross-validated figure)")
    t = np.array(res["timings"]) * 1000
    latency = {"p50_ms": round(float(np.percentile(t, 50)), 2), "p95_ms": round(float(np.percentile(t, 95)), 2),
               "sentences": idx.size}
    print(f"engine search (no encoding), {idx.size} sentences: p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms")

    # No-answer calibration: each half of the articles as a corpus, asked its own questions (in scope)
    # and the other half's (out of scope: their article is not there).
    calib = {}
    for name, own, other in (("tuning", tune, held), ("held_out", held, tune)):
        cidx, _ = build_corpus(engine, f"squad-{name}", docs, own)
        ins = [i for i, q in enumerate(questions) if q.article in own]
        outs = [i for i, q in enumerate(questions) if q.article in other]
        c_in = confidences(cidx, [questions[i].text for i in ins], vectors[ins])
        c_out = confidences(cidx, [questions[i].text for i in outs], vectors[outs])
        calib[name] = {
            "in_scope_answered": round(float(np.mean(c_in >= settings.threshold)), 4),
            "out_of_scope_declined": round(float(np.mean(c_out < settings.threshold)), 4),
            "in_scope": len(ins), "out_of_scope": len(outs),
        }
    c_all = confidences(idx, [q.text for q in questions], vectors)
    calib["all_in_scope_answered"] = round(float(np.mean(c_all >= settings.threshold)), 4)
    seed = seed_check(engine, settings.threshold)
    print(f"\nno-answer calibration, threshold {settings.threshold}:")
    for name in ("tuning", "held_out"):
        c = calib[name]
        print(f"  corpus = {name} articles: own questions answered {c['in_scope_answered']:.3f} (n={c['in_scope']}), "
              f"other half's questions declined {c['out_of_scope_declined']:.3f} (n={c['out_of_scope']})")
    print(f"  whole corpus: questions answered {calib['all_in_scope_answered']:.3f}")
    print(f"  seed article: {seed['in_scope_answered']}/{seed['in_scope']} answered "
          f"(min confidence {seed['min_in_scope_confidence']}), expected sentence in top 3 {seed['in_scope_top3']}, "
          f"at rank 1 {seed['in_scope_rank1']}; out of scope declined {seed['out_of_scope_declined']}/"
          f"{seed['out_of_scope']} (max confidence {seed['max_out_of_scope_confidence']})")

    result = {
        "data": str(args.squad), "backend": args.backend, "encoder": encoder.loaded, "articles": len(docs), "sentences": idx.size, "questions": len(questions),
        "split": {"tuning_articles": [docs[a].title for a in tune], "held_out_articles": [docs[a].title for a in held]},
        "settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
        "retrieval": table, "search_latency": latency, "calibration": calib, "seed": seed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwritten to {args.out}")
    engine.close()
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
