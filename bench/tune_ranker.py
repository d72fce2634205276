"""Fit the linear fusion weights (RetrievalSettings.w_*) on SQuAD-A and news-dev, with cross-validation.

    .venv/bin/python bench/tune_ranker.py ../shared/eval/news-dev ../shared/eval/squad-dev-a.json
        [--index-dir data/tune] [--news-weight 10] [--out bench/results/tune_ranker.json]

For every question the engine's own candidates (CorpusIndex.candidates: dense top-48 ∪ BM25 top-48) and
their features are taken once; a sentence is right when it holds news-dev's answer phrase (or an
alternative) or overlaps a SQuAD answer span. The model is a listwise softmax over each question's
candidates (linear in the FUSED features, L2-regularised), fitted with L-BFGS. It is what the engine
computes at answer time (a weighted sum), so the fitted weights go straight into RetrievalSettings.

Reported, hit@1 / hit@3 (the right sentence first / in the top 3):
- the current defaults;
- LambdaMART (LightGBM lambdarank over the candidate features) trained on SQuAD + news-dev, 5-fold
  cross-validation over news-dev's pages (each fold's pages held out) and over SQuAD's articles (even
  articles fit, odd held out, and the reverse);
- with ``--linear``, the same cross-validation of a listwise linear fusion.
The final ranker is fitted on everything (``--save-model index/models/ranker.txt``); the fold models
(``--save-folds DIR``) let bench/eval_news.py score news-dev with each question's held-out model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from index.search import FEATURES, FUSED, RetrievalSettings  # noqa: E402

HEADING = FEATURES.index("heading")


def news_groups(engine, folder: Path, norm) -> list[dict]:
    """Candidates and labels of news-dev's 120 questions."""
    from eval_news import read_jsonl

    engine.build("news-dev", source_dir=folder / "pages")
    idx = engine.index("news-dev")
    texts = [norm(r[0]) for r in idx.query("SELECT text FROM sentences ORDER BY id")]
    docs = [r[0] for r in idx.query("SELECT d.doc_id FROM sentences s JOIN documents d ON d.pos = s.doc_pos ORDER BY s.id")]
    questions = read_jsonl(folder / "questions.jsonl")
    vectors = engine.embed_questions([q["question"] for q in questions])
    groups = []
    for q, v in zip(questions, vectors):
        c = idx.candidates(v, q["question"], idx.settings.candidates)
        wants = [norm(w) for w in [q["answer_substring"], *q.get("alt_substrings", [])]]
        y = np.array([any(w in texts[i] for w in wants) for i in c.ids], dtype=bool)
        groups.append({"set": "news", "key": q["page"], "X": c.features, "y": y, "ids": c.ids, "v": v})
    return groups


def squad_groups(engine, path: Path, folder: Path) -> list[dict]:
    from eval_squad import build_corpus, encode_cached, hits_of, load_squad

    docs, questions = load_squad(path)
    idx, ranked = build_corpus(engine, "squad-all", docs, list(range(len(docs))))
    vectors = encode_cached(engine, folder, [q.text for q in questions])
    groups = []
    for q, v in zip(questions, vectors):
        c = idx.candidates(v, q.text, idx.settings.candidates)
        groups.append({"set": "squad", "key": q.article, "X": c.features, "y": hits_of(ranked, q, c.ids), "ids": c.ids,
                       "v": v})
    return groups


GBM_FEATURES = [i for i, name in enumerate(FEATURES) if name not in ("heading", "bm25_raw", "bm25_paragraph_raw")]


def usable(groups: list[dict]) -> list[dict]:
    """Without heading rows (never answers); X for the linear fusion, G for the learned ranker."""
    out = []
    for g in groups:
        keep = g["X"][:, HEADING] == 0
        out.append({**g, "X": g["X"][keep][:, :FUSED], "G": g["X"][keep][:, GBM_FEATURES], "y": g["y"][keep],
                    "ids": g["ids"][keep]})
    return out


GBM_PARAMS = dict(objective="lambdarank", n_estimators=300, learning_rate=0.05, num_leaves=15, min_child_samples=50,
                  subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0, verbose=-1, n_jobs=2,
                  lambdarank_truncation_level=10, random_state=7, deterministic=True, force_row_wise=True)


def fit_gbm(groups: list[dict]):
    import lightgbm

    train = [g for g in groups if g["y"].any()]
    X = np.concatenate([g["G"] for g in train])
    y = np.concatenate([g["y"] for g in train]).astype(int)
    w = np.array([g["weight"] for g in train])
    model = lightgbm.LGBMRanker(**GBM_PARAMS)
    model.fit(X, y, group=[len(g["y"]) for g in train], sample_weight=np.repeat(w, [len(g["y"]) for g in train]))
    return model


def evaluate_gbm(groups: list[dict], model, rerank=None) -> dict:
    """hit@1 / hit@3 of a model (one predict call for all groups: per-call overhead dominates).
    ``rerank(scores, group)``, when given, changes a group's scores before they are ranked."""
    sizes = [len(g["y"]) for g in groups]
    scores = np.split(model.predict(np.concatenate([g["G"] for g in groups])), np.cumsum(sizes)[:-1])
    h1 = h3 = 0
    for g, sc in zip(groups, scores):
        if not len(g["y"]):
            continue
        order = np.argsort(-(rerank(sc, g) if rerank else sc), kind="stable")
        h1 += bool(g["y"][order[0]])
        h3 += bool(g["y"][order[:3]].any())
    return {"hit1": round(h1 / len(groups), 4), "hit3": round(h3 / len(groups), 4), "n": len(groups)}


def fit(groups: list[dict], weights: np.ndarray, l2: float = 0.01) -> np.ndarray:
    train = [g for g in groups if g["y"].any()]
    w_of = np.array([g["weight"] for g in train])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for g, gw in zip(train, w_of):
            s = g["X"] @ w
            s = s - s.max()
            p = np.exp(s)
            p /= p.sum()
            right = g["y"]
            pr = p[right].sum()
            total -= gw * np.log(pr + 1e-12)
            # d(-log sum_right p)/dw = E_p[x] - E_{p|right}[x]
            q = np.where(right, p, 0.0) / (pr + 1e-12)
            grad += gw * (p @ g["X"] - q @ g["X"])
        total = total / w_of.sum() + l2 * float(w @ w)
        grad = grad / w_of.sum() + 2 * l2 * w
        return total, grad

    res = minimize(loss, weights.astype(np.float64), jac=True, method="L-BFGS-B", options={"maxiter": 300})
    return res.x


def evaluate(groups: list[dict], w: np.ndarray) -> dict:
    h1 = h3 = 0
    for g in groups:
        if not len(g["y"]):
            continue
        order = np.argsort(-(g["X"] @ w), kind="stable")
        h1 += bool(g["y"][order[0]])
        h3 += bool(g["y"][order[:3]].any())
    n = len(groups)
    return {"hit1": round(h1 / n, 4), "hit3": round(h3 / n, 4), "n": n}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("news_dev", type=Path)
    parser.add_argument("squad", type=Path)
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--news-weight", type=float, default=3.0, help="weight of a news-dev question vs a SQuAD one")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tune_ranker.json")
    parser.add_argument("--save-model", type=Path, default=None, help="write the LambdaMART ranker here")
    parser.add_argument("--save-folds", type=Path, default=None,
                        help="write the 5 cross-validation models and their news-dev pages here (for eval_news --cv)")
    parser.add_argument("--linear", action="store_true", help="also fit and cross-validate the linear fusion")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from eval_news import load_scorer
    from index.embed import SentenceTransformerEncoder
    from index.engine import Engine, EngineSettings

    tmp = None
    if args.index_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="tune-")
        args.index_dir = Path(tmp.name)
    args.index_dir.mkdir(parents=True, exist_ok=True)
    engine = Engine(args.index_dir, SentenceTransformerEncoder(), EngineSettings(seeds_dir=None))
    norm = load_scorer(args.news_dev).norm
    news = usable(news_groups(engine, args.news_dev, norm))
    squad = usable(squad_groups(engine, args.squad, args.index_dir))
    for g in news:
        g["weight"] = args.news_weight
    for g in squad:
        g["weight"] = 1.0
    print(f"right sentence among the candidates: news-dev {np.mean([g['y'].any() for g in news]):.3f}, "
          f"SQuAD {np.mean([g['y'].any() for g in squad]):.3f}")
    current = RetrievalSettings().weights().astype(np.float64)
    table = {"linear, current weights": {"news": evaluate(news, current), "squad": evaluate(squad, current)}}

    pages = sorted({g["key"] for g in news})
    rng = np.random.default_rng(7)
    rng.shuffle(pages)
    folds = [set(pages[i::5]) for i in range(5)]
    even = [g for g in squad if g["key"] % 2 == 0]
    odd = [g for g in squad if g["key"] % 2 == 1]
    if args.linear:  # the listwise linear fit (slow: a Python loop over groups per L-BFGS step)
        cv_news = []
        for fold in folds:
            w = fit(squad + [g for g in news if g["key"] not in fold], current)
            cv_news.extend(g | {"w": w} for g in news if g["key"] in fold)
        h1 = np.mean([bool(g["y"][np.argmax(g["X"] @ g["w"])]) if len(g["y"]) else False for g in cv_news])
        h3 = np.mean([bool(g["y"][np.argsort(-(g["X"] @ g["w"]))[:3]].any()) if len(g["y"]) else False for g in cv_news])
        held = evaluate(odd, fit(even + news, current)), evaluate(even, fit(odd + news, current))
        table["linear, cross-validated"] = {
            "news": {"hit1": round(float(h1), 4), "hit3": round(float(h3), 4), "n": len(cv_news)},
            "squad": {k: round((held[0][k] * held[0]["n"] + held[1][k] * held[1]["n"]) / len(squad), 4)
                      for k in ("hit1", "hit3")} | {"n": len(squad)},
        }
    # The learned ranker, cross-validated the same way.
    cv_rows = []
    if args.save_folds:
        args.save_folds.mkdir(parents=True, exist_ok=True)
    for i, fold in enumerate(folds):
        model = fit_gbm(squad + [g for g in news if g["key"] not in fold])
        cv_rows.append(evaluate_gbm([g for g in news if g["key"] in fold], model))
        if args.save_folds:
            model.booster_.save_model(str(args.save_folds / f"fold-{i}.txt"))
    if args.save_folds:
        (args.save_folds / "folds.json").write_text(json.dumps({p: i for i, f in enumerate(folds) for p in f}, indent=1))
    m_even, m_odd = fit_gbm(even + news), fit_gbm(odd + news)
    gheld = evaluate_gbm(odd, m_even), evaluate_gbm(even, m_odd)
    table["lambdamart cross-validated"] = {
        "news": {k: round(sum(r[k] * r["n"] for r in cv_rows) / len(news), 4) for k in ("hit1", "hit3")} | {"n": len(news)},
        "squad": {k: round((gheld[0][k] * gheld[0]["n"] + gheld[1][k] * gheld[1]["n"]) / len(squad), 4)
                  for k in ("hit1", "hit3")} | {"n": len(squad)},
    }
    final_gbm = fit_gbm(squad + news)
    table["lambdamart final (in-sample)"] = {"news": evaluate_gbm(news, final_gbm), "squad": evaluate_gbm(squad, final_gbm)}
    if args.save_model:
        final_gbm.booster_.save_model(str(args.save_model))
        print(f"ranker written to {args.save_model}")

    print(f"{'weights':34} {'news hit@1':>10} {'hit@3':>6} {'squad P@1':>10} {'hit@3':>6}")
    for name, row in table.items():
        print(f"{name:34} {row['news']['hit1']:10.3f} {row['news']['hit3']:6.3f} {row['squad']['hit1']:10.3f} "
              f"{row['squad']['hit3']:6.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"table": table, "news_weight": args.news_weight, "params": GBM_PARAMS,
                                    "features": [FEATURES[i] for i in GBM_FEATURES]}, indent=2))
    engine.close()
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
