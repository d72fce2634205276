"""Faults: SIGKILL builds and adds at random moments, then corrupt every index file kind.

Part 1 (kills). A child process (this script with ``--child``) loads the REAL model
(index.embed.SentenceTransformerEncoder), says "ready", then does one write: a ``build`` of a source
folder (the seed article plus a filler article that changes every run, so each build really embeds) or
an ``add`` of a new filler article. The child prints each step of the write as it starts
(``index.engine.write_step_hook``: embed, tables, arrays, faiss, bm25, manifest, publish, live), so the
step each kill landed in is known. The uninterrupted duration of each kind of write is measured first
(after "ready") and then again on every rerun, since the shared machine's load changes. Every write is
uncached: before each rerun the vectors the killed child already cached for its filler are deleted from
the embedding cache, so reruns take as long as the killed write would have, and each kill lands at a
time drawn uniformly from [0, median of the last 3 uncached durations) after "ready", from a seeded RNG
(the seed is printed). A draw that lands after the write already finished is recorded but does not
count: attempts go on until ``--kills`` kills have landed inside a write (half builds, half adds; at
most 3x). After each kill a fresh Engine loads the index and asks the 18 seed questions (each needs an
``expect_any`` phrase in a top-3 hit) and the out-of-scope ones (each must be declined); the result is
compared with the same check on the unkilled index. Then the interrupted operation is rerun and must
succeed, leaving no ``.tmp`` generation behind.

Part 2 (corruption). On a copy of the index, each file kind of the live generation (and CURRENT,
state.json, the embedding cache) is overwritten with garbage, truncated to half, or emptied; two more
cases flip bytes in the second half of vectors.npy and docs.sqlite. A fresh engine loads it: the
outcome is "detected" (IndexCorruptError naming ``newsqa index build``), "set aside" (the engine moved
the damaged file aside and recreated it), "undetected" (it loaded; its answers are then compared with
the unkilled index) or another exception. Then ``bot.runtime.ensure_corpus(engine, corpus,
rebuild_broken=True)`` runs (what ``newsqa run`` does at start-up) and the seed check is repeated:
"recovered" means back to the baseline, and whether a rebuild happened is recorded.

    .venv/bin/python bench/reliability_faults.py                 # 20 kills, random seed (printed)
    .venv/bin/python bench/reliability_faults.py --seed 7 --kills 20
Writes bench/results/faults.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = ROOT / "tests" / "data"
SEEDS = ROOT / "seeds"
CORPUS = "default"

_PLANTS = ["tomato", "fern", "orchid", "basil", "cactus", "sunflower", "lavender", "ivy", "maple", "tulip"]
_PLACES = ["greenhouse", "allotment", "window box", "orchard", "rock garden", "meadow", "courtyard", "terrace"]
_MONTHS = ["April", "May", "June", "July", "August", "September"]
_SKY = ["Jupiter", "Saturn", "the Pleiades", "Andromeda", "the Orion nebula", "Mars", "Venus", "Sirius"]


def filler_text(n: int, sentences: int) -> str:
    """A deterministic article on topics far from the seed article (gardens and the night sky)."""
    rng = random.Random(n)
    out = []
    for i in range(sentences):
        if rng.random() < 0.5:
            s = (f"The {rng.choice(_PLANTS)} in the {rng.choice(_PLACES)} grew {rng.randint(2, 90)} centimetres "
                 f"during {rng.choice(_MONTHS)}, gardener {n}-{i} noted.")
        else:
            s = (f"Observers saw {rng.choice(_SKY)} at magnitude {rng.randint(1, 9)}.{rng.randint(0, 9)} "
                 f"through telescope number {n * 1000 + i} on a clear night.")
        out.append(s)
    paras = [" ".join(out[i:i + 4]) for i in range(0, len(out), 4)]
    return f"Garden and sky notes {n}\n\n" + "\n\n".join(paras) + "\n"


# ----------------------------------------------------------------------------- child


def child(index_dir: Path, source_dir: Path, action: str, n: int, sentences: int) -> None:
    import index.engine as engine_module
    from index.documents import load_text
    from index.embed import SentenceTransformerEncoder
    from index.engine import Engine, EngineSettings

    engine = Engine(index_dir, SentenceTransformerEncoder(), EngineSettings(seeds_dir=source_dir))
    print("ready", flush=True)
    started = time.monotonic()
    engine_module.write_step_hook = lambda step: print(f"step {step} {time.monotonic() - started:.3f}", flush=True)
    if action == "build":
        engine.build(CORPUS, source_dir=source_dir)
    else:
        engine.add([load_text(filler_text(n, sentences), title=f"Garden and sky notes {n}",
                              source=f"fault-test-{n}")], corpus=CORPUS)
    print(f"done {time.monotonic() - started:.3f}", flush=True)  # the write's own duration, for calibration


# ----------------------------------------------------------------------------- parent helpers


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


SEED_QUESTIONS = read_jsonl(DATA / "seed_questions.jsonl")
OUT_OF_SCOPE = read_jsonl(DATA / "out_of_scope.jsonl")


def seed_check(engine) -> dict:
    """The 18 seed questions (expect_any in a top-3 hit) and the out-of-scope ones (declined)."""
    questions = [c["question"] for c in SEED_QUESTIONS] + [c["question"] for c in OUT_OF_SCOPE]
    answers = engine.ask_many(questions, corpus=CORPUS, k=3)
    seed_ok, seed_found, failures = 0, 0, []
    for case, ans in zip(SEED_QUESTIONS, answers):
        found = any(any(p in h.text for p in case["expect_any"]) for h in ans.hits)
        seed_found += found
        if found and ans.answered:
            seed_ok += 1
        else:
            failures.append({"question": case["question"], "answered": ans.answered,
                             "confidence": round(ans.confidence, 3), "found_in_top3": found})
    oos = answers[len(SEED_QUESTIONS):]
    declined = sum(1 for a in oos if not a.answered)
    return {"seed_ok": seed_ok, "seed_found_top3": seed_found, "seed_total": len(SEED_QUESTIONS),
            "oos_declined": declined, "oos_total": len(OUT_OF_SCOPE), "failures": failures}


def live_generation(index_dir: Path) -> str | None:
    try:
        return (index_dir / "corpora" / CORPUS / "CURRENT").read_text().strip()
    except FileNotFoundError:
        return None


def tmp_generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in (index_dir / "corpora" / CORPUS).glob("gen-*.tmp"))


def filler_document(source_dir: Path, action: str, n: int, sentences: int):
    """The new article of a write: the build's filler file, or the added filler article."""
    from index.documents import load_path, load_text

    if action == "build":
        return load_path(source_dir / "filler.txt")
    return load_text(filler_text(n, sentences), title=f"Garden and sky notes {n}", source=f"fault-test-{n}")


def forget_vectors(index_dir: Path, model: str, texts: list[str]) -> int:
    """Delete the cached vectors of ``texts`` (what a killed child already embedded), so the rerun is uncached."""
    from index.embed import EmbeddingCache

    cache = EmbeddingCache(index_dir / "embeddings.sqlite")
    try:
        db = cache._connect()
        with db:
            cur = db.executemany("DELETE FROM vectors WHERE key = ?", [(cache.key(model, t),) for t in texts])
        return cur.rowcount
    finally:
        cache.close()


STEPS = ["prepare", "embed", "tables", "arrays", "faiss", "bm25", "manifest", "publish", "live"]


def parse_steps(out: str) -> dict[str, float]:
    """The child's "step NAME SECONDS" lines: when (after "ready") each step of the write started."""
    steps = {"prepare": 0.0}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "step":
            steps[parts[1]] = float(parts[2])
    return steps


def start_child(index_dir: Path, source_dir: Path, action: str, n: int, sentences: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, __file__, "--child", str(index_dir), str(source_dir), action, str(n), str(sentences)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_ready(proc: subprocess.Popen, timeout: float = 300) -> float:
    """Block until the child printed "ready" (model loaded); return the monotonic time it did."""
    deadline = time.monotonic() + timeout
    line = proc.stdout.readline()
    if line.strip() != "ready" or time.monotonic() > deadline:
        raise RuntimeError(f"child did not get ready: {line!r} {proc.stderr.read()[-2000:]}")
    return time.monotonic()


def run_uninterrupted(index_dir: Path, source_dir: Path, action: str, n: int, sentences: int) -> tuple[float, dict]:
    """One whole write; returns its duration after "ready" and when each of its steps started."""
    proc = start_child(index_dir, source_dir, action, n, sentences)
    ready = wait_ready(proc)
    out, err = proc.communicate(timeout=600)
    took = time.monotonic() - ready
    if proc.returncode != 0 or "done" not in out:
        raise RuntimeError(f"{action} {n} failed (exit {proc.returncode}): {err[-3000:]}")
    return took, parse_steps(out)


def prepare_build_source(source_dir: Path, n: int, sentences: int) -> None:
    """The build's source folder: the seed article and a filler article that differs per run."""
    (source_dir / "filler.txt").write_text(filler_text(10_000 + n, sentences), encoding="utf-8")


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ----------------------------------------------------------------------------- part 1: kills


def kills(args, encoder, work: Path) -> dict:
    from index.engine import Engine, EngineSettings

    index_dir, source_dir = work / "index", work / "src"
    source_dir.mkdir(parents=True)
    for p in SEEDS.iterdir():
        shutil.copy(p, source_dir / p.name)
    rng = random.Random(args.seed)

    prepare_build_source(source_dir, 0, args.sentences)
    first, _ = run_uninterrupted(index_dir, source_dir, "build", 0, args.sentences)  # initial index (cold cache)
    durations = {"build": [], "add": []}
    step_times = {"build": [], "add": []}  # when each step started, per uninterrupted write
    for i in range(args.calibrate):
        prepare_build_source(source_dir, 900 + i, args.sentences)
        for action in ("build", "add"):
            took, steps = run_uninterrupted(index_dir, source_dir, action, 900 + i, args.sentences)
            durations[action].append(took)
            step_times[action].append({**steps, "done": round(took, 3)})
    uninterrupted = {k: sorted(v)[len(v) // 2] for k, v in durations.items()}
    print(f"uninterrupted write after model load (median of {args.calibrate}): build {uninterrupted['build']:.2f} s, "
          f"add {uninterrupted['add']:.2f} s (first cold build {first:.2f} s); load {loadavg()}", flush=True)

    fresh = Engine(index_dir, encoder, EngineSettings(seeds_dir=source_dir))
    baseline = seed_check(fresh)
    fresh.close()
    print(f"baseline (unkilled index): seed {baseline['seed_ok']}/{baseline['seed_total']} answered+found, "
          f"found in top 3 {baseline['seed_found_top3']}, out-of-scope declined "
          f"{baseline['oos_declined']}/{baseline['oos_total']}", flush=True)

    rows = []
    recent = {k: list(v) for k, v in durations.items()}  # recalibrated from each rerun: the load changes
    i = -1
    while sum(r["killed_mid_write"] for r in rows) < args.kills and len(rows) < 3 * args.kills:
        i += 1
        mid = {a: sum(1 for r in rows if r["action"] == a and r["killed_mid_write"]) for a in ("build", "add")}
        action = "build" if mid["build"] <= mid["add"] else "add"  # half the landed kills each
        uninterrupted = {k: sorted(v[-3:])[len(v[-3:]) // 2] for k, v in recent.items()}
        n = 100 + i
        if action == "build":
            prepare_build_source(source_dir, n, args.sentences)
        gen_before = live_generation(index_dir)
        delay = rng.uniform(0, uninterrupted[action])
        proc = start_child(index_dir, source_dir, action, n, args.sentences)
        ready = wait_ready(proc)
        time.sleep(max(0.0, ready + delay - time.monotonic()))
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        out = proc.stdout.read()
        proc.stdout.close()
        proc.stderr.close()
        reached = parse_steps(out)
        landed_in = list(reached)[-1] if killed else "finished"  # the last step the child started
        gen_after = live_generation(index_dir)
        tmp_left = tmp_generations(index_dir)
        row = {"kill": i + 1, "action": action, "delay_s": round(delay, 3),
               "drawn_over_s": round(uninterrupted[action], 3), "killed_mid_write": killed,
               "landed_in_step": landed_in, "steps_reached": reached,
               "exit": proc.returncode, "generation_before": gen_before, "generation_after_kill": gen_after,
               "switched": gen_before != gen_after, "tmp_left_by_kill": tmp_left, "load": loadavg()}
        filler = [s.text for s in filler_document(source_dir, action, n, args.sentences).sentences]
        row["cached_vectors_forgotten"] = forget_vectors(index_dir, encoder.name, filler)
        try:
            engine = Engine(index_dir, encoder, EngineSettings(seeds_dir=source_dir))
            row["after_kill"] = seed_check(engine)
            engine.close()
        except Exception as exc:  # noqa: BLE001 - a failed load is exactly what this records
            row["after_kill"] = {"error": f"{type(exc).__name__}: {exc}"}
        started = time.monotonic()
        rerun = start_child(index_dir, source_dir, action, n, args.sentences)
        out, err = rerun.communicate(timeout=600)
        row["rerun_ok"] = rerun.returncode == 0 and "done" in out
        if row["rerun_ok"]:
            took = float(out.split("done", 1)[1].split()[0])
            recent[action].append(took)
            row["rerun_steps"] = {**parse_steps(out), "done": took}
        row["rerun_seconds"] = round(time.monotonic() - started, 2)
        if not row["rerun_ok"]:
            row["rerun_error"] = err[-2000:]
        row["tmp_left_after_rerun"] = tmp_generations(index_dir)
        row["generations_on_disk"] = len(list((index_dir / "corpora" / CORPUS).glob("gen-*")))
        try:
            engine = Engine(index_dir, encoder, EngineSettings(seeds_dir=source_dir))
            row["after_rerun"] = seed_check(engine)
            docs = {d.doc_id for d in engine.documents(CORPUS)}
            row["rerun_result_present"] = (f"garden-and-sky-notes-{n}" in docs) if action == "add" else True
            engine.close()
        except Exception as exc:  # noqa: BLE001
            row["after_rerun"] = {"error": f"{type(exc).__name__}: {exc}"}
        a = row["after_kill"]
        print(f"kill {i + 1:2d} {action:5s} at +{delay:5.2f} s of {uninterrupted[action]:5.2f}: {landed_in:8s} "
              f"switched={row['switched']} "
              f"tmp_left={len(tmp_left)} seed={a.get('seed_ok')}/{a.get('seed_total')} "
              f"oos={a.get('oos_declined')}/{a.get('oos_total')} rerun_ok={row['rerun_ok']} "
              f"load={row['load']}", flush=True)
        rows.append(row)

    def same_as_baseline(check: dict) -> bool:
        return "error" not in check and check["seed_ok"] == baseline["seed_ok"] and \
            check["oos_declined"] == baseline["oos_declined"]

    def at_least_baseline(check: dict) -> bool:
        return "error" not in check and check["seed_ok"] >= baseline["seed_ok"] and \
            check["oos_declined"] >= baseline["oos_declined"]

    summary = {
        "kill_attempts": len(rows),
        "killed_mid_write": sum(r["killed_mid_write"] for r in rows),
        "by_action": {a: sum(1 for r in rows if r["action"] == a and r["killed_mid_write"]) for a in ("build", "add")},
        "kills_by_step": {s: sum(1 for r in rows if r["killed_mid_write"] and r["landed_in_step"] == s)
                          for s in STEPS},
        "draws_after_the_write_finished": sum(1 for r in rows if not r["killed_mid_write"]),
        "kills_leaving_tmp_generation": sum(1 for r in rows if r["tmp_left_by_kill"]),
        "kills_after_switch": sum(1 for r in rows if r["killed_mid_write"] and r["switched"]),
        "index_loaded_after_kill": sum(1 for r in rows if "error" not in r["after_kill"]),
        "seed_check_same_as_unkilled_after_kill": sum(1 for r in rows if same_as_baseline(r["after_kill"])),
        "seed_check_at_least_unkilled_after_kill": sum(1 for r in rows if at_least_baseline(r["after_kill"])),
        "all_seed_questions_ok_after_kill": sum(1 for r in rows if r["after_kill"].get("seed_ok") == len(SEED_QUESTIONS)),
        "all_out_of_scope_declined_after_kill": sum(1 for r in rows if r["after_kill"].get("oos_declined") == len(OUT_OF_SCOPE)),
        "reruns_ok": sum(1 for r in rows if r["rerun_ok"] and r.get("rerun_result_present")),
        "reruns_left_tmp": sum(1 for r in rows if r["tmp_left_after_rerun"]),
        "seed_check_same_as_unkilled_after_rerun": sum(1 for r in rows if same_as_baseline(r["after_rerun"])),
        "seed_check_at_least_unkilled_after_rerun": sum(1 for r in rows if at_least_baseline(r["after_rerun"])),
    }
    return {"uninterrupted_seconds": uninterrupted, "calibration_runs": durations, "calibration_steps": step_times,
            "final_windows": {k: sorted(v[-3:])[len(v[-3:]) // 2] for k, v in recent.items()},
            "all_uncached_durations": recent, "first_build_seconds": first,
            "baseline": baseline, "summary": summary, "rows": rows, "index_dir": str(index_dir),
            "source_dir": str(source_dir)}


# ----------------------------------------------------------------------------- part 2: corruption


def _garbage(path: Path, rng: random.Random) -> None:
    size = max(path.stat().st_size, 64)
    path.write_bytes(bytes(rng.getrandbits(8) for _ in range(min(size, 1 << 16))) * (size // (1 << 16) + 1))


def _truncate(path: Path, rng: random.Random) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


def _empty(path: Path, rng: random.Random) -> None:
    path.write_bytes(b"")


def _flip_middle(path: Path, rng: random.Random) -> None:
    """Flip bytes in the second half only: headers stay valid, so nothing can notice without checksums."""
    data = bytearray(path.read_bytes())
    for _ in range(64):
        i = rng.randrange(len(data) // 2, len(data))
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


MODES = {"garbage": _garbage, "truncate": _truncate, "empty": _empty}


def corruption(args, encoder, work: Path, index_dir: Path, source_dir: Path) -> dict:
    from bot.runtime import ensure_corpus
    from index.engine import Engine, EngineSettings
    from index.errors import IndexCorruptError

    gen = live_generation(index_dir)
    gen_dir = index_dir / "corpora" / CORPUS / gen
    targets = {
        "docs.sqlite": f"corpora/{CORPUS}/{gen}/docs.sqlite",
        "sentences.faiss": f"corpora/{CORPUS}/{gen}/sentences.faiss",
        "vectors.npy": f"corpora/{CORPUS}/{gen}/vectors.npy",
        "paragraphs.npy": f"corpora/{CORPUS}/{gen}/paragraphs.npy",
        "sent_doc.npy": f"corpora/{CORPUS}/{gen}/sent_doc.npy",
        "manifest.json": f"corpora/{CORPUS}/{gen}/manifest.json",
        "CURRENT": f"corpora/{CORPUS}/CURRENT",
        "state.json": f"corpora/{CORPUS}/state.json",
        "embeddings.sqlite (cache)": "embeddings.sqlite",
    }
    for sub in ("bm25-sentences", "bm25-paragraphs"):
        for p in sorted((gen_dir / sub).iterdir()):
            targets[f"{sub}/{p.name}"] = f"corpora/{CORPUS}/{gen}/{sub}/{p.name}"
    for p in sorted(gen_dir.iterdir()):  # every file of the generation, whatever teammates add
        if p.is_file() and p.name not in targets:
            targets[p.name] = f"corpora/{CORPUS}/{gen}/{p.name}"
    rng = random.Random(args.seed + 1)
    cases = [(kind, mode) for kind in targets for mode in MODES]
    cases += [("vectors.npy", "flip_bytes"), ("docs.sqlite", "flip_bytes")]
    baseline = {"seed_ok": args.baseline_seed_ok, "oos_declined": args.baseline_oos}
    rows = []
    for kind, mode in cases:
        scratch = work / "corrupt"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(index_dir, scratch)
        for wal in scratch.glob("embeddings.sqlite-*"):
            wal.unlink()  # the copy is taken while no writer runs; the WAL was checkpointed on close
        path = scratch / targets[kind]
        (_flip_middle if mode == "flip_bytes" else MODES[mode])(path, rng)
        damaged = path.read_bytes()
        row: dict = {"file": kind, "mode": mode}
        engine = None
        stage = "load"
        try:
            engine = Engine(scratch, encoder, EngineSettings(seeds_dir=source_dir))
            engine.index(CORPUS)
            stage = "question"
            check = seed_check(engine)
            row["load"] = "loaded"
            row["answers_after_corruption"] = {k: check[k] for k in ("seed_ok", "oos_declined")}
            row["answers_unchanged"] = row["answers_after_corruption"] == baseline
        except IndexCorruptError as exc:
            row.update(load="IndexCorruptError", detected_at=stage, message=str(exc)[:400],
                       names_rebuild_command="newsqa index build" in str(exc))
        except Exception as exc:  # noqa: BLE001 - anything else is a finding
            row.update(load=type(exc).__name__, detected_at=stage, message=str(exc)[:400],
                       names_rebuild_command="newsqa index build" in str(exc),
                       traceback=traceback.format_exc(limit=4)[-1200:])
        try:
            if engine is None:
                engine = Engine(scratch, encoder, EngineSettings(seeds_dir=source_dir))
            ensure_corpus(engine, CORPUS, quiet=True, rebuild_broken=True)
            engine.close()
            engine = Engine(scratch, encoder, EngineSettings(seeds_dir=source_dir))
            check = seed_check(engine)
            row["after_recovery"] = {k: check[k] for k in ("seed_ok", "oos_declined")}
            row["recovered"] = check["seed_ok"] >= args.baseline_seed_ok and check["oos_declined"] >= args.baseline_oos
            row["generation_after_recovery"] = live_generation(scratch)
        except Exception as exc:  # noqa: BLE001
            row["recovered"] = False
            row["recovery_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        finally:
            if engine is not None:
                try:
                    engine.close()
                except Exception:  # noqa: BLE001
                    pass
        row["rebuilt"] = row.get("generation_after_recovery") not in (None, gen)
        row["set_aside"] = sorted(p.name for p in scratch.rglob("*.corrupt-*"))
        # Damage nobody noticed: the same generation is live and the damaged bytes are still there.
        row["damage_left_in_place"] = (not row["rebuilt"] and not row["set_aside"] and path.exists()
                                       and path.read_bytes() == damaged)
        if row["load"] == "IndexCorruptError":
            row["outcome"] = "detected"
        elif row["load"] != "loaded":
            row["outcome"] = "other exception"
        elif row["set_aside"]:
            row["outcome"] = "set aside and recreated"
        else:
            row["outcome"] = "undetected"
        print(f"{kind:34s} {mode:10s} {row['outcome']:24s} load={row['load']:18s} rebuilt={row['rebuilt']} "
              f"recovered={row['recovered']} damage_left={row['damage_left_in_place']}", flush=True)
        rows.append(row)

    def cases_of(pred) -> list[str]:
        return [f"{r['file']}:{r['mode']}" for r in rows if pred(r)]

    detected = [r for r in rows if r["outcome"] == "detected"]
    summary = {
        "cases": len(rows),
        "detected": len(detected),
        "detected_at_load": sum(1 for r in detected if r["detected_at"] == "load"),
        "detected_at_question": sum(1 for r in detected if r["detected_at"] == "question"),
        "detected_message_names_rebuild_command": sum(1 for r in detected if r["names_rebuild_command"]),
        "detected_then_rebuilt_and_recovered": sum(1 for r in detected if r["rebuilt"] and r["recovered"]),
        "detected_not_recovered": [f"{r['file']}:{r['mode']}" for r in detected if not r["recovered"]],
        "set_aside_and_recreated": cases_of(lambda r: r["outcome"] == "set aside and recreated"),
        "set_aside_then_answering_as_before": sum(1 for r in rows if r["outcome"] == "set aside and recreated"
                                                  and r["recovered"]),
        "undetected": cases_of(lambda r: r["outcome"] == "undetected"),
        "undetected_answers_unchanged": cases_of(lambda r: r["outcome"] == "undetected" and r["answers_unchanged"]),
        "undetected_answers_changed": cases_of(lambda r: r["outcome"] == "undetected" and not r["answers_unchanged"]),
        "undetected_damage_left_in_place": cases_of(lambda r: r["outcome"] == "undetected" and r["damage_left_in_place"]),
        "other_exception": [f"{r['file']}:{r['mode']} -> {r['load']}" for r in rows if r["outcome"] == "other exception"],
        "answering_as_before_after_ensure_corpus": sum(1 for r in rows if r["recovered"]),
        "not_answering_as_before_after_ensure_corpus": cases_of(lambda r: not r["recovered"]),
    }
    return {"summary": summary, "rows": rows}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        index_dir, source_dir, action, n, sentences = sys.argv[2:7]
        child(Path(index_dir), Path(source_dir), action, int(n), int(sentences))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="RNG seed for the kill times (printed)")
    parser.add_argument("--sentences", type=int, default=400, help="sentences in each filler article")
    parser.add_argument("--calibrate", type=int, default=3, help="uninterrupted runs of each kind to time")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "faults.json")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--skip-corruption", action="store_true", help="only the kills")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1_000_000)
    print(f"seed {args.seed} (rerun with --seed {args.seed}); load {loadavg()}", flush=True)

    from index.embed import SentenceTransformerEncoder

    load_start = loadavg()
    started = time.time()
    encoder = SentenceTransformerEncoder()
    work = Path(tempfile.mkdtemp(prefix="newsqa-faults-"))
    try:
        part1 = kills(args, encoder, work)
        args.baseline_seed_ok = part1["baseline"]["seed_ok"]
        args.baseline_oos = part1["baseline"]["oos_declined"]
        part2 = None if args.skip_corruption else corruption(args, encoder, work, Path(part1["index_dir"]),
                                                                   Path(part1["source_dir"]))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "command": " ".join([sys.executable, *sys.argv]),
        "seed": args.seed, "model": encoder.name, "kills_requested": args.kills,
        "filler_sentences": args.sentences, "seconds": round(time.time() - started, 1),
        "load_average_start": load_start, "load_average_end": loadavg(), "cores": os.cpu_count(),
        "kills": part1, "corruption": part2,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({"kills": part1["summary"], "corruption": part2 and part2["summary"]}, indent=2), flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
