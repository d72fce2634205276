"""Fit the no-answer model (RetrievalSettings.confidence_weights) and pick the threshold.

    .venv/bin/python bench/tune_confidence.py ../shared/eval/news-dev ../shared/eval/squad-dev-a.json
        [--index-dir data/tune] [--target-answered 0.965] [--out bench/results/tune_confidence.json]

Examples, each the engine's best sentence for one question (with the current ranker):
- answerable: news-dev's 120 questions on the 30 pages; SQuAD questions asked of a 12-article corpus
  that holds their article;
- not answerable: news-dev's 20 out-of-scope questions (10 off-topic, 10 near misses); SQuAD questions
  asked of the other 12 articles (their article is not there).
A logistic regression over CorpusIndex.confidence's eight inputs is fitted with news-dev weighted
``--news-weight`` to one SQuAD question. The threshold is the highest that still answers
``--target-answered`` of news-dev's in-scope questions. Reported with 5-fold cross-validation over
news-dev (pages and out-of-scope questions split into folds, the threshold chosen on the training
folds), and on SQuAD's halves; then the seed article's questions as a check.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

INPUTS = ("dense", "paragraph_dense", "title", "coverage", "paragraph_coverage", "entity_coverage", "type_missing")


def rows(idx, questions: list[str], vectors: np.ndarray) -> np.ndarray:
    out = []
    for q, v in zip(questions, vectors):
        scored = idx.search(v, q, 3)
        best = scored[0] if scored else None
        out.append([getattr(best, name) if best else 0.0 for name in INPUTS])
    return np.array(out, dtype=np.float64)


def fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(X, y, sample_weight=w)
    return np.r_[model.coef_[0], model.intercept_[0]]


def prob(X: np.ndarray, coef: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(X @ coef[:-1] + coef[-1])))


def threshold_for(p_in: np.ndarray, target: float) -> float:
    """The highest threshold that answers at least ``target`` of the in-scope questions."""
    return float(np.quantile(p_in, 1.0 - target, method="lower"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("news_dev", type=Path)
    parser.add_argument("squad", type=Path)
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--news-weight", type=float, default=20.0)
    parser.add_argument("--target-answered", type=float, default=0.965)
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of the logistic regression")
    parser.add_argument("--limit", type=int, default=1500, help="SQuAD questions per half and side")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tune_confidence.json")
    parser.add_argument("--dump", type=Path, default=None, help="save news-dev's rows (npz) for inspection")
    parser.add_argument("--cv", type=Path, default=None,
                        help="cross-validation ranker folder (bench/tune_ranker.py --save-folds) for news-dev's rows")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from eval_news import read_jsonl
    from eval_squad import build_corpus, encode_cached, load_squad, seed_check, split_articles
    from index.embed import SentenceTransformerEncoder
    from index.engine import Engine, EngineSettings

    tmp = None
    if args.index_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="tune-conf-")
        args.index_dir = Path(tmp.name)
    engine = Engine(args.index_dir, SentenceTransformerEncoder(), EngineSettings(seeds_dir=None))
    engine.build("news-dev", source_dir=args.news_dev / "pages")
    questions = read_jsonl(args.news_dev / "questions.jsonl")
    oos = read_jsonl(args.news_dev / "oos.jsonl")
    qv = engine.embed_questions([q["question"] for q in questions + oos])
    if args.cv:
        # news-dev's questions ranked by the fold model that never saw their page (the packaged ranker
        # was fitted on them: its best sentence would be too good to calibrate on).
        folds = json.loads((args.cv / "folds.json").read_text())
        X_in = np.zeros((len(questions), len(INPUTS)))
        X_out = np.zeros((len(oos), len(INPUTS)))
        base = engine.settings.retrieval
        for f in sorted(set(folds.values())):
            engine.use_retrieval(dataclasses.replace(base, ranker_model=str(args.cv / f"fold-{f}.txt")))
            idx = engine.index("news-dev")
            mine = [i for i, q in enumerate(questions) if folds[q["page"]] == f]
            X_in[mine] = rows(idx, [questions[i]["question"] for i in mine], qv[mine])
            other = [i for i in range(len(oos)) if i % 5 == f]
            X_out[other] = rows(idx, [oos[i]["question"] for i in other], qv[[len(questions) + i for i in other]])
        engine.use_retrieval(base)
    else:
        news_idx = engine.index("news-dev")
        X_in = rows(news_idx, [q["question"] for q in questions], qv[: len(questions)])
        X_out = rows(news_idx, [q["question"] for q in oos], qv[len(questions):])

    if args.dump:
        np.savez(args.dump, X_in=X_in, X_out=X_out, kinds=[o["kind"] for o in oos])
    docs, squad_qs = load_squad(args.squad)
    tune, held = split_articles(len(docs))
    svec = encode_cached(engine, args.index_dir, [q.text for q in squad_qs])
    rng = np.random.default_rng(11)
    S_in, S_out, S_half = [], [], []
    for name, own, other in (("tuning", tune, held), ("held_out", held, tune)):
        idx, _ = build_corpus(engine, f"squad-{name}", docs, own)
        ins = [i for i, q in enumerate(squad_qs) if q.article in own]
        outs = [i for i, q in enumerate(squad_qs) if q.article in other]
        ins = sorted(rng.choice(ins, min(args.limit, len(ins)), replace=False))
        outs = sorted(rng.choice(outs, min(args.limit, len(outs)), replace=False))
        S_in.append(rows(idx, [squad_qs[i].text for i in ins], svec[ins]))
        S_out.append(rows(idx, [squad_qs[i].text for i in outs], svec[outs]))
        S_half.append(name)

    def assemble(news_in, news_out, squad_parts):
        X = np.concatenate([news_in, news_out, *[a for pair in squad_parts for a in pair]])
        y = np.concatenate([np.ones(len(news_in)), np.zeros(len(news_out)),
                            *[np.r_[np.ones(len(a)), np.zeros(len(b))] for a, b in squad_parts]])
        w = np.concatenate([np.full(len(news_in) + len(news_out), args.news_weight),
                            np.ones(sum(len(a) + len(b) for a, b in squad_parts))])
        return X, y, w

    # Cross-validation over news-dev: pages (in scope) and out-of-scope questions in 5 folds.
    pages = sorted({q["page"] for q in questions})
    rng.shuffle(pages)
    fold_of_page = {p: i % 5 for i, p in enumerate(pages)}
    in_fold = np.array([fold_of_page[q["page"]] for q in questions])
    out_fold = np.arange(len(oos)) % 5
    cv_ans = np.zeros(len(questions), dtype=bool)
    cv_dec = np.zeros(len(oos), dtype=bool)
    squad_pairs = list(zip(S_in, S_out))
    for f in range(5):
        X, y, w = assemble(X_in[in_fold != f], X_out[out_fold != f], squad_pairs)
        coef = fit(X, y, w, args.c)
        t = threshold_for(prob(X_in[in_fold != f], coef), args.target_answered)
        cv_ans[in_fold == f] = prob(X_in[in_fold == f], coef) >= t
        cv_dec[out_fold == f] = prob(X_out[out_fold == f], coef) < t
    # SQuAD: fitted with one half's questions, checked on the other's.
    squad_cv = []
    for h in range(2):
        X, y, w = assemble(X_in, X_out, [squad_pairs[h]])
        coef = fit(X, y, w, args.c)
        t = threshold_for(prob(X_in, coef), args.target_answered)
        a, b = squad_pairs[1 - h]
        squad_cv.append((float(np.mean(prob(a, coef) >= t)), float(np.mean(prob(b, coef) < t))))

    X, y, w = assemble(X_in, X_out, squad_pairs)
    coef = fit(X, y, w, args.c)
    threshold = threshold_for(prob(X_in, coef), args.target_answered)
    final = {
        "news_answered": float(np.mean(prob(X_in, coef) >= threshold)),
        "news_declined": float(np.mean(prob(X_out, coef) < threshold)),
        "squad_answered": float(np.mean(prob(np.concatenate(S_in), coef) >= threshold)),
        "squad_declined": float(np.mean(prob(np.concatenate(S_out), coef) < threshold)),
    }
    weights = tuple(round(float(c), 3) for c in coef)
    threshold = round(threshold, 4)
    engine.use_retrieval(dataclasses.replace(engine.settings.retrieval, confidence_weights=weights, threshold=threshold))
    seed = seed_check(engine, threshold)
    table = {
        "cross-validated news-dev": {"answered": round(float(cv_ans.mean()), 4), "declined": round(float(cv_dec.mean()), 4),
                                     "declined near-miss": round(float(np.mean([d for d, o in zip(cv_dec, oos) if o["kind"] == "near-miss"])), 4),
                                     "declined off-topic": round(float(np.mean([d for d, o in zip(cv_dec, oos) if o["kind"] == "off-topic"])), 4)},
        "cross-validated squad (other half)": {"answered": round(np.mean([a for a, _ in squad_cv]), 4),
                                               "declined": round(np.mean([d for _, d in squad_cv]), 4)},
        "final (in-sample)": {k: round(v, 4) for k, v in final.items()},
        "seed": {k: seed[k] for k in ("in_scope_answered", "in_scope_top3", "in_scope_rank1", "in_scope",
                                      "out_of_scope_declined", "out_of_scope", "min_in_scope_confidence",
                                      "max_out_of_scope_confidence")},
    }
    print(json.dumps(table, indent=2))
    print(f"\nconfidence_weights = {weights}  # {', '.join(INPUTS)}, bias\nthreshold = {threshold}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"table": table, "confidence_weights": weights, "threshold": threshold,
                                    "inputs": INPUTS, "news_weight": args.news_weight,
                                    "target_answered": args.target_answered}, indent=2))
    engine.close()
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
