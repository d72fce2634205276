"""Build throughput of Engine.build with the real model, ONNX Runtime and torch side by side, against each
encoder's raw encode of the same texts.

    .venv/bin/python bench/bench_build.py [--sentences 3000] [--squad PATH | --text PATH] [--encoders onnx,torch]

One process, both encoders loaded (ONNX Runtime: the export made once in the work dir, as a first run
does; torch: sentence-transformers), each warmed up. Then, per repeat, one Engine.build per encoder (the
order alternating between repeats; each build in a fresh index dir, cold embedding cache, documents
loaded from .txt files so segmentation is included), each followed by that encoder's raw encode of
exactly the texts the build embedded: every sentence twice since context vectors (the sentence, then
"title. previous sentence. sentence"), in the same order, with the encoder's default batching. Wall and
process CPU time are recorded (the latter less sensitive to other jobs on this shared machine).
Reported: sentences per second of each build, the ONNX / torch ratio (builds use ONNX Runtime unless
ENCODER=torch), and build rate / raw encode rate for each encoder (target >= 0.90: what the build adds
to encoding).
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
    ap.add_argument("--encoders", default="onnx,torch", help="encoders to build with, side by side (default onnx,torch)")
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

    from index.embed import SentenceTransformerEncoder, resolve_model
    from index.engine import Engine
    from index.onnx_encoder import OnnxEncoder, ensure_export

    names = [e.strip() for e in args.encoders.split(",") if e.strip()]
    encoders, model_load = {}, {}
    for name in names:
        t = time.perf_counter()
        if name == "onnx":
            encoders[name] = OnnxEncoder(ensure_export(Path(resolve_model(None)), work / "models", "all-MiniLM-L6-v2"))
        elif name == "torch":
            encoders[name] = SentenceTransformerEncoder()
        else:
            raise SystemExit(f"unknown encoder {name!r}: onnx or torch")
        model_load[name] = round(time.perf_counter() - t, 2)
    info = {**info, **{k: v for k, v in common.machine_info().items() if k.startswith(("torch", "threadpool"))}}

    warm = [common.synthetic_sentence(__import__("random").Random(i)) + " (warm-up)" for i in range(256)]
    for enc in encoders.values():
        enc.encode(warm)  # first batches allocate and pick kernels

    timer = common.StageTimer()
    common.patch_write_path(timer)
    embedded: dict[str, list[str]] = {name: [] for name in names}
    raw_encode = {name: enc.encode for name, enc in encoders.items()}
    for name, enc in encoders.items():
        real = enc.encode

        def capturing(texts, _real=real, _name=name, **kw):  # noqa: ANN001, ANN202 - Encoder.encode's signature
            embedded[_name].extend(texts)
            return _real(texts, **kw)

        enc.encode = capturing
        timer.patch(enc, "encode", "model encode")

    runs: dict[str, dict[str, list]] = {name: {"build": [], "build_cpu": [], "raw": [], "raw_cpu": [], "stages": [],
                                               "load": []} for name in names}
    reports, vectors = {}, {}
    for r in range(args.repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            enc = encoders[name]
            engine = Engine(work / f"index-{name}-{r}", enc)  # fresh index dir: cold cache
            embedded[name].clear()
            timer.reset()
            runs[name]["load"].append(common.load_average())
            c, t = time.process_time(), time.perf_counter()
            reports[name] = engine.build(source_dir=src_dir)
            runs[name]["build"].append(time.perf_counter() - t)
            runs[name]["build_cpu"].append(time.process_time() - c)
            runs[name]["stages"].append(timer.snapshot())
            texts = list(embedded[name])
            vectors[name] = np.load(engine.index("default").path / "vectors.npy")
            engine.close()
            c, t = time.process_time(), time.perf_counter()
            raw_encode[name](texts)  # the encoder itself, the same texts in one call
            runs[name]["raw"].append(time.perf_counter() - t)
            runs[name]["raw_cpu"].append(time.process_time() - c)
            runs[name]["texts"] = len(texts)
    timer.restore()

    n = next(iter(reports.values())).sentences
    result: dict[str, dict] = {}
    rows = []
    for name in names:
        run = runs[name]
        build_s, raw_s = statistics.median(run["build"]), statistics.median(run["raw"])
        stages = {k: statistics.median(st.get(k, 0.0) for st in run["stages"]) for k in run["stages"][0]}
        result[name] = {
            "model_load_seconds": model_load[name],
            "texts_encoded_per_build": run["texts"],
            "build_seconds_runs": [round(x, 2) for x in run["build"]],
            "build_cpu_seconds_runs": [round(x, 2) for x in run["build_cpu"]],
            "raw_encode_seconds_runs": [round(x, 2) for x in run["raw"]],
            "build_sentences_per_s": round(n / build_s, 1),
            "raw_encode_texts_per_s": round(run["texts"] / raw_s, 1),
            "ratio_build_to_raw_encode": round(raw_s / build_s, 3),
            "ratio_by_process_cpu_time": round(statistics.median(run["raw_cpu"]) / statistics.median(run["build_cpu"]), 3),
            "load_average_before_each_build": run["load"],
            "stages_seconds": {k: round(v, 3) for k, v in stages.items()},
        }
        rows += [[f"{name}: Engine.build (median of {len(run['build'])})", build_s, n / build_s,
                  f"cpu {statistics.median(run['build_cpu']):.1f} s"],
                 [f"{name}: raw encode of the build's {run['texts']} texts", raw_s, n / raw_s,
                  f"cpu {statistics.median(run['raw_cpu']):.1f} s; ratio build/raw {raw_s / build_s:.3f}"]]
    common.print_table(rows, ["what", "seconds", "sentences/s", "note"],
                       title=f"Build throughput: {n} sentences, {next(iter(reports.values())).documents} documents, "
                             f"{chars:,} chars ({source})")
    summary: dict = {}
    if {"onnx", "torch"} <= set(names):
        summary["ratio_onnx_over_torch_build"] = round(result["onnx"]["build_sentences_per_s"]
                                                       / result["torch"]["build_sentences_per_s"], 2)
        cos = (vectors["onnx"] * vectors["torch"]).sum(axis=1)
        summary["cosine_onnx_vs_torch_built_vectors_min"] = round(float(cos.min()), 7)
        print(f"ONNX Runtime builds {summary['ratio_onnx_over_torch_build']}x as fast as torch; built vectors' "
              f"cosine min {summary['cosine_onnx_vs_torch_built_vectors_min']}")
    for name in names:
        print(f"{name}: build rate / raw encode rate = {result[name]['ratio_build_to_raw_encode']} (target >= 0.90), "
              f"by process CPU time {result[name]['ratio_by_process_cpu_time']}")
        common.print_table(common.breakdown_rows(result[name]["stages_seconds"], statistics.median(runs[name]["build"])),
                           ["stage of Engine.build", "seconds", "share"], title=f"Where Engine.build spends its time ({name})")

    payload = {
        "benchmark": "bench_build",
        "machine": common.finish_info(info),
        "params": {"sentences_requested": args.sentences, "repeats": args.repeats, "source": source, "encoders": names},
        "corpus": {"sentences": n, "documents": next(iter(reports.values())).documents, "chars": chars},
        "summary": summary,
        "encoders": result,
        "target_ratio": 0.90,
        "rss": common.rss_mb(),
        "notes": "stages are inclusive; 'model encode' is inside 'embedding (cache + encode)', the two segmentation "
                 "stages are inside 'load documents'. Cold cache: fresh index dir. Each sentence is encoded twice "
                 "(sentence and context vector), so the raw encode covers twice the sentences.",
    }
    path = common.write_results("bench_build", payload, args.out)
    print(f"wrote {path}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
