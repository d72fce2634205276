"""Crash safety: SIGKILL a build or an add at each step of its write; the index must stay complete.

The child (tests/crash_worker.py) announces when its write reaches a named step and waits there, so
every kill lands exactly at that step, every run: before the switch the old generation must still be
live, after it the new one, and either way a fresh engine must load it and answer.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from index.search import RetrievalSettings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# The steps of Engine._write_generation, in order; the switch to the new generation happens in "publish".
STEPS = ["embed", "tables", "arrays", "faiss", "bm25", "manifest", "publish", "live"]


def _start(index_dir: Path, seeds: Path, action: str, n: int, stop_at: str, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "crash_worker.py"), str(index_dir), str(seeds), action, str(n), stop_at,
         *extra],
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


def test_killing_an_add_that_extends_the_hnsw_index_leaves_the_live_one_untouched(tmp_path: Path,
                                                                                  seeds_dir: Path) -> None:
    """An add copies the live generation's HNSW graph and extends the copy (index.backend.extended_hnsw):
    killed while doing so, or at any later step before the switch, the live generation keeps answering
    with its sentences.faiss byte for byte as it was."""
    index_dir = tmp_path / "index"
    settings = EngineSettings(seeds_dir=seeds_dir, retrieval=RetrievalSettings(approximate_above=10))
    engine = Engine(index_dir, HashingEncoder(), settings)
    engine.ensure("default")
    assert engine.stats().index_type == "IndexHNSWFlat"
    engine.close()
    cdir = engine.corpus("default")
    live = cdir.current()
    before = hashlib.sha256((live / "sentences.faiss").read_bytes()).hexdigest()
    for n, step in enumerate(["faiss extended", "bm25", "manifest", "publish"], 1):
        _kill_at(_start(index_dir, seeds_dir, "add", n, step, "10"), step)
        assert cdir.current() == live, f"killed at {step!r}: CURRENT names {cdir.current_token()}"
        assert hashlib.sha256((live / "sentences.faiss").read_bytes()).hexdigest() == before, step
        fresh = Engine(index_dir, HashingEncoder(), settings)
        assert "$485 billion" in fresh.ask("How much did NATO allies invest in defense in 2024?").hits[0].text
        assert f"crash-article-{n}" not in {d.doc_id for d in fresh.documents()}
        fresh.close()
    proc = _start(index_dir, seeds_dir, "add", 99, "none", "10")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.split() == ["extended", "1", "done"], (out, err)
    assert hashlib.sha256((live / "sentences.faiss").read_bytes()).hexdigest() == before
    fresh = Engine(index_dir, HashingEncoder(), settings)
    assert fresh.stats().index_type == "IndexHNSWFlat"
    assert "crash-article-99" in {d.doc_id for d in fresh.documents()}
    assert "$485 billion" in fresh.ask("How much did NATO allies invest in defense in 2024?").hits[0].text
    fresh.close()
