"""Crash safety: SIGKILL a build or an add at each step of its write; the index must stay complete.

The child (tests/crash_worker.py) announces when its write reaches a named step and waits there, so
every kill lands exactly at that step, every run: before the switch the old generation must still be
live, after it the new one, and either way a fresh engine must load it and answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# The steps of Engine._write_generation, in order; the switch to the new generation happens in "publish".
STEPS = ["embed", "tables", "arrays", "faiss", "bm25", "manifest", "publish", "live"]


def _start(index_dir: Path, seeds: Path, action: str, n: int, stop_at: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "crash_worker.py"), str(index_dir), str(seeds), action, str(n), stop_at],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _kill_at(proc: subprocess.Popen, step: str) -> None:
    """Wait until the child says it reached ``step``, then SIGKILL it there."""
    line = proc.stdout.readline().strip()
    if line != f"at {step}":
        proc.kill()
        proc.wait(30)
        pytest.fail(f"the writer never reached step {step!r} (said {line!r}): {proc.stderr.read()[-2000:]}")
    proc.kill()
    proc.wait(30)
    proc.stdout.close()
    proc.stderr.close()


@pytest.mark.parametrize("action", ["build", "add"])
def test_kill_at_each_step_of_a_write_leaves_a_complete_index(tmp_path: Path, seeds_dir: Path, action: str) -> None:
    index_dir = tmp_path / "index"
    engine = Engine(index_dir, HashingEncoder(), EngineSettings(seeds_dir=seeds_dir))
    engine.ensure("default")
    engine.close()
    cdir = engine.corpus("default")
    for n, step in enumerate(STEPS, 1):
        before = cdir.current_token()
        _kill_at(_start(index_dir, seeds_dir, action, n, step), step)
        after = cdir.current_token()
        if step == "live":
            assert after != before, "killed after publishing: the new generation should be live"
        else:
            assert after == before, f"killed at {step!r}: CURRENT names {after}, an unfinished generation"
        fresh = Engine(index_dir, HashingEncoder(), EngineSettings(seeds_dir=seeds_dir))
        answer = fresh.ask("How much did NATO allies invest in defense in 2024?")
        assert "$485 billion" in answer.hits[0].text
        docs = {d.doc_id for d in fresh.documents()}
        assert ("nato-defense-ministers" in docs) and ((f"crash-article-{n}" in docs) == (action == "add" and step == "live"))
        fresh.close()
    # A rerun of the interrupted operation succeeds and leftovers are cleaned up.
    proc = _start(index_dir, seeds_dir, action, 99, "none")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.strip() == "done", err
    gens = sorted(p.name for p in cdir.root.glob("gen-*"))
    assert not any(name.endswith(".tmp") for name in gens)
    assert len(gens) <= 3
