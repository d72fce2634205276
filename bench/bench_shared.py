"""What SHARE_CORPORA costs: corpora in PostgreSQL (index/shared.py) against corpora under INDEX_DIR.

    .venv/bin/python bench/bench_shared.py [--sizes 10000,100000] [--backend local|milvus] [--adds 5]
                                           [--questions 200] [--out FILE]

A throwaway PostgreSQL server (tests/pgserver.py, default durability: fsync on) is started over TCP on
127.0.0.1. For each size, one corpus of synthetic news articles (bench/common.synthetic_articles, the
fake 384-dimension encoder: embedding is not what is compared) is written twice, side by side:

- "plain": an engine whose corpora are under its INDEX_DIR (the default, LocalCorpora);
- "shared": host A, an engine with SharedCorpora on its own INDEX_DIR; host B, another engine with
  SharedCorpora on another INDEX_DIR, which only answers (it fetches each generation A writes).

Figures: the first build on each side; host B's first question (fetch, check, load) against a fresh
plain engine's first question (load); ``--adds`` single-article adds, alternately plain and shared, and
after each shared one B's next question (the fetch every other host pays per change); warm answers
p50/p99, plain and host B interleaved; the bytes stored in PostgreSQL per generation against the size
of the generation folder. With ``--backend milvus`` both sides write milvus-lite collections (one file
each), and only docs.sqlite, terms.json, milvus.json and the manifest go through PostgreSQL.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402
from index.documents import load_text  # noqa: E402
from index.embed import HashingEncoder  # noqa: E402
from index.engine import Engine, EngineSettings  # noqa: E402
from index.shared import SharedCorpora  # noqa: E402
from tests.pgserver import PostgresServer  # noqa: E402


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def first_answer_seconds(engine: Engine, question: str) -> float:
    started = time.perf_counter()
    engine.ask(question, corpus="bench")
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="corpus sizes in sentences")
    ap.add_argument("--backend", choices=("local", "milvus"), default="local")
    ap.add_argument("--adds", type=int, default=5)
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--out", type=Path, default=None, help="default bench/results/shared_<backend>.json")
    args = ap.parse_args()
    info = common.machine_info()
    server = PostgresServer.start(durable=True, tcp=True)
    work = Path(tempfile.mkdtemp(prefix="bench-shared-"))
    out: dict = {"machine": info, "backend": args.backend, "sizes": {}}
    try:
        import psycopg

        with psycopg.connect(server.url(), autocommit=True) as conn:
            out["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
        for n in (int(s) for s in args.sizes.split(",")):
            with psycopg.connect(server.url(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "bench_{n}"')
            url = server.url(f"bench_{n}", tcp=True)
            out["sizes"][str(n)] = run_size(n, url, work / str(n), args)
            shutil.rmtree(work / str(n), ignore_errors=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    common.finish_info(info)
    path = common.write_results(f"shared_{args.backend}", out, args.out)
    print(f"written to {path}")
    return 0


def run_size(n: int, url: str, work: Path, args: argparse.Namespace) -> dict:
    rng = random.Random(11)
    docs = [load_text(text, title=title, source=f"synthetic/{i}")
            for i, (title, text) in enumerate(common.synthetic_articles(n, per_article=30))]
    extra = [load_text(text, title=title, source=f"extra/{i}")
             for i, (title, text) in enumerate(common.synthetic_articles(30 * (args.adds + 1), seed=99,
                                                                        include_seed=False))]
    settings = EngineSettings(seeds_dir=None)

    def engine(name: str, shared: bool) -> Engine:
        folder = work / name
        backend = common.index_backend(args.backend, folder)
        corpora = SharedCorpora(url, folder, outside=backend.outside_files) if shared else None
        return Engine(folder, HashingEncoder(dimension=384), settings, backend=backend, corpora=corpora)

    plain, host_a = engine("plain", False), engine("host-a", True)
    row: dict = {"build_s": {}, "load": common.load_average()}
    for name, e in (("plain", plain), ("shared", host_a)):
        started = time.perf_counter()
        e.add(docs, corpus="bench")
        row["build_s"][name] = round(time.perf_counter() - started, 2)
        print(f"{n:>8} {name:6} built in {row['build_s'][name]:.1f} s", flush=True)
    texts = [r[0] for r in plain.index("bench").query("SELECT text FROM sentences ORDER BY id")]
    questions = [" ".join(t.split()[: rng.randint(5, 9)]).rstrip(",.;:") + "?"
                 for t in rng.sample(texts, min(len(texts), args.questions + 10))]

    # the first question of a host that has not loaded the corpus: plain loads it; B fetches it first.
    # Each uses its side's backend object (on Milvus: the same milvus-lite file, as one server would be).
    fresh_plain = Engine(work / "plain", HashingEncoder(dimension=384), settings, backend=plain.backend)
    host_b = Engine(work / "host-b", HashingEncoder(dimension=384), settings, backend=host_a.backend,
                    corpora=SharedCorpora(url, work / "host-b", outside=host_a.backend.outside_files))
    row["first_answer_s"] = {"plain (load)": round(first_answer_seconds(fresh_plain, questions[0]), 3),
                             "host B (fetch + load)": round(first_answer_seconds(host_b, questions[0]), 3)}
    fresh_plain.close()
    live = host_a.index("bench").path
    stored = host_a.registry.db.run("SELECT sum(length(data)) FROM shared_files WHERE corpus = 'bench' "
                                    "AND generation = ?", (int(live.name[4:]),))[0][0]
    row["generation_bytes"] = {"folder": folder_bytes(live), "in_postgresql": int(stored or 0)}
    print(f"{n:>8} first answer: {row['first_answer_s']}; generation {row['generation_bytes']}", flush=True)

    adds: dict[str, list[float]] = {"plain": [], "shared": [], "host B next answer": []}
    for i in range(args.adds):
        for name, e in (("plain", plain), ("shared", host_a)) if i % 2 == 0 else (("shared", host_a), ("plain", plain)):
            started = time.perf_counter()
            e.add([extra[i]], corpus="bench")
            adds[name].append(time.perf_counter() - started)
        time.sleep(host_b.registry.live_seconds)  # B notices the switch at its next look
        adds["host B next answer"].append(first_answer_seconds(host_b, questions[1]))
    row["add_one_article"] = {k: common.summary_ms(v) for k, v in adds.items()}
    print(f"{n:>8} add one article p50: " + ", ".join(f"{k} {v['p50_ms']:.0f} ms"
                                                      for k, v in row["add_one_article"].items()), flush=True)

    times: dict[str, list[float]] = {"plain": [], "host B": []}
    load = common.load_average()[0]
    for i, q in enumerate(questions[2:]):
        order = [("plain", plain), ("host B", host_b)]
        rng.shuffle(order)
        for name, e in order:
            started = time.perf_counter()
            e.ask(q, corpus="bench")
            if i >= 10:
                times[name].append(time.perf_counter() - started)
    row["warm_answer"] = {k: common.summary_ms(v) for k, v in times.items()}
    row["warm_answer_load"] = [load, common.load_average()[0]]
    print(f"{n:>8} warm answer p50/p99: " + ", ".join(
        f"{k} {v['p50_ms']:.1f}/{v['p99_ms']:.1f} ms" for k, v in row["warm_answer"].items()), flush=True)
    for e in (plain, host_a, host_b):
        e.close()
    for e in {id(x.backend): x.backend for x in (plain, host_a, host_b)}.values():
        close = getattr(e, "close", None)
        if close:
            close()
    return row


if __name__ == "__main__":
    sys.exit(main())
