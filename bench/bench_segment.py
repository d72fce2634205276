"""Sentence segmentation: pysbd (the previous segmenter) vs sentencex (index/segment.py now), side by side.

Prints accuracy on the tricky news cases of tests/test_segment.py, speed in µs per character on ~1 MB
of text (the seed article repeated, one paragraph per line, plus the 1,065 Wikipedia paragraphs of
../shared/eval/squad-dev-a.json), the cost per sentence next to the ~3.3 ms it takes to embed one,
and how often the two agree paragraph by paragraph. Writes bench/results/segment.json.

    .venv/bin/python bench/bench_segment.py [--reps 3]

Rows:
  pysbd (previous)      the old index/segment.py path: pysbd per paragraph, 3,000-char windows
  pysbd + pre-check     same, but a paragraph whose only terminal punctuation is at its end skips pysbd
                        (the cheapest cut considered if pysbd had been kept; output checked identical)
  sentencex (raw)       sentencex.get_sentence_boundaries("en", ...) per paragraph, nothing else
  sentencex (current)   index.segment: sentencex + the title rule ("Ms.", "Mx." never end a sentence)
Only what .venv has is compared; blingfire, nupunkt, syntok and segtok were measured once in a throwaway
venv (figures in the module docstring of index/segment.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pysbd  # noqa: E402
import sentencex  # noqa: E402

import index.segment as seg  # noqa: E402
import tests.test_segment as cases_module  # noqa: E402

SEED = ROOT / "seeds" / "nato-defense-ministers.txt"
SQUAD = Path("../shared/eval/squad-dev-a.json")
ENCODE_MS_PER_SENTENCE = 3.3  # measured embedding cost per sentence on this machine (brief)
_WINDOW = 3000
# Terminal punctuation pysbd may split at ('.', '!', '?', full-width forms, '…').
_TERMINAL = re.compile(r"[.!?。．！？…]")
_TRAILING = re.compile(r"[\s.!?。．！？…\"'”’)\]]*\Z")


# ----------------------------------------------------------------------------- the pysbd path (old)

def _pysbd_chunk_ends(chunk: str) -> list[int]:
    ends, pos = [], 0
    for piece in pysbd.Segmenter(language="en", clean=False).segment(chunk):
        piece = piece.strip()
        if not piece:
            continue
        idx = chunk.find(piece, pos)
        if idx < 0:
            continue
        pos = idx + len(piece)
        ends.append(pos)
    return ends


def pysbd_ends(para: str) -> list[int]:
    """Exactly what index/segment.py did before (pysbd 0.3.4, windowed over 3,000 characters)."""
    ends: list[int] = []
    base = 0
    while len(para) - base > _WINDOW:
        window = para[base: base + _WINDOW]
        found = _pysbd_chunk_ends(window)[:-1]
        if found:
            ends.extend(base + e for e in found)
            base += found[-1]
        else:
            cut = window.rfind(" ", 1)
            cut = cut if cut > 0 else len(window)
            ends.append(base + cut)
            base += cut
    ends.extend(base + e for e in _pysbd_chunk_ends(para[base:]))
    return ends


def pysbd_precheck_ends(para: str) -> list[int]:
    """pysbd only where a terminal punctuation mark occurs before the paragraph's trailing run."""
    body_end = _TRAILING.search(para).start()
    if not _TERMINAL.search(para, 0, body_end):
        return [len(para)]
    return pysbd_ends(para)


def sentencex_raw_ends(para: str) -> list[int]:
    return [b["end_index"] for b in sentencex.get_sentence_boundaries("en", para)]


APPROACHES = {
    "pysbd (previous)": pysbd_ends,
    "pysbd + pre-check": pysbd_precheck_ends,
    "sentencex (raw)": sentencex_raw_ends,
    "sentencex (current)": seg._paragraph_ends,
}


def sentences_from_ends(para: str, ends: list[int]) -> list[str]:
    out, start = [], 0
    for end in [*ends, len(para)]:
        s, e = seg._strip_span(para, start, max(start, min(end, len(para))))
        if s < e:
            out.append(para[s:e])
        start = max(start, end)
    return out


def load_corpora() -> dict[str, list[str]]:
    seed_lines = [ln.strip() for ln in SEED.read_text(encoding="utf-8").splitlines() if ln.strip()]
    corpora = {"news: seed article x100": seed_lines * 100}
    if SQUAD.exists():
        data = json.loads(SQUAD.read_text(encoding="utf-8"))
        corpora["wikipedia: squad-dev-a contexts"] = [p["context"].strip() for a in data["data"] for p in a["paragraphs"]]
    # What _paragraph_ends receives: control characters (SQuAD has "O\n2") already turned into spaces.
    return {k: [seg._CONTROL.sub(" ", p) for p in v] for k, v in corpora.items()}


def tricky_cases() -> list[tuple[str, list[str]]]:
    return [tuple(c.values) if hasattr(c, "values") else c for c in cases_module.CASES]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3, help="timing repetitions; the median is reported")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "segment.json")
    args = ap.parse_args()
    load_before = list(os.getloadavg())

    cases = tricky_cases()
    corpora = load_corpora()
    nchars = {k: sum(map(len, v)) for k, v in corpora.items()}
    total_chars = sum(nchars.values())
    for f in APPROACHES.values():  # warm up
        f("Warm up. Mr. Smith paid $1.5 billion.")

    accuracy, misses = {}, {}
    for name, f in APPROACHES.items():
        wrong = [(text, got) for text, expected in cases if (got := sentences_from_ends(text, f(text))) != expected]
        accuracy[name], misses[name] = len(cases) - len(wrong), wrong

    reference = {k: [sentences_from_ends(p, pysbd_ends(p)) for p in v] for k, v in corpora.items()}
    agreement, sentence_counts = {}, {}
    for name, f in APPROACHES.items():
        got = {k: [sentences_from_ends(p, f(p)) for p in v] for k, v in corpora.items()}
        agreement[name] = {k: sum(a == b for a, b in zip(got[k], reference[k])) / len(reference[k]) for k in corpora}
        sentence_counts[name] = {k: sum(map(len, got[k])) for k in corpora}

    times: dict[str, dict[str, list[float]]] = {name: {k: [] for k in corpora} for name in APPROACHES}
    for _ in range(args.reps):
        for name, f in APPROACHES.items():
            for k, paras in corpora.items():
                t0 = time.perf_counter()
                for p in paras:
                    f(p)
                times[name][k].append(time.perf_counter() - t0)

    # Whole public API on documents (paragraphs joined by blank lines), to include the span mapping.
    docs = ["\n".join(corpora["news: seed article x100"])]
    if len(corpora) > 1:
        docs.append("\n\n".join(corpora["wikipedia: squad-dev-a contexts"]))
    api_times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        n_api = sum(len(seg.split_sentences(d)) for d in docs)
        api_times.append(time.perf_counter() - t0)
    api_chars = sum(map(len, docs))

    rows = []
    base_all = None
    for name in APPROACHES:
        med = {k: statistics.median(times[name][k]) for k in corpora}
        all_us = sum(med.values()) / total_chars * 1e6
        base_all = base_all or all_us
        n_sent = sentence_counts["pysbd (previous)"]
        ms_per_sentence = sum(med.values()) / sum(n_sent.values()) * 1e3
        rows.append({
            "approach": name,
            "accuracy": f"{accuracy[name]}/{len(cases)}",
            **{f"us_per_char[{k}]": round(med[k] / nchars[k] * 1e6, 4) for k in corpora},
            "us_per_char[all]": round(all_us, 4),
            "speedup_vs_pysbd": round(base_all / all_us, 1),
            "ms_per_sentence": round(ms_per_sentence, 4),
            "pct_of_encode": round(ms_per_sentence / ENCODE_MS_PER_SENTENCE * 100, 2),
            **{f"same_as_pysbd[{k}]": round(agreement[name][k], 4) for k in corpora},
            "sentences": sum(sentence_counts[name].values()),
        })

    keys = ["approach", "accuracy", *[f"us_per_char[{k}]" for k in corpora], "us_per_char[all]", "speedup_vs_pysbd",
            "ms_per_sentence", "pct_of_encode", *[f"same_as_pysbd[{k}]" for k in corpora], "sentences"]
    short = {"us_per_char[news: seed article x100]": "µs/ch news", "us_per_char[wikipedia: squad-dev-a contexts]": "µs/ch wiki",
             "us_per_char[all]": "µs/ch all", "speedup_vs_pysbd": "x pysbd", "ms_per_sentence": "ms/sent",
             "pct_of_encode": "% encode", "same_as_pysbd[news: seed article x100]": "=pysbd news",
             "same_as_pysbd[wikipedia: squad-dev-a contexts]": "=pysbd wiki"}
    headers = [short.get(k, k) for k in keys]
    cells = [[str(r[k]) for k in keys] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    print(f"corpus: {total_chars:,} chars ({', '.join(f'{k}: {v:,}' for k, v in nchars.items())}); "
          f"median of {args.reps}; load {load_before[0]:.2f} before")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for c in cells:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths)))
    api_us = statistics.median(api_times) / api_chars * 1e6
    print(f"split_sentences() on {len(docs)} documents ({api_chars:,} chars, {n_api:,} sentences): "
          f"{statistics.median(api_times):.3f} s = {api_us:.3f} µs/char")
    for name, wrong in misses.items():
        for text, got in wrong:
            print(f"  miss [{name}] {text!r} -> {got}")

    payload = {
        "name": "segment",
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "pysbd": getattr(pysbd, "__version__", "?"), "sentencex": _version("sentencex")},
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "reps": args.reps,
        "corpus_chars": nchars,
        "encode_ms_per_sentence": ENCODE_MS_PER_SENTENCE,
        "rows": rows,
        "split_sentences": {"documents": len(docs), "chars": api_chars, "sentences": n_api,
                            "seconds_median": round(statistics.median(api_times), 4), "us_per_char": round(api_us, 4)},
        "misses": {k: [[t, g] for t, g in v] for k, v in misses.items()},
        "timings_seconds": times,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    main()
