"""Time to add one article (~30 sentences) to a 10k-sentence index with the real model.

    .venv/bin/python bench/bench_add.py [--base 10000] [--adds 5] [--encoder model|fake]

At 100k sentences (HNSW), with the fake HashingEncoder (384 dims) so that the base needs no hour of
real-model encoding (encoding the new article with the real model costs the same ~0.5 s at any size):

    .venv/bin/python bench/bench_add.py --base 100000 --adds 5 --encoder fake --compare --out bench/results/bench_add_100k.json

--compare alternates adds as they run now (the live HNSW graph extended, the kept sentences'
vectors and traits taken over) with adds that build everything anew, as every add did before.

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
    ap.add_argument("--compare", action="store_true",
                    help="alternate --adds adds as they run now with --adds adds that build everything anew")
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
    import index.engine as engine_module

    kept_sentences = engine_module._kept_sentences
    modes = ["append", "full"] if args.compare else ["append"]
    adds: dict[str, list[dict]] = {m: [] for m in modes}
    stage_runs: dict[str, dict[str, list[float]]] = {m: defaultdict(list) for m in modes}
    new_articles = common.synthetic_articles(args.article_sentences * args.adds * len(modes), seed=9001,
                                             per_article=args.article_sentences, include_seed=False)
    for i, (title, text) in enumerate(new_articles[: args.adds * len(modes)]):
        mode = modes[i % len(modes)]  # interleaved, so that both see the same machine load
        # "full": what every add did before (the HNSW graph, vectors and traits of every sentence anew).
        engine.backend.extend = mode == "append"
        engine_module._kept_sentences = kept_sentences if mode == "append" else (lambda *a: 0)
        timer.reset()
        load_before = common.load_average()[0]
        t = time.perf_counter()
        doc = load_text(text, title=title, doc_id=f"new-article-{i}")
        seg_s = time.perf_counter() - t
        extended = engine.backend.extended
        report = engine.add([doc])
        total = time.perf_counter() - t
        stages = timer.snapshot()
        for k, v in stages.items():
            stage_runs[mode][k].append(v)
        stage_runs[mode]["load_text (segmentation)"].append(seg_s)
        adds[mode].append({"seconds": round(total, 3), "segmentation_seconds": round(seg_s, 4),
                           "engine_add_seconds": round(total - seg_s, 3), "sentences_added": len(doc.sentences),
                           "embedded": report.embedded, "index_sentences": report.sentences,
                           "hnsw_extended": engine.backend.extended > extended, "load_1min": load_before,
                           "stages_seconds": {k: round(v, 4) for k, v in stages.items()}})
        print(f"add {i + 1} ({mode}): {total:.2f} s ({len(doc.sentences)} sentences, {report.embedded} embedded, "
              f"index now {report.sentences}, HNSW graph {'extended' if engine.backend.extended > extended else 'built'}, "
              f"load {load_before})", flush=True)
    engine_module._kept_sentences = kept_sentences
    timer.restore()
    engine.close()

    results = {}
    for mode in modes:
        runs = adds[mode]
        totals = [a["seconds"] for a in runs]
        med = statistics.median(totals)
        common.print_table([[i + 1, a["seconds"], a["segmentation_seconds"], a["engine_add_seconds"], a["embedded"],
                             a["load_1min"]] for i, a in enumerate(runs)],
                           ["add", "total s", "segmentation s", "Engine.add s", "embedded", "load 1-min"],
                           title=f"{mode}: adding one ~{args.article_sentences}-sentence article to a "
                                 f"{base.sentences:,}-sentence index")
        print(f"{mode}: median {med:.2f} s (target < 3 s: {'met' if med < 3 else 'NOT met'}); "
              f"min {min(totals):.2f} s, max {max(totals):.2f} s\n")
        # Means (not medians) per stage, so that the stages add up to the mean add.
        means = {k: statistics.fmean(v) for k, v in stage_runs[mode].items()}
        mean_total = statistics.fmean(totals)
        seg = means.pop("load_text (segmentation)")
        rows = [["load_text (segmentation of the new article)", seg, f"{100 * seg / mean_total:.1f}%"]]
        rows += [[r[0], r[1], f"{100 * r[1] / mean_total:.1f}%"]
                 for r in common.breakdown_rows(means, mean_total - seg)[:-1]]
        rows.append(["TOTAL (mean add)", mean_total, "100%"])
        common.print_table(rows, ["stage (mean over adds)", "seconds", "share"],
                           title=f"{mode}: where an add spends its time")
        results[mode] = {"median_add_seconds": round(med, 3), "target_met": med < 3.0,
                         "mean_add_seconds": round(mean_total, 3),
                         "mean_stage_seconds": {k: round(v, 4) for k, v in means.items()},
                         "mean_segmentation_seconds": round(seg, 4), "adds": runs}
    if args.compare:
        ratio = results["full"]["median_add_seconds"] / results["append"]["median_add_seconds"]
        print(f"median add: full rebuild {results['full']['median_add_seconds']:.2f} s, append "
              f"{results['append']['median_add_seconds']:.2f} s: {ratio:.1f}x faster")

    payload = {
        "benchmark": "bench_add",
        "machine": common.finish_info(info),
        "params": {"base": args.base, "adds": args.adds, "article_sentences": args.article_sentences,
                   "encoder": args.encoder, "compare": args.compare},
        "model_load_seconds": round(model_load, 2),
        "base_build": {"sentences": base.sentences, "documents": base.documents, "seconds": round(base_s, 2),
                       "index_type": index_type, "embedded": base.embedded},
        "target_seconds": 3.0,
        **results["append"],
        "modes": results if args.compare else None,
        "full_over_append_median": round(ratio, 2) if args.compare else None,
        "rss": common.rss_mb(),
        "notes": "stages are inclusive ('model encode' is inside 'embedding (cache + encode)', 'bm25 tokenize' "
                 "inside 'bm25 build'); 'other' is the part of Engine.add outside the timed stages. 'append' is "
                 "an add as it runs now; 'full' (--compare) builds the HNSW graph and takes the vectors and "
                 "traits of every sentence anew, as every add did before; adds of both alternate.",
    }
    path = common.write_results("bench_add", payload, args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
