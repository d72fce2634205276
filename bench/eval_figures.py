"""Key figures on news-dev: recall@8, label accuracy, precision and right, as its README scores them.

    .venv/bin/python bench/eval_figures.py ../shared/eval/news-dev [--sources pages bodies] [--fast]
        [--index-dir DIR] [--verbose] [--out bench/results/figures.json]

Sources (each scored with the set's own score_figures.py against figures.jsonl):
  pages    the full path: `python -m bot index build --source pages/` (real model, HF_HUB_OFFLINE=1),
           then `python -m bot figures --json --limit 1000` over the whole index. What a user gets.
  bodies   the same commands over the reference bodies (bodies/<page>.txt, copied as <page>.txt so the
           scorer maps them to their pages): the extractor's own quality, without page extraction.
--fast skips the index and the model: each file is loaded with index.documents.load_path and its figures
taken from index.figures.extract_figures in this process, in the order the engine stores and lists them.
Use it while iterating; the default (the CLI path) is what the report quotes.

Prints one row per source and writes bench/results/figures.json with the figures, the load average
and the scorer's per-page misses.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import finish_info, machine_info, print_table, write_results  # noqa: E402

_LAST = re.compile(r"figures: recall@8 ([\d.]+) label-acc ([\d.]+) precision ([\d.]+) right ([\d.]+) "
                   r"\((\d+) gold, (\d+) pages\)")


def _cli(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"`python -m bot {' '.join(args)}` failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def _source_folder(dev: Path, source: str, work: Path) -> Path:
    """pages/ as it is; bodies/ copied so each body is <page stem>.txt, named like its page."""
    if source == "pages":
        return dev / "pages"
    folder = work / "bodies-src"
    if not folder.exists():
        folder.mkdir(parents=True)
        for body in sorted((dev / "bodies").glob("*.txt")):
            shutil.copyfile(body, folder / body.name)
    return folder


def _figures_cli(folder: Path, index_dir: Path) -> tuple[list[dict], float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    _cli(["index", "build", "--source", str(folder), "--index-dir", str(index_dir), "--json"], env)
    figures = json.loads(_cli(["figures", "--json", "--limit", "1000", "--index-dir", str(index_dir)], env))
    return figures, time.perf_counter() - started


def _figures_fast(folder: Path) -> tuple[list[dict], float]:
    from index.documents import list_sources, load_path
    from index.figures import extract_figures
    from index.citations import make_citation

    started = time.perf_counter()
    out = []
    for path in list_sources(folder):
        doc = load_path(path)
        for f in extract_figures(doc.doc_id, doc.text, doc.sentences, title=doc.title):
            d = f.to_dict()
            d["citation"] = make_citation(doc_id=doc.doc_id, title=doc.title, paragraph=f.paragraph,
                                          sentence=f.sentence, source=doc.source, url=doc.url,
                                          text=f.sentence_text).to_dict()
            out.append(d)
    return out, time.perf_counter() - started


def _score(scorer: Path, figures_path: Path, dev: Path) -> tuple[dict, str]:
    proc = subprocess.run([sys.executable, str(scorer), str(figures_path), "--gold", str(dev / "figures.jsonl"),
                           "--verbose"], capture_output=True, text=True)
    m = _LAST.search(proc.stdout)
    if proc.returncode != 0 or not m:
        sys.exit(f"score_figures.py failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    names = ("recall_at_8", "label_acc", "precision", "right")
    scores = {k: float(v) for k, v in zip(names, m.groups()[:4])} | {"gold": int(m[5]), "pages": int(m[6])}
    return scores, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("news_dev", type=Path, help="the news-dev folder (pages/, bodies/, figures.jsonl, score_figures.py)")
    ap.add_argument("--sources", nargs="+", choices=("pages", "bodies"), default=["pages", "bodies"])
    ap.add_argument("--fast", action="store_true", help="extract in this process: no index, no model")
    ap.add_argument("--index-dir", type=Path, help="keep the indexes here (default: a temporary folder)")
    ap.add_argument("--verbose", "-v", action="store_true", help="print the scorer's per-page misses")
    ap.add_argument("--out", type=Path, help="results file (default: bench/results/figures.json; "
                                             "with --fast nothing is written unless given)")
    args = ap.parse_args()
    dev = args.news_dev.resolve()
    scorer = dev / "score_figures.py"
    for need in (dev / "pages", dev / "bodies", dev / "figures.jsonl", scorer):
        if not need.exists():
            sys.exit(f"{need} is missing: pass the news-dev folder (it holds pages/, bodies/, figures.jsonl)")

    info = machine_info()
    rows, results = [], {}
    with tempfile.TemporaryDirectory(prefix="eval-figures-") as tmp:
        work = Path(tmp)
        for source in args.sources:
            folder = _source_folder(dev, source, work)
            if args.fast:
                figures, seconds = _figures_fast(folder)
            else:
                index_dir = (args.index_dir or work) / f"index-{source}"
                figures, seconds = _figures_cli(folder, index_dir)
            figures_path = work / f"figures-{source}.json"
            figures_path.write_text(json.dumps(figures), encoding="utf-8")
            scores, report = _score(scorer, figures_path, dev)
            if args.verbose:
                print(report)
            docs = {f.get("doc_id") for f in figures}
            rows.append([source, "in-process" if args.fast else "CLI + index", scores["recall_at_8"],
                         scores["label_acc"], scores["precision"], scores["right"], len(figures),
                         round(len(figures) / max(1, len(docs)), 1), round(seconds, 1)])
            results[source] = {**scores, "figures_listed": len(figures), "documents": len(docs),
                               "seconds": round(seconds, 2), "scorer_report": report.splitlines(),
                               "figures": [{k: f.get(k) for k in ("doc_id", "text", "value", "unit", "kind", "label")}
                                           for f in figures]}
    print_table(rows, ["source", "path", "recall@8", "label-acc", "precision", "right", "figures", "per doc", "s"],
                title=f"news-dev key figures ({dev.name}; targets recall@8 >= 0.90, label-acc >= 0.90, "
                      f"precision >= 0.97)")
    payload = {"info": finish_info(info), "fast": args.fast, "results": results}
    if args.out or not args.fast:
        print("wrote", write_results("figures", payload, args.out))


if __name__ == "__main__":
    main()
