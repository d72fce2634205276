"""Build throughput of Engine.build with the real model, side by side with the model's raw encode.

    .venv/bin/python bench/bench_build.py [--sentences 3000] [--squad PATH | --text PATH]

One process, one model. Order: warm-up, then raw encode and Engine.build interleaved (raw, build,
raw, build, raw with --repeats 2; each build in a fresh index dir, cold cache, documents loaded
from .txt files so segmentation is included); wall and process CPU time are both recorded, the
latter being less sensitive to other jobs on this shared machine. Finally (unless
--no-chunk-probe) raw encode of the same sentences in the chunks Engine uses (512 = 64*8 when a
progress callback is given, see SentenceTransformerEncoder.encode). The raw encodes use exactly the
sentences the build embedded, in the same order, with the same batch size.
The ratio is median build rate / median raw encode rate; target >= 0.90.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

import numpy as np  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=3000, help="about this many sentences (default 3000)")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--squad", type=Path, help="SQuAD JSON: use its paragraphs (real sentences)")
    src.add_argument("--text", type=Path, help="plain text file: blank-line paragraphs, ~4 kB per article")
    ap.add_argument("--repeats", type=int, default=2, help="builds, interleaved with raw encodes (default 2)")
    ap.add_argument("--batch-size", type=int, default=64, help="encode batch size (Engine's default is 64)")
    ap.add_argument("--no-chunk-probe", action="store_true", help="skip the raw encode in Engine's 512-chunks")
    ap.add_argument("--workdir", type=Path, help="where to write sources and the index (default: a temp dir)")
    ap.add_argument("--out", type=Path, help="JSON output (default bench/results/bench_build.json)")
    args = ap.parse_args()

    info = common.machine_info()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-build-"))
    if work.exists():
        shutil.rmtree(work)
    src_dir = work / "sources"

    if args.squad:
        articles, source = common.squad_articles(args.squad, args.sentences), f"squad:{args.squad}"
    elif args.text:
        articles, source = common.text_file_articles(args.text, args.sentences), f"text:{args.text}"
    else:
        articles, source = common.synthetic_articles(args.sentences), "seed article + synthetic news sentences"
    common.write_articles(src_dir, articles)
    chars = sum(len(t) for _, t in articles)

    from index.embed import SentenceTransformerEncoder
    from index.engine import Engine

    t = time.perf_counter()
    encoder = SentenceTransformerEncoder()
    model_load = time.perf_counter() - t
    info = {**info, **{k: v for k, v in common.machine_info().items() if k.startswith(("torch", "threadpool"))}}
    model = encoder._model  # the raw sentence-transformers model

    def raw_encode(texts: list[str], chunk: int | None = None) -> tuple[float, np.ndarray]:
        t0 = time.perf_counter()
        step = chunk or len(texts)
        parts = [
            model.encode(texts[i : i + step], batch_size=args.batch_size, normalize_embeddings=True,
                         convert_to_numpy=True, show_progress_bar=False)
            for i in range(0, len(texts), step)
        ]
        return time.perf_counter() - t0, np.vstack(parts).astype(np.float32)

    rng_texts = [common.synthetic_sentence(__import__("random").Random(i)) + " (warm-up)" for i in range(256)]
    raw_encode(rng_texts)  # warm-up: first batches allocate and pick kernels

    timer = common.StageTimer()
    common.patch_write_path(timer)
    embedded: list[str] = []
    real_encode = encoder.encode

    def capturing_encode(texts, **kw):  # noqa: ANN001, ANN202 - same signature as Encoder.encode
        embedded.extend(texts)
        return real_encode(texts, **kw)

    encoder.encode = capturing_encode
    timer.patch(encoder, "encode", "model encode")

    # Segmentation needs the texts first: the raw runs use the sentences the build embedded, so
    # the first raw run segments once more (untimed) to learn them.
    from index.documents import load_path, list_sources

    texts = [s.text for p in list_sources(src_dir) for s in load_path(p).sentences]
    timer.reset()

    # Interleaved: raw, build, raw, build, ..., raw; wall and process CPU time for each.
    raws, builds, raw_cpu, build_cpu, stage_list = [], [], [], [], []
    load_mid = []
    c = time.process_time()
    wall, vec_a = raw_encode(texts)
    raws.append(wall)
    raw_cpu.append(time.process_time() - c)
    for r in range(args.repeats):
        engine = Engine(work / f"index-{r}", encoder)  # fresh index dir: cold cache
        timer.reset()
        load_mid.append(common.load_average())
        c, t = time.process_time(), time.perf_counter()
        report = engine.build(source_dir=src_dir)
        builds.append(time.perf_counter() - t)
        build_cpu.append(time.process_time() - c)
        stage_list.append(timer.snapshot())
        if r < args.repeats - 1:
            engine.close()
        c = time.process_time()
        wall, _ = raw_encode(texts)
        raws.append(wall)
        raw_cpu.append(time.process_time() - c)
    timer.restore()
    encoder.encode = real_encode
    chunk_s = None
    if not args.no_chunk_probe:
        chunk_s, _ = raw_encode(texts, chunk=max(args.batch_size * 8, 256))
    build_s = statistics.median(builds)
    stages = {k: statistics.median(st.get(k, 0.0) for st in stage_list) for k in stage_list[0]}
    n = report.sentences
    same = embedded == texts * args.repeats
    built = np.load(engine.index("default").path / "vectors.npy")
    max_diff = float(np.abs(built - vec_a).max()) if built.shape == vec_a.shape else None
    engine.close()

    raw_mean = statistics.median(raws)
    seg = stages.get("segmentation: sentences", 0.0) + stages.get("segmentation: paragraphs", 0.0)
    rows = [[f"raw model.encode run {i + 1}", w, n / w, f"cpu {cpu:.1f} s; 1 call, all sentences"]
            for i, (w, cpu) in enumerate(zip(raws, raw_cpu))]
    if chunk_s:
        rows.append([f"raw model.encode in {max(args.batch_size * 8, 256)}-chunks", chunk_s, n / chunk_s,
                     "as SentenceTransformerEncoder.encode with progress"])
    rows += [
        *[[f"Engine.build run {i + 1} (cold cache)", w, n / w, f"cpu {cpu:.1f} s; files -> live generation"]
          for i, (w, cpu) in enumerate(zip(builds, build_cpu))],
        ["raw model.encode (median)", raw_mean, n / raw_mean, ""],
        ["Engine.build (median)", build_s, n / build_s, ""],
        ["Engine.build minus segmentation", build_s - seg, n / (build_s - seg), "as if documents came pre-split"],
    ]
    common.print_table(rows, ["what", "seconds", "sentences/s", "note"],
                       title=f"Build throughput: {n} sentences, {report.documents} documents, {chars:,} chars ({source})")
    ratio = (n / build_s) / (n / raw_mean)
    ratio_noseg = (n / (build_s - seg)) / (n / raw_mean)
    cpu_ratio = statistics.median(raw_cpu) / statistics.median(build_cpu)
    spread = (max(raws) - min(raws)) / raw_mean
    print(f"build rate / raw encode rate (medians, wall) = {ratio:.3f} (target >= 0.90: "
          f"{'met' if ratio >= 0.9 else 'NOT met'}); without segmentation {ratio_noseg:.3f}; "
          f"by process CPU time {cpu_ratio:.3f}; raw runs spread {spread:.1%} of their median\n")
    common.print_table(common.breakdown_rows(stages, build_s), ["stage of Engine.build", "seconds", "share"],
                       title="Where Engine.build spends its time (median per stage over build runs)")
    print(f"segmentation: {seg / chars * 1e6:.2f} µs/char; embedded texts identical to raw run: {same}; "
          f"max |build vector - raw vector| = {max_diff}")

    payload = {
        "benchmark": "bench_build",
        "machine": common.finish_info({**info, "load_average_before_each_build": load_mid}),
        "params": {"sentences_requested": args.sentences, "batch_size": args.batch_size, "source": source},
        "corpus": {"sentences": n, "documents": report.documents, "chars": chars, "figures": report.figures},
        "model_load_seconds": round(model_load, 2),
        "seconds": {"raw_encode_runs": [round(x, 3) for x in raws], "build_runs": [round(x, 3) for x in builds],
                    "raw_encode_cpu_runs": [round(x, 3) for x in raw_cpu],
                    "build_cpu_runs": [round(x, 3) for x in build_cpu], "raw_encode_median": round(raw_mean, 3),
                    "raw_encode_chunked": round(chunk_s, 3) if chunk_s else None, "build": round(build_s, 3),
                    "build_minus_segmentation": round(build_s - seg, 3)},
        "rates_sentences_per_s": {"raw_encode_mean": round(n / raw_mean, 1), "build": round(n / build_s, 1),
                                  "build_minus_segmentation": round(n / (build_s - seg), 1),
                                  "raw_encode_chunked": round(n / chunk_s, 1) if chunk_s else None},
        "ratio_build_to_raw": round(ratio, 4),
        "ratio_build_minus_segmentation_to_raw": round(ratio_noseg, 4),
        "ratio_by_process_cpu_time": round(cpu_ratio, 4),
        "raw_runs_spread": round(spread, 4),
        "target_ratio": 0.90,
        "target_met": ratio >= 0.90,
        "stages_seconds": {k: round(v, 4) for k, v in stages.items()},
        "stage_calls": dict(timer.calls),
        "segmentation_us_per_char": round(seg / chars * 1e6, 3),
        "embedded_texts_identical_to_raw": same,
        "max_abs_vector_difference": max_diff,
        "rss": common.rss_mb(),
        "notes": "stages are inclusive; 'model encode' is inside 'embedding (cache + encode)', the two "
                 "segmentation stages are inside 'load documents'. Cold cache: fresh index dir.",
    }
    path = common.write_results("bench_build", payload, args.out)
    print(f"wrote {path}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
