"""Run one engine write in a child process that stops at a named step, so a test can SIGKILL it there.

    python tests/crash_worker.py INDEX_DIR SEEDS build|add N STEP

The child prints ``at STEP`` when the write reaches STEP (see ``index.engine.write_step_hook``) and
then waits to be killed; with STEP ``none`` it runs the write to the end and prints ``done``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import index.engine as engine_module
from index.documents import load_text
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings


def main() -> None:
    index_dir, seeds, action, n, stop_at = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]

    def reached(step: str) -> None:
        if step == stop_at:
            print(f"at {step}", flush=True)
            time.sleep(600)  # the parent kills us here

    engine_module.write_step_hook = reached
    engine = Engine(index_dir, HashingEncoder(), EngineSettings(seeds_dir=seeds))
    if action == "build":
        engine.build("default")
    else:
        text = "\n".join(f"Crash test article {n} sentence {i} talks about topic {i * n}." for i in range(150))
        engine.add([load_text(text, title=f"Crash article {n}")])
    print("done", flush=True)


if __name__ == "__main__":
    main()
