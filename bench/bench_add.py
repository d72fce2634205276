"""Time to add one article (~30 sentences) to a 10k-sentence index with the real model.

    .venv/bin/python bench/bench_add.py [--base 10000] [--adds 5] [--encoder model|fake]

At 100k sentences (HNSW), with the fake HashingEncoder (384 dims) so that the base needs no hour of
real-model encoding (encoding the new article with the real model costs the same ~0.5 s at any size):

    .venv/bin/python bench/bench_add.py --base 100000 --adds 3 --encoder fake --out bench/results/bench_add_100k.json

The base corpus (seed article + synthetic news articles of 30 sentences, as .txt sources) is
built once with Engine.build; its vectors come from a persistent embedding cache in --workdir
(encoded by the real model on the first run only), copied into the fresh index dir, so the cache
is warm for the base as in a long-running bot. Then --adds distinct new articles are added one at
a time: load_text (segmentation) + Engine.add, each timed with a breakdown of Engine.add. The
target is a median under 3 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=int, default=10000, help="sentences in the base index (default 10000)")
    ap.add_argument("--adds", type=int, default=5, help="articles added one by one (default 5)")
    ap.add_argument("--article-sentences", type=int, default=30)
    ap.add_argument("--encoder", choices=("model", "fake"), default="model",
                    help="model: the real all-MiniLM-L6-v2; fake: the HashingEncoder (384 dims), for large bases")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/newsqa-bench-add"),
                    help="sources and the base embedding cache (reused across runs); the index is rebuilt")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    info = common.machine_info()
    from index.documents import load_text
    from index.embed import HashingEncoder, SentenceTransformerEncoder
    from index.engine import Engine

    work = args.workdir
    src = work / f"sources-{args.base}"
    index_dir = work / "index"
    cache_file = work / (f"base-cache-{args.base}.sqlite" if args.encoder == "model"
                         else f"base-cache-{args.base}-{args.encoder}.sqlite")
    shutil.rmtree(index_dir, ignore_errors=True)
    if not src.exists():
        common.write_articles(src, common.synthetic_articles(args.base, seed=21))
    t = time.perf_counter()
    encoder = SentenceTransformerEncoder() if args.encoder == "model" else HashingEncoder(dimension=384)
    model_load = time.perf_counter() - t
    info = {**info, **{k: v for k, v in common.machine_info().items() if k.startswith(("torch", "threadpool"))}}
    encoder.encode(["warm-up sentence one.", "warm-up sentence two."])

    index_dir.mkdir(parents=True)
    if cache_file.exists():
        shutil.copy(cache_file, index_dir / "embeddings.sqlite")
    engine = Engine(index_dir, encoder)
    t = time.perf_counter()
    base = engine.build(source_dir=src)
    base_s = time.perf_counter() - t
    import json

    index_type = json.loads((engine.corpus("default").current() / "manifest.json").read_text())["index_type"]
    print(f"base: {base.sentences} sentences ({index_type}), {base.documents} documents in {base_s:.1f} s "
          f"({base.embedded} embedded now; cache {'warm' if base.embedded == 0 else 'cold, saved for next runs'})",
          flush=True)
    if base.embedded:
        engine.cache.close()
        shutil.copy(index_dir / "embeddings.sqlite", cache_file)
        engine.cache = type(engine.cache)(index_dir / "embeddings.sqlite")

    timer = common.StageTimer()
    common.patch_write_path(timer)
    timer.patch(encoder, "encode", "model encode")
    adds = []
    stage_runs: dict[str, list[float]] = defaultdict(list)
    new_articles = common.synthetic_articles(args.article_sentences * args.adds, seed=9001,
                                             per_article=args.article_sentences, include_seed=False)
    for i, (title, text) in enumerate(new_articles[: args.adds]):
        timer.reset()
        load_before = common.load_average()[0]
        t = time.perf_counter()
        doc = load_text(text, title=title, doc_id=f"new-article-{i}")
        seg_s = time.perf_counter() - t
        report = engine.add([doc])
        total = time.perf_counter() - t
        stages = timer.snapshot()
        for k, v in stages.items():
            stage_runs[k].append(v)
        stage_runs["load_text (segmentation)"].append(seg_s)
        adds.append({"seconds": round(total, 3), "segmentation_seconds": round(seg_s, 4),
                     "engine_add_seconds": round(total - seg_s, 3), "sentences_added": len(doc.sentences),
                     "embedded": report.embedded, "index_sentences": report.sentences, "load_1min": load_before,
                     "stages_seconds": {k: round(v, 4) for k, v in stages.items()}})
        print(f"add {i + 1}: {total:.2f} s ({len(doc.sentences)} sentences, {report.embedded} embedded, "
              f"index now {report.sentences})", flush=True)
    timer.restore()
    engine.close()

    totals = [a["seconds"] for a in adds]
    med = statistics.median(totals)
    common.print_table([[i + 1, a["seconds"], a["segmentation_seconds"], a["engine_add_seconds"], a["embedded"]]
                        for i, a in enumerate(adds)],
                       ["add", "total s", "segmentation s", "Engine.add s", "embedded"],
                       title=f"Adding one ~{args.article_sentences}-sentence article to a {base.sentences:,}-sentence index")
    print(f"median {med:.2f} s (target < 3 s: {'met' if med < 3 else 'NOT met'}); "
          f"min {min(totals):.2f} s, max {max(totals):.2f} s\n")
    # Means (not medians) per stage, so that the stages add up to the mean add.
    means = {k: statistics.fmean(v) for k, v in stage_runs.items()}
    mean_total = statistics.fmean(totals)
    seg = means.pop("load_text (segmentation)")
    rows = [["load_text (segmentation of the new article)", seg, f"{100 * seg / mean_total:.1f}%"]]
    rows += [[r[0], r[1], f"{100 * r[1] / mean_total:.1f}%"] for r in common.breakdown_rows(means, mean_total - seg)[:-1]]
    rows.append(["TOTAL (mean add)", mean_total, "100%"])
    common.print_table(rows, ["stage (mean over adds)", "seconds", "share"], title="Where an add spends its time")

    payload = {
        "benchmark": "bench_add",
        "machine": common.finish_info(info),
        "params": {"base": args.base, "adds": args.adds, "article_sentences": args.article_sentences,
                   "encoder": args.encoder},
        "model_load_seconds": round(model_load, 2),
        "base_build": {"sentences": base.sentences, "documents": base.documents, "seconds": round(base_s, 2),
                       "index_type": index_type,
                       "embedded": base.embedded},
        "median_add_seconds": round(med, 3),
        "target_seconds": 3.0,
        "target_met": med < 3.0,
        "mean_add_seconds": round(mean_total, 3),
        "mean_stage_seconds": {k: round(v, 4) for k, v in means.items()},
        "mean_segmentation_seconds": round(seg, 4),
        "adds": adds,
        "rss": common.rss_mb(),
        "notes": "stages are inclusive ('model encode' is inside 'embedding (cache + encode)'); 'other' is the "
                 "part of Engine.add outside the timed stages (dedupe, numpy glue, Document objects).",
    }
    path = common.write_results("bench_add", payload, args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
