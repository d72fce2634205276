"""Run one engine write in a child process that stops at a named step, so a test can SIGKILL it there.

    python tests/crash_worker.py INDEX_DIR SEEDS build|add N STEP [APPROXIMATE_ABOVE]

The child prints ``at STEP`` when the write reaches STEP (see ``index.engine.write_step_hook``) and
then waits to be killed; with STEP ``none`` it runs the write to the end and prints ``done``.
With APPROXIMATE_ABOVE (RetrievalSettings.approximate_above), it prints ``extended K`` before ``done``:
how many writes extended the previous HNSW index.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import index.engine as engine_module
from index.documents import load_text
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from index.search import RetrievalSettings


def main() -> None:
    index_dir, seeds, action, n, stop_at = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]

    def reached(step: str) -> None:
        if step == stop_at:
            print(f"at {step}", flush=True)
            time.sleep(600)  # the parent kills us here

    engine_module.write_step_hook = reached
    approximate = int(sys.argv[6]) if len(sys.argv) > 6 else None
    retrieval = RetrievalSettings() if approximate is None else RetrievalSettings(approximate_above=approximate)
    engine = Engine(index_dir, HashingEncoder(), EngineSettings(seeds_dir=seeds, retrieval=retrieval))
    if action == "build":
        engine.build("default")
    else:
        text = "\n".join(f"Crash test article {n} sentence {i} talks about topic {i * n}." for i in range(150))
        engine.add([load_text(text, title=f"Crash article {n}")])
    if approximate is not None:
        print(f"extended {engine.backend.extended}", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
