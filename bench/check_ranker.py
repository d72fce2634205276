"""The ranker without lightgbm: index.ranker.TreeEnsemble against lightgbm's own Booster.predict, on the real
candidates of every SQuAD-A and news-dev question.

    .venv/bin/python bench/check_ranker.py ../shared/eval/news-dev ../shared/eval/squad-dev-a.json
        [--folds data/ranker-folds] [--index-dir data/check-ranker] [--out bench/results/ranker_parity.json]

For each question the engine's candidates and their features are taken as bench/tune_ranker.py takes
them (every row the ranker is given at answer time, headings included); each model (the packaged one,
and the cross-validation fold models of ``--folds`` when given) scores them both ways. Reported: rows
whose scores are the same bits, questions whose order (the engine's stable argsort of the float32
scores) is the same, the largest difference, and the time per question of each (p50, one thread).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import common  # noqa: E402
from index import ranker  # noqa: E402
from index.search import FEATURES  # noqa: E402


def compare(model: Path, groups: list[dict]) -> dict:
    ours, theirs = ranker.TreeEnsemble.load(model), ranker.LightGBMModel(model)
    cols = ranker.columns(FEATURES)
    rows = same_rows = same_order = 0
    worst = 0.0
    times: dict[str, list[float]] = {"numpy": [], "lightgbm": []}
    for g in groups:
        x = g["X"][:, cols]
        t = time.perf_counter()
        a = ours.predict(x)
        times["numpy"].append(time.perf_counter() - t)
        t = time.perf_counter()
        b = theirs.predict(x)
        times["lightgbm"].append(time.perf_counter() - t)
        rows += len(x)
        same_rows += int((a == b).sum())
        worst = max(worst, float(np.abs(a - b).max()) if len(x) else 0.0)
        order_a = np.argsort(-a.astype(np.float32), kind="stable")
        order_b = np.argsort(-b.astype(np.float32), kind="stable")
        same_order += bool(np.array_equal(order_a, order_b))
    return {"questions": len(groups), "rows": rows, "rows_same_bits": same_rows, "questions_same_order": same_order,
            "max_abs_difference": worst,
            "p50_ms_per_question": {k: round(statistics.median(v) * 1000, 3) for k, v in times.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("news_dev", type=Path)
    parser.add_argument("squad", type=Path)
    parser.add_argument("--folds", type=Path, default=None, help="cross-validation models (bench/tune_ranker.py --save-folds)")
    parser.add_argument("--index-dir", type=Path, default=None, help="keep the indexes here (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    info = common.machine_info()
    from eval_news import load_scorer
    from index.embed import ModelEncoder
    from index.engine import Engine, EngineSettings
    from tune_ranker import news_groups, squad_groups

    tmp = None
    if args.index_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="check-ranker-")
        args.index_dir = Path(tmp.name)
    args.index_dir.mkdir(parents=True, exist_ok=True)
    encoder = ModelEncoder(backend="onnx", models_dir=args.index_dir / "models")
    engine = Engine(args.index_dir, encoder, EngineSettings(seeds_dir=None))
    groups = news_groups(engine, args.news_dev, load_scorer(args.news_dev).norm)
    groups += squad_groups(engine, args.squad, args.index_dir)
    models = {"packaged": ranker.MODEL_PATH}
    if args.folds:
        models |= {p.stem: p for p in sorted(args.folds.glob("fold-*.txt"))}
    results = {name: compare(path, groups) for name, path in models.items()}
    for name, r in results.items():
        print(f"{name:9} {r['rows_same_bits']}/{r['rows']} rows the same bits, {r['questions_same_order']}/"
              f"{r['questions']} questions in the same order, largest difference {r['max_abs_difference']:.3g}; "
              f"p50 per question numpy {r['p50_ms_per_question']['numpy']} ms, lightgbm "
              f"{r['p50_ms_per_question']['lightgbm']} ms")
    path = common.write_results("ranker_parity", {"benchmark": "check_ranker", "machine": common.finish_info(info),
                                                  "results": results}, args.out)
    print(f"wrote {path}")
    engine.close()
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
