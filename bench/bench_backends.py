"""Build and warm answer latency, INDEX_BACKEND=local vs milvus (milvus-lite), side by side.

    .venv/bin/python bench/bench_backends.py [--sizes 10000,100000] [--questions 200] [--work DIR] [--out FILE]

For each size, one corpus of synthetic news articles (bench/common.synthetic_articles) is built with
each backend through the engine (``Engine.add``, as `newsqa add` does), then the same questions are
asked of both in one interleaved loop (local, milvus, local, ...), so that the machine's load weighs on
both alike. Vectors come from the fake HashingEncoder (384 dimensions): embedding is not what is
compared, and the real model would take most of an hour at 100k sentences on 2 cores. Questions are
sentences of the corpus cut to their first words, with a question mark; the sentence it was cut from
ranked first is the quality figure (the synthetic text has many exact BM25 ties and the fake vectors many
near ties, so the two backends' first hits differ more often than on real text).

Figures: build seconds, answer p50/p99 in ms (``Engine.ask``: clean, encode (~0.1 ms), search, rank,
cite), their milvus/local ratios, and the 1-min load average before and after. Written to
bench/results/backends.json.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402
from index.documents import load_text  # noqa: E402
from index.embed import HashingEncoder  # noqa: E402
from index.engine import Engine, EngineSettings  # noqa: E402


def questions_of(engine: Engine, corpus: str, count: int, seed: int = 5) -> list[tuple[str, str]]:
    """(question, the sentence it was cut from) pairs."""
    rng = random.Random(seed)
    texts = [r[0] for r in engine.index(corpus).query("SELECT text FROM sentences ORDER BY id")]
    picked = rng.sample(texts, min(count, len(texts)))
    return [(" ".join(t.split()[: rng.randint(5, 9)]).rstrip(",.;:") + "?", t) for t in picked]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="corpus sizes in sentences (default 10000,100000)")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--work", type=Path, default=None, help="keep the indexes here (default: a temp dir)")
    ap.add_argument("--backends", default="local,milvus",
                    help="which to build and ask (default both, side by side); one alone when both do not fit in memory")
    ap.add_argument("--out", type=Path, default=None,
                    help="write the figures here (default bench/results/backends.json)")
    args = ap.parse_args()
    info = common.machine_info()
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-backends-")
        args.work = Path(tmp.name)
    out: dict = {"machine": info, "sizes": {}}
    for n in (int(s) for s in args.sizes.split(",")):
        docs = [load_text(text, title=title, source=f"synthetic/{i}")
                for i, (title, text) in enumerate(common.synthetic_articles(n, per_article=30))]
        engines, builds = {}, {}
        names = [name.strip() for name in args.backends.split(",")]
        for name in names:
            folder = args.work / f"{name}-{n}"
            backend = common.index_backend(name, folder)
            engine = Engine(folder, HashingEncoder(dimension=384), EngineSettings(seeds_dir=None), backend=backend)
            load = common.load_average()[0]
            started = time.perf_counter()
            report = engine.add(docs, corpus="bench")
            builds[name] = {"seconds": round(time.perf_counter() - started, 2), "sentences": report.sentences,
                            "load_before": load, "load_after": common.load_average()[0],
                            "peak_rss_mib_so_far": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
            print(f"{n:>8} {name:6} built in {builds[name]['seconds']:.1f} s ({report.sentences} sentences, "
                  f"load {load:.1f}, peak RSS so far {builds[name]['peak_rss_mib_so_far']} MiB)", flush=True)
            engines[name] = engine
        questions = questions_of(engines[names[0]], "bench", args.questions + args.warmup)
        times: dict[str, list[float]] = {name: [] for name in names}
        same_top = 0
        source_first = {name: 0 for name in names}
        load = common.load_average()[0]
        for i, (q, source) in enumerate(questions):
            answers = {}
            for name, engine in engines.items():
                started = time.perf_counter()
                answers[name] = engine.ask(q, corpus="bench")
                if i >= args.warmup:
                    times[name].append(time.perf_counter() - started)
            if i >= args.warmup:
                same_top += len(names) == 2 and answers["local"].hits[:1] == answers["milvus"].hits[:1]
                for name, answer in answers.items():
                    source_first[name] += bool(answer.hits) and answer.hits[0].text == source
        asked = len(times[names[0]])
        row = {"build": builds, "answer": {name: common.summary_ms(t) for name, t in times.items()},
               "questions": asked, "source_sentence_first": {k: round(v / asked, 3) for k, v in source_first.items()},
               "load_during_answers": [load, common.load_average()[0]],
               "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
        for name in engines:
            a = row["answer"][name]
            print(f"{n:>8} {name:6} answer p50 {a['p50_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms")
        if len(names) == 2:
            row["same_first_hit"] = round(same_top / asked, 3)
            row["ratio_p50"] = round(row["answer"]["milvus"]["p50_ms"] / row["answer"]["local"]["p50_ms"], 1)
            row["ratio_build"] = round(builds["milvus"]["seconds"] / builds["local"]["seconds"], 1)
            print(f"{n:>8} milvus/local: answer p50 x{row['ratio_p50']}, build x{row['ratio_build']}; same first hit "
                  f"{row['same_first_hit']:.3f} of {asked}", flush=True)
        print(f"{n:>8} the question's own sentence first: " + ", ".join(
            f"{k} {v:.3f}" for k, v in row["source_sentence_first"].items()) +
            f" (load {load:.1f} -> {common.load_average()[0]:.1f}); peak RSS {row['peak_rss_mib']} MiB", flush=True)
        out["sizes"][str(n)] = row
        for engine in engines.values():
            engine.close()
            close = getattr(engine.backend, "close", None)
            if close:
                close()
    common.finish_info(info)
    path = common.write_results("backends", out, args.out)
    print(f"written to {path}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
