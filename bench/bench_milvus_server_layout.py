"""Many corpora on a Milvus SERVER: a collection per corpus, or one shared collection with a partition key.

    python3 -m venv /tmp/milvus-venv
    /tmp/milvus-venv/bin/pip install 'milvus==2.3.5' 'pymilvus>=2.3.5,<2.4' numpy 'setuptools<81' 'marshmallow<4'
    nice -n 10 /tmp/milvus-venv/bin/python bench/bench_milvus_server_layout.py [--corpora 100] [--sentences 200]
        [--questions 200] [--extra 5] [--work DIR] [--out bench/results/milvus_server_layout_<N>.json]

The server counterpart of bench/bench_milvus_layout.py (which runs on milvus-lite). It needs its own venv:
the PyPI package ``milvus`` ("embedded Milvus", milvus-io) ships a real Milvus standalone binary (etcd
embedded, rocksmq, local storage) that it starts as a subprocess; its last Linux x86_64 wheel is 2.3.5
(2.3.6-2.3.9 are macOS only), with pymilvus 2.3. newsqa does not depend on it, and this script does not
import the project's index/ package (its pymilvus 3 / milvus-lite code cannot talk to a 2.3 server):
only bench/common.py (standard library) for machine info and output.

Milvus 2.3 has no BM25 function (2.5) and one vector field per collection (2.4), so the schema is the
backend's sentences collection, dense only: sid, para, doc, position (INT64) and the 384-d vector,
HNSW M 32 efConstruction 80, IP (index/milvus_index.py); searched with ef 96, depth 48. Two servers run
side by side, one per layout, each in its own folder:

  (a) per-corpus: one collection per corpus and generation, written as the backend writes one (create,
      create the index, load, insert, flush, count); replacing a corpus writes the new generation's
      collection, then drops the old one;
  (b) shared: one collection with a VARCHAR ``corpus`` field marked ``is_partition_key`` (the server's
      default number of partitions) holding "corpus@generation", primary key "corpus@generation/sid";
      a corpus is written by insert, flush, count; searched with ``corpus == "x@g"``; replacing a corpus
      writes the new key's rows, then deletes the old key's rows by that filter and flushes.

Collections are Strong consistency, as the backend's. pymilvus 2.3 polls flush and load every 0.5 s;
the script polls every 10 ms instead (``POLL``) so that the figures are the server's time, not the
client's sleep. Vectors are random unit vectors; a question is a corpus's sentence vector moved by noise.

Measured: the build of the N corpora (each layout alone, one after the other); one more corpus
(``--extra`` times, alternately); dense search p50/p99, the two layouts interleaved in a shuffled order
(Strong consistency, as the backend asks, and Bounded, the server's default, to see the consistency
wait apart); recall of the exact top-48; replacing ``--extra`` corpora; search again; the servers' RSS,
CPU time while idle, folder size and segments; then each server is stopped and restarted (the other one
running) and timed until every collection is loaded again and answers. The 1-min load average is
recorded throughout. Written to bench/results/milvus_server_layout_<N>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import sys
import tempfile
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (standard library only: no project import)

DIM = 384
DEPTH = 48
EF = 96  # the backend's hnsw_ef_search
HNSW_M = 32
EF_CONSTRUCTION = 80  # index/milvus_index.py
LAYOUTS = ("per-corpus", "shared")
SHARED = "newsqa_sentences_shared"
POLL = 0.01  # seconds between the client's polls of flush / load state (pymilvus 2.3: 0.5)
INDEX = {"index_type": "HNSW", "metric_type": "IP", "params": {"M": HNSW_M, "efConstruction": EF_CONSTRUCTION}}
SEARCH = {"metric_type": "IP", "params": {"ef": EF}}


def fast_polls() -> None:
    """pymilvus 2.3 sleeps 0.5 s between flush-state and load-progress polls: poll every POLL seconds."""
    from pymilvus.client import grpc_handler
    from pymilvus.settings import Config

    Config.WaitTimeDurationWhenLoad = POLL
    real = grpc_handler.time
    grpc_handler.time = types.SimpleNamespace(time=real.time, sleep=lambda s: real.sleep(min(s, POLL)))


# ----------------------------------------------------------------------------- a server per layout


class Server:
    """An embedded Milvus standalone (the ``milvus`` package) in its own folder, on free ports."""

    def __init__(self, name: str, folder: Path) -> None:
        from milvus import MilvusServer, MilvusServerConfig

        self.name = name
        self.folder = folder
        self.server = MilvusServer(MilvusServerConfig())
        self.server.set_base_dir(str(folder))
        self.alias = name

    def start(self) -> float:
        """Start the server and connect; the seconds until it answers. Its embedded etcd listens on its own
        free ports (etcd's defaults, 2379 and 2380, would clash with the other server's)."""
        from pymilvus import connections

        etcd = self.folder / "embedEtcd.yaml"
        if not etcd.exists():
            client, peer = free_port(), free_port()
            etcd.write_text(f"name: default\nlisten-client-urls: http://127.0.0.1:{client}\n"
                            f"advertise-client-urls: http://127.0.0.1:{client}\n"
                            f"listen-peer-urls: http://127.0.0.1:{peer}\n"
                            f"initial-advertise-peer-urls: http://127.0.0.1:{peer}\n"
                            f"initial-cluster: default=http://127.0.0.1:{peer}\n")
            self.server.config.set("etcd_port", client)
        os.environ["ETCD_CONFIG_PATH"] = str(etcd)  # read by the server (etcd.config.path) at start
        t0 = time.perf_counter()
        self.server.start()  # returns once /healthz answers OK, plus the package's 1 s grace
        for attempt in range(60):  # the proxy may refuse the SDK's handshake for a moment after /healthz
            try:
                connections.connect(alias=self.alias, host="127.0.0.1", port=str(self.server.listen_port))
                break
            except Exception:  # noqa: BLE001
                if attempt == 59:
                    raise
                time.sleep(0.5)
        return time.perf_counter() - t0

    def stop(self) -> None:
        from pymilvus import connections

        connections.disconnect(self.alias)
        proc = self.server.server_proc
        if proc is not None:  # a graceful stop first: the package kills after 1 s
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except Exception:  # noqa: BLE001 - still running: the package's stop kills it
                pass
        self.server.stop()

    @property
    def pid(self) -> int:
        return self.server.server_proc.pid

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        return float("nan")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def data_mib(self) -> float:
        return folder_mib(self.folder / "data")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def folder_mib(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


# ----------------------------------------------------------------------------- data


class Corpus:
    """One corpus's synthetic sentences: positions and random unit vectors (seeded by its number)."""

    def __init__(self, number: int, sentences: int) -> None:
        self.name = f"server{number:05d}"
        self.vectors = unit(np.random.default_rng(1000 + number).standard_normal((sentences, DIM)).astype(np.float32))

    def __len__(self) -> int:
        return len(self.vectors)

    def columns(self, key: str | None) -> list[list]:
        n = len(self)
        sid = list(range(n))
        cols = [sid, [i // 3 for i in sid], [i // 30 for i in sid], [i % 30 for i in sid], self.vectors.tolist()]
        if key is not None:  # the shared collection: pk, corpus first
            cols = [[f"{key}/{i}" for i in sid], [key] * n, *cols]
        return cols


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def schema(shared: bool) -> Any:
    from pymilvus import CollectionSchema, DataType, FieldSchema

    fields = []
    if shared:
        fields += [FieldSchema("pk", DataType.VARCHAR, is_primary=True, max_length=160),  # "corpus@generation/sid"
                   FieldSchema("corpus", DataType.VARCHAR, max_length=128, is_partition_key=True)]
    fields += [FieldSchema("sid", DataType.INT64, is_primary=not shared),
               FieldSchema("para", DataType.INT64), FieldSchema("doc", DataType.INT64),
               FieldSchema("position", DataType.INT64), FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM)]
    return CollectionSchema(fields)


def count(collection: Any, expr: str = "") -> int:
    rows = collection.query(expr=expr, output_fields=["count(*)"])
    return int(rows[0]["count(*)"]) if rows else 0


# ----------------------------------------------------------------------------- the two layouts


class Layout(common.GenerationLayout):
    """A layout on one server; ``stages`` times each step of each write."""

    def __init__(self, server: Server) -> None:
        super().__init__()
        self.server = server
        self.stages: list[dict[str, float]] = []  # seconds of each step of each write

    def step(self, stages: dict[str, float], name: str, t0: float) -> float:
        now = time.perf_counter()
        stages[name] = now - t0
        return now


class PerCorpus(Layout):
    """(a) newsqa_<corpus>_g<generation>_s, one collection each."""

    name = "per-corpus"

    def write(self, corpus: Corpus, generation: int) -> Any:
        from pymilvus import Collection

        st: dict[str, float] = {}
        t = time.perf_counter()
        c = Collection(f"newsqa_{corpus.name}_g{generation:06d}_s", schema(False), using=self.server.alias,
                       consistency_level="Strong")
        t = self.step(st, "create", t)
        c.create_index("vector", INDEX)
        t = self.step(st, "index", t)
        c.load()
        t = self.step(st, "load", t)
        c.insert(corpus.columns(None))
        t = self.step(st, "insert", t)
        c.flush()
        t = self.step(st, "flush", t)
        got = count(c)
        self.step(st, "count", t)
        self.stages.append(st)
        assert got == len(corpus), (c.name, got)
        return c

    def free(self, old: Any) -> None:
        old.drop()

    def search(self, corpus: str, vector: list[float], consistency: str) -> list[int]:
        hits = self.live[corpus].search([vector], "vector", SEARCH, limit=DEPTH, output_fields=["position"],
                                        consistency_level=consistency)[0]
        return [int(h.id) for h in hits]

    def collections(self) -> list[str]:
        from pymilvus import utility

        return utility.list_collections(using=self.server.alias)


class Shared(Layout):
    """(b) One collection; the key "corpus@generation" is its partition key."""

    name = "shared"

    def __init__(self, server: Server) -> None:
        from pymilvus import Collection

        super().__init__(server)
        self.c = Collection(SHARED, schema(True), using=server.alias, consistency_level="Strong")
        self.c.create_index("vector", INDEX)
        self.c.load()

    def write(self, corpus: Corpus, generation: int) -> Any:
        key = f"{corpus.name}@{generation}"
        st: dict[str, float] = {}
        t = time.perf_counter()
        self.c.insert(corpus.columns(key))
        t = self.step(st, "insert", t)
        self.c.flush()
        t = self.step(st, "flush", t)
        got = count(self.c, where(key))
        self.step(st, "count", t)
        self.stages.append(st)
        assert got == len(corpus), (key, got)
        return key

    def free(self, old: Any) -> None:
        self.c.delete(where(old))
        self.c.flush()
        assert count(self.c, where(old)) == 0, old

    def search(self, corpus: str, vector: list[float], consistency: str) -> list[int]:
        key = self.live[corpus]
        hits = self.c.search([vector], "vector", SEARCH, limit=DEPTH, expr=where(key), output_fields=["sid"],
                             consistency_level=consistency)[0]
        assert all(str(h.id).startswith(key + "/") for h in hits), key  # the filter keeps other corpora out
        return [int(h.entity.get("sid")) for h in hits]

    def collections(self) -> list[str]:
        from pymilvus import utility

        return utility.list_collections(using=self.server.alias)


def where(key: str) -> str:
    return f"corpus == {json.dumps(key)}"


# ----------------------------------------------------------------------------- server state


def segments(server: Server, names: list[str]) -> dict[str, Any]:
    """Loaded segments of these collections on the query node: how many, rows, how many with an index."""
    from pymilvus import utility

    segs = [s for n in names for s in utility.get_query_segment_info(n, using=server.alias)]
    indexed = [s for s in segs if getattr(s, "index_name", "")]
    return {"segments": len(segs), "rows": sum(s.num_rows for s in segs), "with_index": len(indexed),
            "rows_with_index": sum(s.num_rows for s in indexed),
            "partitions": len({s.partitionID for s in segs})}


def idle_cpu(servers: dict[str, Server], seconds: float) -> dict[str, float]:
    """CPU used by each server while nothing is asked of it (per second of wall time, 1.0 = one core)."""
    before = {n: s.cpu_seconds() for n, s in servers.items()}
    time.sleep(seconds)
    return {n: round((s.cpu_seconds() - before[n]) / seconds, 3) for n, s in servers.items()}


def wait_loaded(server: Server, names: list[str], timeout: float = 1800) -> float:
    """After a restart: seconds until every collection reports 100 % loaded (the query coordinator reloads
    what was loaded before the stop by itself)."""
    from pymilvus import utility

    t0 = time.perf_counter()
    pending = list(names)
    while pending:
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"{server.name}: {len(pending)} collections not loaded after {timeout} s")
        still = []
        for n in pending:
            try:
                progress = utility.loading_progress(n, using=server.alias)["loading_progress"]
            except Exception:  # noqa: BLE001 - not yet known to the restarting coordinator
                progress = "0%"
            if str(progress).rstrip("%") != "100":
                still.append(n)
        pending = still
        if pending:
            time.sleep(0.05)
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- the run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", type=int, default=100, help="corpora built in each layout (default 100)")
    ap.add_argument("--sentences", type=int, default=200, help="sentences per corpus (default 200)")
    ap.add_argument("--questions", type=int, default=200, help="questions asked of both layouts (default 200)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--extra", type=int, default=5, help="corpora added, and corpora replaced, after the build")
    ap.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU measurement (default 20)")
    ap.add_argument("--parallel-build", action="store_true",
                    help="build the two layouts at the same time (each on its own server), to halve the wall time")
    ap.add_argument("--no-restart", action="store_true", help="skip the restart of each server")
    ap.add_argument("--work", type=Path, default=None, help="the servers' folders go here (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import milvus
    import pymilvus

    fast_polls()
    info = common.machine_info()
    info["versions"].update({"pymilvus": pymilvus.__version__, "milvus (embedded server package)": milvus.__version__})
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-milvus-server-")
        args.work = Path(tmp.name)
    for name in LAYOUTS:
        if (args.work / name).exists():
            raise SystemExit(f"{args.work / name} exists: give an empty --work folder")
    servers = {name: Server(name, args.work / name) for name in LAYOUTS}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers (below) when killed too
    try:
        return run(args, info, servers)
    finally:
        for s in servers.values():
            if s.server.running:
                s.stop()
        if tmp is not None:
            tmp.cleanup()


def run(args: argparse.Namespace, info: dict, servers: dict[str, Server]) -> int:
    from pymilvus import utility

    started = {name: round(s.start(), 2) for name, s in servers.items()}  # one after the other: free ports
    version = utility.get_server_version(using=servers["shared"].alias)
    print(f"servers {version} started in {started} s; pids "
          f"{ {n: s.pid for n, s in servers.items()} }", flush=True)
    rss: dict[str, dict[str, float]] = {"started": {n: s.rss_mib() for n, s in servers.items()}}
    corpora = [Corpus(i, args.sentences) for i in range(args.corpora + args.extra)]
    layouts: dict[str, Any] = {"per-corpus": PerCorpus(servers["per-corpus"]), "shared": Shared(servers["shared"])}
    partitions = len(layouts["shared"].c.partitions)

    # Build: each layout alone (the other server idle), or both at once (--parallel-build), then RSS.
    build: dict[str, Any] = {}

    def build_one(name: str) -> None:
        layout = layouts[name]
        load = common.load_average()[0]
        t0 = time.perf_counter()
        for i, c in enumerate(corpora[: args.corpora]):
            layout.add(c)
            if (i + 1) % 50 == 0:
                print(f"  {name}: {i + 1} corpora, {time.perf_counter() - t0:.0f} s", flush=True)
        seconds = time.perf_counter() - t0
        build[name] = {"seconds": round(seconds, 2), "per_corpus_ms": round(1000 * seconds / args.corpora, 1),
                       "load_before": load, "load_after": common.load_average()[0],
                       "collections": len(layout.collections()), "parallel": args.parallel_build,
                       "steps_median_ms": {k: round(1000 * statistics.median(st[k] for st in layout.stages), 1)
                                           for k in layout.stages[0]}}
        print(f"{name:10} built {args.corpora} corpora in {seconds:.1f} s ({build[name]['collections']} collections, "
              f"load {load:.1f}; median steps {build[name]['steps_median_ms']} ms)", flush=True)

    if args.parallel_build:
        with ThreadPoolExecutor(len(LAYOUTS)) as pool:
            for f in [pool.submit(build_one, name) for name in LAYOUTS]:
                f.result()
    else:
        for name in LAYOUTS:
            build_one(name)
    rss["after build"] = {n: s.rss_mib() for n, s in servers.items()}

    # One more corpus, alternately in each layout.
    add: dict[str, list[float]] = {n: [] for n in LAYOUTS}
    for i, c in enumerate(corpora[args.corpora:]):
        for name in (LAYOUTS if i % 2 == 0 else LAYOUTS[::-1]):
            t0 = time.perf_counter()
            layouts[name].add(c)
            add[name].append(time.perf_counter() - t0)

    live = corpora[: args.corpora + args.extra]
    rng = random.Random(11)
    qrng = np.random.default_rng(11)
    kinds = ("Strong", "Bounded")

    def ask(count_: int, record: bool) -> dict:
        times: dict[str, list[float]] = {f"{n} {k}": [] for n in LAYOUTS for k in kinds}
        found = {n: 0 for n in LAYOUTS}
        recall = {n: 0.0 for n in LAYOUTS}
        agree = 0.0
        for _ in range(count_):
            c = rng.choice(live)
            sid = rng.randrange(len(c))
            vector = unit(c.vectors[sid] + 0.5 * unit(qrng.standard_normal(DIM).astype(np.float32))).tolist()
            ids: dict[str, list[int]] = {}
            order = [(n, k) for n in LAYOUTS for k in kinds]
            rng.shuffle(order)
            for name, kind in order:
                t0 = time.perf_counter()
                got = layouts[name].search(c.name, vector, kind)
                times[f"{name} {kind}"].append(time.perf_counter() - t0)
                if kind == "Strong":
                    ids[name] = got
            if record:
                exact = set(np.argsort(-(c.vectors @ np.asarray(vector, dtype=np.float32)))[:DEPTH].tolist())
                for name in LAYOUTS:
                    found[name] += ids[name][:1] == [sid]
                    recall[name] += len(exact & set(ids[name])) / DEPTH
                agree += len(set(ids["per-corpus"]) & set(ids["shared"])) / DEPTH
        out: dict[str, Any] = {k: common.summary_ms(v) for k, v in times.items()}
        if record:
            out["dense found its sentence first"] = {n: round(x / count_, 3) for n, x in found.items()}
            out["dense recall@48 of the exact top-48"] = {n: round(x / count_, 3) for n, x in recall.items()}
            out["top-48 overlap of the two layouts"] = round(agree / count_, 3)
        return out

    ask(args.warmup, False)
    load = common.load_average()[0]
    search = ask(args.questions, True)
    search["load"] = [load, common.load_average()[0]]
    rss["after searches"] = {n: s.rss_mib() for n, s in servers.items()}
    names = {"per-corpus": layouts["per-corpus"].collections(), "shared": [SHARED]}
    segs = {n: segments(servers[n], names[n]) for n in LAYOUTS}
    idle = idle_cpu(servers, args.idle)
    data_build = {n: s.data_mib() for n, s in servers.items()}
    print(f"searched; segments {segs}; idle CPU {idle} cores", flush=True)

    # Replace corpora (a reindex), alternately in each layout, then ask again.
    replace: dict[str, list[dict[str, float]]] = {n: [] for n in LAYOUTS}
    for i, c in enumerate(rng.sample(live, min(args.extra, len(live)))):
        for name in (LAYOUTS if i % 2 == 0 else LAYOUTS[::-1]):
            replace[name].append(layouts[name].replace(c, 2))
    after_replace = ask(max(args.questions // 2, 20), True)
    names = {"per-corpus": layouts["per-corpus"].collections(), "shared": [SHARED]}
    segs_after = {n: segments(servers[n], names[n]) for n in LAYOUTS}
    rss["after replacing"] = {n: s.rss_mib() for n, s in servers.items()}
    data_after = {n: s.data_mib() for n, s in servers.items()}

    # Restart each server (the other one running) until every collection is loaded and answers.
    restart: dict[str, dict[str, float]] = {}
    if not args.no_restart:
        for name in LAYOUTS:
            s = servers[name]
            t0 = time.perf_counter()
            s.stop()
            stopped = time.perf_counter() - t0
            up = s.start()
            loaded = wait_loaded(s, names[name])
            c = rng.choice(live)
            t1 = time.perf_counter()
            layouts[name].search(c.name, c.vectors[0].tolist(), "Strong")
            first = time.perf_counter() - t1
            restart[name] = {"stop_s": round(stopped, 2), "start_s": round(up, 2), "all_loaded_s": round(loaded, 2),
                             "first_search_ms": round(1000 * first, 1), "rss_mib": s.rss_mib()}
            print(f"{name:10} restarted: {restart[name]}", flush=True)

    def med_ms(values: list[float]) -> float:
        return round(1000 * statistics.median(values), 1)

    table = {
        "collections": [build[n]["collections"] for n in LAYOUTS],
        f"build {args.corpora} corpora (s)": [build[n]["seconds"] for n in LAYOUTS],
        "one more corpus, median (ms)": [med_ms(add[n]) for n in LAYOUTS],
        "  of which flush, median of all writes (ms)": [build[n]["steps_median_ms"]["flush"] for n in LAYOUTS],
        "  of which create + index + load (ms)": [round(sum(build[n]["steps_median_ms"].get(k, 0.0)
                                                            for k in ("create", "index", "load")), 1) for n in LAYOUTS],
        "dense search p50, Strong (ms)": [search[f"{n} Strong"]["p50_ms"] for n in LAYOUTS],
        "dense search p99, Strong (ms)": [search[f"{n} Strong"]["p99_ms"] for n in LAYOUTS],
        "dense search p50, Bounded (ms)": [search[f"{n} Bounded"]["p50_ms"] for n in LAYOUTS],
        "dense search p99, Bounded (ms)": [search[f"{n} Bounded"]["p99_ms"] for n in LAYOUTS],
        "dense recall@48 (of the exact top-48)": [search["dense recall@48 of the exact top-48"][n] for n in LAYOUTS],
        "replace a corpus, median (ms)": [med_ms([r["write_new"] + r["free_old"] for r in replace[n]]) for n in LAYOUTS],
        "  of which freeing the old (ms)": [med_ms([r["free_old"] for r in replace[n]]) for n in LAYOUTS],
        "dense p50 after replacing, Strong (ms)": [after_replace[f"{n} Strong"]["p50_ms"] for n in LAYOUTS],
        "dense p50 after replacing, Bounded (ms)": [after_replace[f"{n} Bounded"]["p50_ms"] for n in LAYOUTS],
        "recall@48 after replacing": [after_replace["dense recall@48 of the exact top-48"][n] for n in LAYOUTS],
        "loaded segments (of which indexed)": [f"{segs[n]['segments']} ({segs[n]['with_index']})" for n in LAYOUTS],
        "server RSS after build (MiB)": [rss["after build"][n] for n in LAYOUTS],
        "server RSS after replacing (MiB)": [rss["after replacing"][n] for n in LAYOUTS],
        "server CPU while idle (cores)": [idle[n] for n in LAYOUTS],
        "server data folder after build (MiB)": [data_build[n] for n in LAYOUTS],
        "  after replacing (MiB)": [data_after[n] for n in LAYOUTS],
    }
    if restart:
        table["restart: start (s)"] = [restart[n]["start_s"] for n in LAYOUTS]
        table["restart: then all loaded (s)"] = [restart[n]["all_loaded_s"] for n in LAYOUTS]
        table["RSS after restart (MiB)"] = [restart[n]["rss_mib"] for n in LAYOUTS]
    rows = []
    for k, (a, b) in table.items():
        ratio = round(b / a, 2) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a and \
            k != "collections" else None
        rows.append([k, a, b, ratio])
    common.finish_info(info)
    print_load = f"1-min load {info['load_average_start'][0]} -> {info['load_average_end'][0]}"
    common.print_table(rows, ["", "per-corpus (a)", "shared (b)", "b / a"],
                       title=f"{args.corpora} corpora x {args.sentences} sentences on Milvus {version} "
                             f"(embedded standalone), dense only; {print_load}")
    print("overlap of the two layouts' top-48:", search["top-48 overlap of the two layouts"],
          "; found its sentence first:", search["dense found its sentence first"])
    payload = {
        "machine": info,
        "setup": {"corpora": args.corpora, "sentences": args.sentences, "questions": args.questions,
                  "extra": args.extra, "dimension": DIM, "depth": DEPTH,
                  "hnsw": f"M {HNSW_M} efConstruction {EF_CONSTRUCTION} ef {EF}", "server": version,
                  "shared_partitions": partitions, "client_poll_s": POLL, "idle_window_s": args.idle},
        "table": {k: dict(zip(LAYOUTS, v)) for k, v in table.items()},
        "server_start_s": started,
        "build": build,
        "add_one_more_s": {n: [round(x, 3) for x in v] for n, v in add.items()},
        "search": search,
        "replace_s": {n: [{k: round(x, 3) for k, x in r.items()} for r in v] for n, v in replace.items()},
        "search_after_replace": after_replace,
        "segments_after_build": segs,
        "segments_after_replace": segs_after,
        "idle_cpu_cores": idle,
        "data_mib": {"after build": data_build, "after replacing": data_after},
        "server_rss_mib": rss,
        "restart": restart,
    }
    name = f"milvus_server_layout_{args.corpora}"
    print("written to", common.write_results(name, payload, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
