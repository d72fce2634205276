"""Run one engine write in a child process so a test can SIGKILL it at a random moment."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from index.documents import load_text
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings


class SlowEncoder(HashingEncoder):
    """The fake encoder, slowed down so that a kill lands inside the write."""

    def encode(self, texts, **kwargs):  # noqa: ANN001, ANN003 - test helper
        time.sleep(0.002 * len(texts))
        return super().encode(texts, **kwargs)


def main() -> None:
    index_dir, seeds, action, n = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    engine = Engine(index_dir, SlowEncoder(), EngineSettings(seeds_dir=seeds))
    if action == "build":
        engine.build("default")
    else:
        text = "\n".join(f"Crash test article {n} sentence {i} talks about topic {i * n}." for i in range(150))
        engine.add([load_text(text, title=f"Crash article {n}")])
    print("done", flush=True)


if __name__ == "__main__":
    main()
