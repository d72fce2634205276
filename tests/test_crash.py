"""Crash safety: SIGKILL a build or an add at random moments; the previous index must keep answering."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings

ROOT = Path(__file__).resolve().parents[1]


def _start(index_dir: Path, seeds: Path, action: str, n: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "crash_worker.py"), str(index_dir), str(seeds), action, str(n)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("action", ["build", "add"])
def test_kill_mid_write_leaves_the_old_index_answering(tmp_path: Path, seeds_dir: Path, action: str) -> None:
    index_dir = tmp_path / "index"
    engine = Engine(index_dir, HashingEncoder(), EngineSettings(seeds_dir=seeds_dir))
    engine.ensure("default")
    rng = random.Random(1234)
    # How long one uninterrupted write takes, so the kills are spread over it.
    started = time.monotonic()
    proc = _start(index_dir, seeds_dir, action, 0)
    assert proc.wait(60) == 0, proc.stderr.read().decode()
    full = time.monotonic() - started
    kills = 0
    for n in range(1, 7):
        proc = _start(index_dir, seeds_dir, action, n)
        time.sleep(rng.uniform(0.2, full))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(60)
        fresh = Engine(index_dir, HashingEncoder(), EngineSettings(seeds_dir=seeds_dir))
        answer = fresh.ask("How much did NATO allies invest in defense in 2024?")
        assert "$485 billion" in answer.hits[0].text
        fresh.close()
    assert kills >= 3, "the kills should land inside the writes"
    # A rerun of the interrupted operation succeeds and leftovers are cleaned up.
    proc = _start(index_dir, seeds_dir, action, 99)
    assert proc.wait(60) == 0, proc.stderr.read().decode()
    gens = sorted(p.name for p in (index_dir / "corpora" / "default").glob("gen-*"))
    assert not any(name.endswith(".tmp") for name in gens)
    assert len(gens) <= 3
