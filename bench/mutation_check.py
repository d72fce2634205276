"""Mutation check: break a feature in a scratch copy and count how often the tests that claim to cover
it fail. A test that passes with its feature broken proves nothing.

Each mutation is a literal replacement in one source file (the script stops if the text is no longer
there, so it cannot silently test nothing). The copy is made fresh for each mutation; the unmutated
code is run once first, and must pass.

    .venv/bin/python bench/mutation_check.py [--runs 10] [--only NAME]
Writes bench/results/mutations.json.
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

ROOT = Path(__file__).resolve().parent.parent

MUTATIONS = [
    {
        "name": "atomic switch broken",
        "what": "the generation is written in place and CURRENT names it before its files exist",
        "file": "index/engine.py",
        "old": '        tmp = final.with_name(final.name + ".tmp")\n        tmp.mkdir()\n',
        "new": '        tmp = final\n        tmp.mkdir()\n        atomic_write(cdir.root / "CURRENT", final.name + "\\n")\n',
        "tests": ["tests/test_crash.py"],
        "runs": None,
    },
    {
        "name": "ensure without the writer lock",
        "what": "Engine.ensure checks and builds without taking the corpus's writer lock",
        "file": "index/engine.py",
        "old": "        with cdir.writer_lock(self.settings.lock_timeout):\n            if cdir.exists():",
        "new": "        with __import__('contextlib').nullcontext():\n            if cdir.exists():",
        "tests": ["tests/test_engine.py::test_concurrent_ensure_builds_once"],
        "runs": None,
    },
    {
        "name": "writer lock locks nothing",
        "what": "CorpusDir.writer_lock returns at once without flock",
        "file": "index/store.py",
        "old": "                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)\n                    break",
        "new": "                    break",
        "tests": ["tests/test_engine.py::test_concurrent_ensure_builds_once"],
        "runs": None,
    },
    {
        "name": "topic ranking removed",
        "what": "Engine.figures(topic) keeps document order instead of sorting by relevance",
        "file": "index/engine.py",
        "old": "            figures.sort(key=lambda f: -f.score)\n",
        "new": "            pass\n",
        "tests": ["tests/test_real_model.py::test_topic_ranking_puts_the_figure_on_the_topic_first",
                  "tests/test_bot_figures.py::test_figure_finds_the_one_figure"],
        "runs": 2,  # deterministic (no timing involved); the real model makes each run slow
    },
]

def _ignore(folder: str, names: list[str]) -> set[str]:
    """Leave out the venv, git, the built index data (top level only: tests/data is needed) and caches."""
    skip = {"__pycache__", ".pytest_cache"} | ({".git", ".venv", "data"} if Path(folder) == ROOT else set())
    return {n for n in names if n in skip or n.endswith(".pyc")}


def scratch_copy(mutation: dict | None) -> Path:
    work = Path(tempfile.mkdtemp(prefix="newsqa-mutant-"))
    copy = work / "repo"
    shutil.copytree(ROOT, copy, ignore=_ignore)
    if mutation is not None:
        path = copy / mutation["file"]
        text = path.read_text(encoding="utf-8")
        if text.count(mutation["old"]) != 1:
            raise SystemExit(f"mutation {mutation['name']!r} no longer applies to {mutation['file']}: update it")
        text = text.replace(mutation["old"], mutation["new"])
        path.write_text(text, encoding="utf-8")
        # A mutant that does not even import would be "caught" by every test: refuse it.
        check = subprocess.run([sys.executable, "-c", "import index.engine, index.store, bot.app"], cwd=copy,
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise SystemExit(f"mutation {mutation['name']!r} breaks the import: {check.stderr[-500:]}")
    return copy


def run_tests(copy: Path, tests: list[str]) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                          cwd=copy, env=env, capture_output=True, text=True)
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|error)", last)}
    return {"exit": proc.returncode, "passed": counts.get("passed", 0),
            "failed": counts.get("failed", 0) + counts.get("error", 0), "summary": last,
            "seconds": round(time.monotonic() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="runs of each mutant's tests (timing-free ones: fewer)")
    parser.add_argument("--only", default=None, help="rerun only the mutation with this name (its row is replaced)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "mutations.json")
    args = parser.parse_args()
    load_start = [round(x, 2) for x in os.getloadavg()]
    results = []
    for m in MUTATIONS:
        if args.only and m["name"] != args.only:
            continue
        clean = scratch_copy(None)
        baseline = run_tests(clean, m["tests"])
        shutil.rmtree(clean.parent, ignore_errors=True)
        mutant = scratch_copy(m)
        runs = [run_tests(mutant, m["tests"]) for _ in range(m["runs"] or args.runs)]
        shutil.rmtree(mutant.parent, ignore_errors=True)
        row = {k: m[k] for k in ("name", "what", "file", "tests")}
        # pytest exits 1 when tests failed; any other non-zero exit (collection error, usage) is no catch.
        row.update(baseline_passed=baseline["exit"] == 0, baseline=baseline, runs=len(runs),
                   runs_failing=sum(1 for r in runs if r["exit"] == 1),
                   runs_erroring=sum(1 for r in runs if r["exit"] not in (0, 1)),
                   tests_failing=sum(r["failed"] for r in runs), tests_run=sum(r["failed"] + r["passed"] for r in runs),
                   details=runs, load=[round(x, 2) for x in os.getloadavg()])
        print(f"{m['name']:32s} baseline {'passes' if row['baseline_passed'] else 'FAILS'}; mutant caught in "
              f"{row['runs_failing']}/{row['runs']} runs ({row['tests_failing']}/{row['tests_run']} tests failed)",
              flush=True)
        results.append(row)
    out = {"command": " ".join([sys.executable, *sys.argv]), "load_average_start": load_start,
           "load_average_end": [round(x, 2) for x in os.getloadavg()], "cores": os.cpu_count(), "mutations": results}
    if args.only and args.out.exists():  # replace that mutation's row in the existing results
        previous = json.loads(args.out.read_text())
        rows = [r for r in previous["mutations"] if r["name"] != args.only]
        order = [m["name"] for m in MUTATIONS]
        out["mutations"] = sorted(rows + results, key=lambda r: order.index(r["name"]))
        out["reruns_of_one_mutation"] = previous.get("reruns_of_one_mutation", []) + [out["command"]]
        out["command"] = previous["command"]
        out["load_average_start"] = previous["load_average_start"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
