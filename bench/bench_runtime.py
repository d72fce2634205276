"""The light runtime (issue 10): ONNX Runtime vs torch, side by side in one run.

    .venv/bin/python bench/bench_runtime.py --squad ../shared/eval/squad-dev-a.json [--repeats 5]

On the seed index (built once in a temp dir, the ONNX export made once beside it):
- `newsqa --help` wall time;
- cold `newsqa ask` wall time and RSS after answering, ENCODER=onnx and ENCODER=torch alternating,
  each a fresh process (`python -m bot ask`, run by a two-line wrapper that reports RSS, peak RSS
  and whether torch was imported after the answer is printed);
- the bot process: prepare_bot (engine, seeds corpus, discord.py bot with its cogs; no gateway) and
  one answer, RSS after it, for both encoders; then the same bot adds one SQuAD article to the seeds
  corpus (what an admin's /add does: the sentences encoded in batches, in the bot's process) and answers
  again, RSS after that (each such run on its own copy of the index);
- in one process with both encoders loaded: warm single-question encode (alternating blocks of 10
  SQuAD questions; torch with 1 thread as the engine uses for questions), the cosine between the two
  encoders' vectors on SQuAD sentences (the real segmenter) and questions, and bulk encode throughput
  (the same sentences in alternating chunks, each encoder with its default batching and all cores).
Figures go to bench/results/runtime.json with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

import numpy as np  # noqa: E402

QUESTION = "How much did European allies and Canada invest in defense in 2024?"
REPORT = ("import json, sys\n"
          "def _report():\n"
          "    status = dict(l.split(':', 1) for l in open('/proc/self/status') if l.startswith(('Vm', 'Rss')))\n"
          "    mods = {m.split('.')[0] for m in sys.modules}\n"
          "    print('BENCH ' + json.dumps({'rss_mib': int(status['VmRSS'].split()[0]) / 1024,\n"
          "        'anon_mib': int(status['RssAnon'].split()[0]) / 1024, 'file_mib': int(status['RssFile'].split()[0]) / 1024,\n"
          "        'peak_rss_mib': int(status['VmHWM'].split()[0]) / 1024, 'torch_imported': 'torch' in mods,\n"
          "        'onnxruntime_imported': 'onnxruntime' in mods,\n"
          "        'heavy_imports': [m for m in ('lightgbm', 'scipy', 'pandas', 'sklearn') if sys.modules.get(m)]}),\n"
          "        file=sys.stderr)\n")
CLI = REPORT + "from bot.cli import main\ncode = main(sys.argv[1:])\n_report()\nsys.exit(code)\n"
BOT = REPORT + ("from bot.main import prepare_bot\nfrom bot.settings import load_settings\n"
                "engine, bot = prepare_bot(load_settings())\n"
                "answer = engine.ask(sys.argv[1], corpus='seeds')\nassert answer.hits\n_report()\n")
# Full garbage collections of the bot's heap before and after bot.runtime.freeze_startup_heap (as `newsqa run`
# does after start-up), median of 5 each.
GC = ("import gc, statistics, time\n"
      "def _full_gc_ms():\n"
      "    times = []\n"
      "    for _ in range(5):\n"
      "        t = time.perf_counter(); gc.collect(); times.append(time.perf_counter() - t)\n"
      "    return round(statistics.median(times) * 1000, 2)\n"
      "_gc = {'full_gc_ms': _full_gc_ms()}\n"
      "try:\n"
      "    from bot.runtime import freeze_startup_heap\n"
      "except ImportError:  # a version without it\n"
      "    pass\n"
      "else:\n"
      "    _gc['frozen_objects'] = freeze_startup_heap()\n"
      "    _gc['full_gc_ms_frozen'] = _full_gc_ms()\n"
      "print('BENCHGC ' + json.dumps(_gc), file=sys.stderr)\n")
BOT += GC
# The bot, then an article added as an admin's /add does (argv[2]: a text file, its first line the title).
BOT_ADD = BOT + ("from index.documents import load_text\n"
                 "title, text = open(sys.argv[2], encoding='utf-8').read().split('\\n', 1)\n"
                 "engine.add([load_text(text, title=title, doc_id='added-article')], corpus='seeds')\n"
                 "assert engine.ask(sys.argv[1], corpus='seeds').hits\n_report()\n")


def child(code: str, args: list[str], env: dict[str, str]) -> tuple[float, dict]:
    """Run ``code`` in a fresh interpreter from the repo root; wall seconds and its BENCH report."""
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=common.ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"child failed ({done.returncode}): {done.stderr[-2000:]}")
    lines = done.stderr.splitlines()
    report = json.loads([x for x in lines if x.startswith("BENCH ")][-1][6:])  # the last one: after everything
    for x in lines:
        if x.startswith("BENCHGC "):
            report["gc"] = json.loads(x[8:])
    return wall, report


def cold_runs(index_dir: Path, repeats: int, article: Path) -> dict:
    base = dict(os.environ, HF_HUB_OFFLINE="1", INDEX_DIR=str(index_dir), SEEDS_DIR=str(common.ROOT / "seeds"),
                DISCORD_TOKEN="", LOG_LEVEL="WARNING", PYTHONPATH=str(common.ROOT))
    out: dict = {"help": [], "ask": {"onnx": [], "torch": []}, "bot": {"onnx": [], "torch": []},
                 "bot_add": {"onnx": [], "torch": []}}
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bot", "--help"], cwd=common.ROOT, env=base, capture_output=True, check=True)
        out["help"].append(time.perf_counter() - t)
        for enc in ("onnx", "torch"):
            wall, rep = child(CLI, ["ask", QUESTION], dict(base, ENCODER=enc))
            out["ask"][enc].append({"wall_s": wall, **rep})
    for enc in ("onnx", "torch"):
        _, rep = child(BOT, [QUESTION], dict(base, ENCODER=enc))
        out["bot"][enc].append(rep)
    for enc in ("onnx", "torch"):
        copy = index_dir.parent / f"index-add-{enc}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(index_dir, copy)
        _, rep = child(BOT_ADD, [QUESTION, str(article)], dict(base, ENCODER=enc, INDEX_DIR=str(copy)))
        out["bot_add"][enc].append(rep)
        shutil.rmtree(copy)
    return out


def warm_and_bulk(args: argparse.Namespace, models_dir: Path) -> dict:
    from index.documents import load_text
    from index.embed import SentenceTransformerEncoder
    from index.onnx_encoder import OnnxEncoder, ensure_export, export_dir
    from index.embed import resolve_model

    path = Path(resolve_model(None))
    onnx = OnnxEncoder(export_dir(models_dir, path, "all-MiniLM-L6-v2"))
    ensure_export(path, models_dir, "all-MiniLM-L6-v2")
    torch_enc = SentenceTransformerEncoder()

    questions = common.squad_questions(args.squad)
    random.Random(5).shuffle(questions)
    articles = common.squad_articles(args.squad, args.sentences)
    sentences = [s.text for i, (title, text) in enumerate(articles)
                 for s in load_text(text, title=title, doc_id=f"a{i}").sentences][: args.sentences]

    # Warm single-question encode, alternating blocks of 10 (after 10 warm-up encodes each).
    for q in questions[:10]:
        onnx.encode([q])
        torch_enc.encode([q])
    times: dict[str, list[float]] = {"onnx": [], "torch": []}
    for block in range(args.blocks):
        qs = questions[10 + block * 10 : 20 + block * 10]
        for name, enc in (("onnx", onnx), ("torch", torch_enc)):
            for q in qs:
                t = time.perf_counter()
                enc.encode([q])
                times[name].append(time.perf_counter() - t)
    warm = {k: common.summary_ms(v) for k, v in times.items()}
    warm["ratio_torch_over_onnx_p50"] = round(warm["torch"]["p50_ms"] / warm["onnx"]["p50_ms"], 2)

    # Cosine on every question and the sentences (each encoder's own batching).
    qa, qb = onnx.encode(questions), torch_enc.encode(questions)
    cos_q = (qa * qb).sum(axis=1)

    # Bulk throughput: the sentences in alternating chunks.
    chunks = [sentences[i : i + args.chunk] for i in range(0, len(sentences), args.chunk)]
    bulk = {"onnx": 0.0, "torch": 0.0}
    cpu = {"onnx": 0.0, "torch": 0.0}
    vecs: dict[str, list[np.ndarray]] = {"onnx": [], "torch": []}
    for i, chunk in enumerate(chunks):
        order = (("onnx", onnx), ("torch", torch_enc)) if i % 2 == 0 else (("torch", torch_enc), ("onnx", onnx))
        for name, enc in order:
            t, c = time.perf_counter(), time.process_time()
            vecs[name].append(enc.encode(chunk))
            bulk[name] += time.perf_counter() - t
            cpu[name] += time.process_time() - c
    sa, sb = np.vstack(vecs["onnx"]), np.vstack(vecs["torch"])
    cos_s = (sa * sb).sum(axis=1)

    def cos_summary(c: np.ndarray) -> dict:
        return {"n": int(c.size), "min": round(float(c.min()), 7), "p01": round(float(np.percentile(c, 1)), 7),
                "mean": round(float(c.mean()), 7), "below_0.9999": int((c < 0.9999).sum())}

    rate = {k: round(len(sentences) / v, 1) for k, v in bulk.items()}
    return {
        "warm_single_question_encode": warm,
        "cosine_onnx_vs_torch": {"squad_questions": cos_summary(cos_q), "squad_sentences": cos_summary(cos_s)},
        "bulk": {"sentences": len(sentences), "chunk": args.chunk, "sentences_per_s": rate,
                 "cpu_seconds": {k: round(v, 1) for k, v in cpu.items()},
                 "ratio_onnx_over_torch": round(rate["onnx"] / rate["torch"], 2)},
    }


def int8_check(args: argparse.Namespace, models_dir: Path) -> dict:
    """Dynamic int8 quantization (onnxruntime.quantization) of the fp32 export, against the fp32 export:
    cosine of the vectors and how often dense search alone picks the same top sentence."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from index.embed import resolve_model
    from index.onnx_encoder import OnnxEncoder, export_dir

    folder = export_dir(models_dir, Path(resolve_model(None)), "all-MiniLM-L6-v2")
    fp32 = OnnxEncoder(folder)
    int8_file = Path(tempfile.mkdtemp(prefix="int8-")) / "model.onnx"
    quantize_dynamic(str(folder / "model.onnx"), str(int8_file), weight_type=QuantType.QInt8)
    int8 = OnnxEncoder(folder)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    int8._session = ort.InferenceSession(str(int8_file), options, providers=["CPUExecutionProvider"])

    questions = common.squad_questions(args.squad)[::10]
    articles = common.squad_articles(args.squad, args.sentences)
    sentences = [p for _, text in articles for p in text.split("\n\n")]  # paragraphs: a coarser target
    qa, qb = fp32.encode(questions), int8.encode(questions)
    pa, pb = fp32.encode(sentences), int8.encode(sentences)
    same_top = float(((qa @ pa.T).argmax(1) == (qb @ pb.T).argmax(1)).mean())
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    for q in questions[:100]:
        for name, enc in (("fp32", fp32), ("int8", int8)):
            t = time.perf_counter()
            enc.encode([q])
            times[name].append(time.perf_counter() - t)
    return {"questions": len(questions), "paragraphs": len(sentences), "size_mb": round(int8_file.stat().st_size / 1e6, 1),
            "cosine_questions_min_mean": [round(float(x), 4) for x in ((qa * qb).sum(1).min(), (qa * qb).sum(1).mean())],
            "cosine_paragraphs_min_mean": [round(float(x), 4) for x in ((pa * pb).sum(1).min(), (pa * pb).sum(1).mean())],
            "dense_top_paragraph_same_as_fp32": round(same_top, 4),
            "encode_p50_ms": {k: common.summary_ms(v)["p50_ms"] for k, v in times.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squad", type=Path, required=True, help="SQuAD JSON (e.g. ../shared/eval/squad-dev-a.json)")
    ap.add_argument("--repeats", type=int, default=5, help="cold runs per encoder (default 5)")
    ap.add_argument("--blocks", type=int, default=20, help="blocks of 10 warm encodes per encoder (default 20)")
    ap.add_argument("--sentences", type=int, default=3000, help="SQuAD sentences for cosine and bulk (default 3000)")
    ap.add_argument("--chunk", type=int, default=500, help="bulk chunk alternating between encoders")
    ap.add_argument("--no-int8", action="store_true", help="skip the dynamic int8 quantization check")
    ap.add_argument("--no-warm", action="store_true",
                    help="cold runs and RSS only (no warm encode, cosine, bulk or int8 figures)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    info = common.machine_info()

    from bot.runtime import make_engine
    from bot.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    index_dir = work / "index"
    t = time.perf_counter()
    engine = make_engine(load_settings(None, {"INDEX_DIR": str(index_dir), "ENCODER": "onnx"}))
    engine.ensure("default")
    engine.ensure("seeds")  # the bot's corpus for direct messages: built here, so the bot run only loads it
    engine.close()
    setup_s = time.perf_counter() - t
    print(f"seed index and ONNX export made in {setup_s:.1f} s ({index_dir})", flush=True)

    title, text = common.squad_articles(args.squad)[0]
    article = work / "article.txt"
    article.write_text(f"{title}\n{text}", encoding="utf-8")

    load_cold = common.load_average()
    cold = cold_runs(index_dir, args.repeats, article)
    load_warm = common.load_average()
    warm = {} if args.no_warm else warm_and_bulk(args, index_dir / "models")
    if not (args.no_int8 or args.no_warm):
        warm["int8"] = int8_check(args, index_dir / "models")

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    summary = {
        "help_wall_s_median": med(cold["help"]),
        "cold_ask_wall_s_median": {k: med([r["wall_s"] for r in v]) for k, v in cold["ask"].items()},
        "cli_rss_after_answer_mib_median": {k: med([r["rss_mib"] for r in v]) for k, v in cold["ask"].items()},
        "cli_peak_rss_mib_median": {k: med([r["peak_rss_mib"] for r in v]) for k, v in cold["ask"].items()},
        "torch_imported_by_onnx_ask": any(r["torch_imported"] for r in cold["ask"]["onnx"]),
        "cli_rss_anon_file_mib_median": {k: [med([r["anon_mib"] for r in v]), med([r["file_mib"] for r in v])]
                                         for k, v in cold["ask"].items()},
        "bot_rss_after_answer_mib": {k: v[0]["rss_mib"] for k, v in cold["bot"].items()},
        "bot_rss_anon_file_mib": {k: [v[0]["anon_mib"], v[0]["file_mib"]] for k, v in cold["bot"].items()},
        "bot_rss_after_adding_an_article_mib": {k: v[0]["rss_mib"] for k, v in cold["bot_add"].items()},
        "bot_peak_rss_adding_an_article_mib": {k: v[0]["peak_rss_mib"] for k, v in cold["bot_add"].items()},
        "added_article": {"title": title, "characters": len(text)},
        "bot_heavy_imports": {k: v[0].get("heavy_imports") for k, v in cold["bot"].items()},
        "bot_full_gc_ms": {k: v[0].get("gc") for k, v in cold["bot"].items()},
        "torch_imported_by_onnx_bot": cold["bot"]["onnx"][0]["torch_imported"],
        **warm,
    }
    s = summary
    ratio_cold = s["cold_ask_wall_s_median"]["torch"] / s["cold_ask_wall_s_median"]["onnx"]
    targets = {
        "cold ask <= 1.5 s": f"{s['cold_ask_wall_s_median']['onnx']} s (torch {s['cold_ask_wall_s_median']['torch']} s, "
                             f"{ratio_cold:.1f}x)",
        "--help <= 0.3 s": f"{s['help_wall_s_median']} s",
        "RSS after answering <= 200 MB": f"CLI {s['cli_rss_after_answer_mib_median']['onnx']:.0f} MiB, bot "
                                         f"{s['bot_rss_after_answer_mib']['onnx']:.0f} MiB (torch: CLI "
                                         f"{s['cli_rss_after_answer_mib_median']['torch']:.0f}, bot "
                                         f"{s['bot_rss_after_answer_mib']['torch']:.0f})",
        "bot RSS after adding an article": f"{s['bot_rss_after_adding_an_article_mib']['onnx']:.0f} MiB (torch "
                                           f"{s['bot_rss_after_adding_an_article_mib']['torch']:.0f})",
        "bot full garbage collection": json.dumps(s["bot_full_gc_ms"]),
    }
    if not args.no_warm:
        targets |= {
            "warm encode >= 2x faster": f"{warm['warm_single_question_encode']['ratio_torch_over_onnx_p50']}x "
                                        f"(p50 onnx {warm['warm_single_question_encode']['onnx']['p50_ms']} ms, torch "
                                        f"{warm['warm_single_question_encode']['torch']['p50_ms']} ms)",
            "cosine >= 0.9999": f"min {min(v['min'] for v in warm['cosine_onnx_vs_torch'].values())}",
            "int8 (not used)": json.dumps(warm.get("int8")),
            "bulk": f"onnx {warm['bulk']['sentences_per_s']['onnx']} vs torch {warm['bulk']['sentences_per_s']['torch']} "
                    f"sentences/s ({warm['bulk']['ratio_onnx_over_torch']}x)",
        }
    for k, v in targets.items():
        print(f"{k}: {v}")
    payload = {"benchmark": "bench_runtime", "machine": common.finish_info(info),
               "load_average_before_cold_runs": load_cold, "load_average_before_warm_runs": load_warm,
               "params": {"repeats": args.repeats, "question": QUESTION, "squad": str(args.squad),
                          "sentences": args.sentences, "blocks": args.blocks, "setup_seconds": round(setup_s, 1)},
               "targets": targets, "summary": summary, "cold_runs": cold}
    path = common.write_results("runtime", payload, args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
