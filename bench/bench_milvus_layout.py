"""Many corpora on Milvus: a collection per corpus, or one shared collection with a partition key (issue 14).

    nice -n 10 .venv/bin/python bench/bench_milvus_layout.py [--corpora 100] [--sentences 200]
        [--questions 200] [--extra 5] [--work DIR] [--out bench/results/milvus_layout.json]

Builds the same N corpora of S synthetic sentences twice, on milvus-lite (two files, one per layout):

  (a) per-corpus: one collection per corpus, as INDEX_BACKEND=milvus does today (index/milvus_index.py
      gives each generation three collections; only its sentences collection is built here, so a real
      deployment has three times these collections, six while the previous generation is kept);
  (b) shared: one collection holding every corpus, with a ``corpus`` VARCHAR field marked
      ``is_partition_key`` (default number of partitions) whose value is "corpus@generation"; questions
      filter on ``corpus == "x@g"``.

Both use the schema of the backend's sentences collection (id, paragraph, document, position, traits,
analyzed terms with a BM25 function, 384-d vector with HNSW M 32, context vector FLAT); (b) adds the
corpus key and a VARCHAR primary key "corpus@generation/sid". Each corpus is written as the backend
writes a generation: insert, flush, count. Vectors are random unit vectors; the text is synthetic news
sentences (bench/common.synthetic_sentence) analyzed by index.lexical, as the backend stores it.

Measured side by side in one process (the questions interleave the layouts in a shuffled order, so
the machine's load weighs on both): total build time of the N corpora; the time to write one more corpus
(``--extra`` times, median); dense and BM25 search p50/p99 against a random corpus (depth 48, the
backend's parameters); the time to replace a corpus (a: create a new collection, write it, drop the old
one; b: write the new generation's rows, then delete the old ones by filter and flush); the milvus-lite
folder size after the build and after the replacements. Then, with the files closed, a fresh process per
layout reopens its file and loads every collection (what a restarted bot does): its open time and RSS.
The 1-min load average is recorded before and after. Written to bench/results/milvus_layout.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402
from index.lexical import analyzed_text, analyzed_texts  # noqa: E402
from index.milvus_backend import MilvusConfig, _both_forms, _fit, connect  # noqa: E402
from index.milvus_index import _count, _create_collection  # noqa: E402
from index.search import sentence_traits  # noqa: E402

DIM = 384
DEPTH = 48
EF = 96  # the backend's hnsw_ef_search
HNSW_M = 32
LAYOUTS = ("per-corpus", "shared")
SHARED = "newsqa_sentences_shared"


# ----------------------------------------------------------------------------- data


class Corpus:
    """One corpus's synthetic sentences: analyzed terms, traits, vectors (seeded by its number)."""

    def __init__(self, number: int, sentences: int) -> None:
        rng = random.Random(1000 + number)
        texts = [common.synthetic_sentence(rng) for _ in range(sentences)]
        self.name = f"server{number:05d}"
        self.texts = texts
        self.terms = analyzed_texts(texts)
        self.traits = sentence_traits(texts)
        vrng = np.random.default_rng(1000 + number)
        self.vectors = unit(vrng.standard_normal((sentences, DIM)).astype(np.float32))
        self.context = unit(self.vectors + unit(vrng.standard_normal((sentences, DIM)).astype(np.float32)))

    def rows(self, key: str | None) -> list[dict]:
        """Rows of the sentences collection; with ``key`` ("corpus@generation"), those of the shared one."""
        out = []
        for i in range(len(self.texts)):
            row = {"sid": i, "para": i // 3, "doc": i // 30, "position": i % 30, "traits": self.traits[i].tolist(),
                   "terms": _fit(self.terms[i]), "vector": self.vectors[i].tolist(), "context": self.context[i].tolist()}
            if key is not None:
                row["pk"] = f"{key}/{i}"
                row["corpus"] = key
            out.append(row)
        return out


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- the two layouts


def sentences_schema(client: Any, shared: bool, traits: int) -> tuple[Any, Any]:
    """The backend's sentences collection (index/milvus_index.MilvusBackend._create), plus, when shared,
    a corpus partition key and a primary key unique across corpora."""
    from pymilvus import DataType, Function, FunctionType

    from index.lexical import B, K1

    s = client.create_schema(auto_id=False)
    if shared:
        s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=160)  # "corpus@generation/sid"
        s.add_field("corpus", DataType.VARCHAR, max_length=128, is_partition_key=True)  # "corpus@generation"
        s.add_field("sid", DataType.INT64)
    else:
        s.add_field("sid", DataType.INT64, is_primary=True)
    s.add_field("para", DataType.INT64)
    s.add_field("doc", DataType.INT64)
    s.add_field("position", DataType.INT64)
    s.add_field("traits", DataType.ARRAY, element_type=DataType.FLOAT, max_capacity=traits)
    s.add_field("terms", DataType.VARCHAR, max_length=65_535, enable_analyzer=True,
                analyzer_params={"tokenizer": "standard"})
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                            input_field_names=["terms"], output_field_names=["sparse"]))
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("context", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="HNSW", metric_type="IP",
                    params=_both_forms({"M": HNSW_M, "efConstruction": 80}))
    index.add_index(field_name="context", index_type="FLAT", metric_type="IP", params={})
    index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                    params=_both_forms({"bm25_k1": K1, "bm25_b": B}))
    return s, index


class Layout(common.GenerationLayout):
    """A layout on one milvus-lite client."""

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client


class PerCorpus(Layout):
    """(a) A collection per corpus and generation: newsqa_<corpus>_g<generation>."""

    name = "per-corpus"

    def __init__(self, client: Any, traits: int) -> None:
        super().__init__(client)
        self.traits = traits

    def write(self, corpus: Corpus, generation: int) -> str:
        """Create the generation's collection, insert, flush, count (as MilvusBackend.write)."""
        name = f"newsqa_{corpus.name}_g{generation:06d}_s"
        schema, index = sentences_schema(self.client, False, self.traits)
        _create_collection(self.client, name, schema, index)
        self.client.insert(name, corpus.rows(None))
        self.client.flush(name)
        got = _count(self.client, name)
        assert got == len(corpus.texts), (name, got)
        return name

    def free(self, old: str) -> None:
        self.client.drop_collection(old)

    def search(self, corpus: str, vector: list[float] | None, terms: str | None) -> list[dict]:
        name = self.live[corpus]
        if vector is not None:
            return self.client.search(name, data=[vector], anns_field="vector", limit=DEPTH, output_fields=["position"],
                                      search_params={"metric_type": "IP", "params": {"ef": EF}})[0]
        return self.client.search(name, data=[terms], anns_field="sparse", limit=DEPTH, output_fields=["terms"],
                                  search_params={"metric_type": "BM25"})[0]

    def collections(self) -> int:
        return len(self.client.list_collections())


class Shared(Layout):
    """(b) One collection for every corpus; the key "corpus@generation" is the partition key."""

    name = "shared"

    def __init__(self, client: Any, traits: int) -> None:
        super().__init__(client)  # live keys: in the records store, in a deployment
        schema, index = sentences_schema(client, True, traits)
        _create_collection(client, SHARED, schema, index)

    def write(self, corpus: Corpus, generation: int) -> str:
        key = f"{corpus.name}@{generation}"
        self.client.insert(SHARED, corpus.rows(key))
        self.client.flush(SHARED)
        got = self.count(key)
        assert got == len(corpus.texts), (key, got)
        return key

    def count(self, key: str) -> int:
        rows = self.client.query(SHARED, filter=f"corpus == {json.dumps(key)}", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def free(self, old: str) -> None:
        self.client.delete(SHARED, filter=f"corpus == {json.dumps(old)}")
        self.client.flush(SHARED)
        assert self.count(old) == 0

    def search(self, corpus: str, vector: list[float] | None, terms: str | None) -> list[dict]:
        where = f"corpus == {json.dumps(self.live[corpus])}"
        if vector is not None:
            return self.client.search(SHARED, data=[vector], anns_field="vector", limit=DEPTH, filter=where,
                                      output_fields=["sid"], search_params={"metric_type": "IP", "params": {"ef": EF}})[0]
        return self.client.search(SHARED, data=[terms], anns_field="sparse", limit=DEPTH, filter=where,
                                  output_fields=["sid", "terms"], search_params={"metric_type": "BM25"})[0]

    def collections(self) -> int:
        return len(self.client.list_collections())


def sid_of(hit: dict) -> int:
    return int(hit["sid"])  # the primary key of (a), an output field of (b)


def folder_mib(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 2)


# ----------------------------------------------------------------------------- reopening (a fresh process)


def reopen(path: Path) -> dict:
    """Open a layout's milvus-lite file and load every collection, as a restarted bot would (child process)."""
    base = common.rss_mb()
    t0 = time.perf_counter()
    import pymilvus  # noqa: F401

    t1 = time.perf_counter()
    client = connect(MilvusConfig(uri=str(path)))
    names = client.list_collections()
    t2 = time.perf_counter()
    rows = 0
    for name in names:
        client.load_collection(name)
        rows += _count(client, name)
    t3 = time.perf_counter()
    out = {"import_s": round(t1 - t0, 2), "connect_s": round(t2 - t1, 2), "load_all_s": round(t3 - t2, 2),
           "collections": len(names), "rows": rows, "rss_before_import_mib": base.get("rss_mib"), **common.rss_mb()}
    client.close()
    return out


# ----------------------------------------------------------------------------- the run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", type=int, default=100, help="corpora built in each layout (default 100)")
    ap.add_argument("--sentences", type=int, default=200, help="sentences per corpus (default 200)")
    ap.add_argument("--questions", type=int, default=200, help="questions asked of both layouts (default 200)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--extra", type=int, default=5, help="corpora added, and corpora replaced, after the build")
    ap.add_argument("--work", type=Path, default=None, help="keep the milvus-lite files here (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--reopen", type=Path, default=None, help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args()
    if args.reopen is not None:
        print(json.dumps(reopen(args.reopen)))
        return 0

    info = common.machine_info()
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-milvus-layout-")
        args.work = Path(tmp.name)
    paths = {name: args.work / f"{name}.db" for name in LAYOUTS}
    for p in paths.values():
        if p.exists():
            raise SystemExit(f"{p} exists: give an empty --work folder")

    t0 = time.perf_counter()
    corpora = [Corpus(i, args.sentences) for i in range(args.corpora + args.extra)]
    print(f"{len(corpora)} corpora of {args.sentences} sentences generated in {time.perf_counter() - t0:.1f} s",
          flush=True)
    traits = corpora[0].traits.shape[1]
    rss: dict[str, Any] = {"start": common.rss_mb()}
    import pymilvus

    clients = {name: connect(MilvusConfig(uri=str(p))) for name, p in paths.items()}
    layouts = {"per-corpus": PerCorpus(clients["per-corpus"], traits), "shared": Shared(clients["shared"], traits)}
    rss["connected"] = common.rss_mb()

    # Build: the layouts one after the other (each alone on the machine), then their RSS growth.
    build: dict[str, Any] = {}
    for name, layout in layouts.items():
        load = common.load_average()[0]
        t0 = time.perf_counter()
        for c in corpora[: args.corpora]:
            layout.add(c)
        seconds = time.perf_counter() - t0
        rss[f"after {name} build"] = common.rss_mb()
        build[name] = {"seconds": round(seconds, 2), "per_corpus_ms": round(1000 * seconds / args.corpora, 1),
                       "load_before": load, "load_after": common.load_average()[0],
                       "collections": layout.collections(), "folder_mib": folder_mib(paths[name])}
        print(f"{name:10} built {args.corpora} corpora in {seconds:.1f} s ({build[name]['collections']} "
              f"collections, {build[name]['folder_mib']} MiB, load {load:.1f})", flush=True)

    # One more corpus, alternately in each layout.
    add: dict[str, list[float]] = {n: [] for n in LAYOUTS}
    for i, c in enumerate(corpora[args.corpora:]):
        for name in (LAYOUTS if i % 2 == 0 else LAYOUTS[::-1]):
            t0 = time.perf_counter()
            layouts[name].add(c)
            add[name].append(time.perf_counter() - t0)

    # Questions: a sentence of a random corpus, cut to its first words; its vector, slightly moved.
    rng = random.Random(11)
    qrng = np.random.default_rng(11)
    live = corpora[: args.corpora + args.extra]

    def ask(count: int, record: bool) -> dict:
        times: dict[str, list[float]] = {f"{n} {kind}": [] for n in LAYOUTS for kind in ("dense", "bm25")}
        agree = {"dense top-1": 0, "dense top-48": 0.0, "bm25 top-10": 0.0, "dense found its sentence": {n: 0 for n in LAYOUTS},
                 "dense recall@48 of the exact top-48": {n: 0.0 for n in LAYOUTS}}
        for _ in range(count):
            c = rng.choice(live)
            sid = rng.randrange(len(c.texts))
            terms = analyzed_text(" ".join(c.texts[sid].split()[: rng.randint(5, 9)]))
            vector = unit(c.vectors[sid] + 0.5 * unit(qrng.standard_normal(DIM).astype(np.float32))).tolist()
            hits: dict[str, list[dict]] = {}
            for kind in ("dense", "bm25"):
                for name in (LAYOUTS if rng.random() < 0.5 else LAYOUTS[::-1]):
                    t0 = time.perf_counter()
                    hits[f"{name} {kind}"] = layouts[name].search(c.name, vector if kind == "dense" else None,
                                                                  terms if kind == "bm25" else None)
                    times[f"{name} {kind}"].append(time.perf_counter() - t0)
            if record:
                ids = {k: [sid_of(h) for h in v] for k, v in hits.items()}
                agree["dense top-1"] += ids["per-corpus dense"][:1] == ids["shared dense"][:1]
                agree["dense top-48"] += len(set(ids["per-corpus dense"]) & set(ids["shared dense"])) / DEPTH
                top = set(ids["per-corpus bm25"][:10])
                agree["bm25 top-10"] += len(top & set(ids["shared bm25"][:10])) / max(len(top), 1)
                exact = set(np.argsort(-(c.vectors @ np.asarray(vector, dtype=np.float32)))[:DEPTH].tolist())
                for name in LAYOUTS:
                    agree["dense found its sentence"][name] += ids[f"{name} dense"][:1] == [sid]
                    agree["dense recall@48 of the exact top-48"][name] += len(exact & set(ids[f"{name} dense"])) / DEPTH
                # The filter keeps other corpora out: every shared hit is of the asked corpus's live key.
                assert all(str(h["pk"]).startswith(layouts["shared"].live[c.name] + "/")
                           for k in ("shared dense", "shared bm25") for h in hits[k]), c.name
        out = {k: common.summary_ms(v) for k, v in times.items()}
        if record:
            out["agreement"] = {k: (round(v / count, 3) if not isinstance(v, dict)
                                    else {n: round(x / count, 3) for n, x in v.items()}) for k, v in agree.items()}
        return out

    ask(args.warmup, False)
    load = common.load_average()[0]
    search = ask(args.questions, True)
    search["load"] = [load, common.load_average()[0]]
    rss["after searches"] = common.rss_mb()

    # Replace corpora (a reindex): alternately in each layout, then ask again (b now holds tombstones).
    replace: dict[str, list[dict[str, float]]] = {n: [] for n in LAYOUTS}
    for i, c in enumerate(rng.sample(live, min(args.extra, len(live)))):
        for name in (LAYOUTS if i % 2 == 0 else LAYOUTS[::-1]):
            replace[name].append(layouts[name].replace(c, 2))
    after_replace = ask(max(args.questions // 2, 20), True)
    folder_after = {name: folder_mib(p) for name, p in paths.items()}

    for client in clients.values():
        client.close()
    from milvus_lite.server_manager import server_manager_instance

    for p in paths.values():
        server_manager_instance.release_server(str(p))
    reopened = {}
    for name, p in paths.items():
        proc = subprocess.run([sys.executable, __file__, "--reopen", str(p)], capture_output=True, text=True,
                              check=True)
        reopened[name] = json.loads(proc.stdout.strip().splitlines()[-1])

    def med_ms(values: list[float]) -> float:
        return round(1000 * statistics.median(values), 1)

    table = {
        "collections": [build[n]["collections"] for n in LAYOUTS],
        f"build {args.corpora} corpora (s)": [build[n]["seconds"] for n in LAYOUTS],
        "one more corpus, median (ms)": [med_ms(add[n]) for n in LAYOUTS],
        "dense search p50 (ms)": [search[f"{n} dense"]["p50_ms"] for n in LAYOUTS],
        "dense search p99 (ms)": [search[f"{n} dense"]["p99_ms"] for n in LAYOUTS],
        "BM25 search p50 (ms)": [search[f"{n} bm25"]["p50_ms"] for n in LAYOUTS],
        "BM25 search p99 (ms)": [search[f"{n} bm25"]["p99_ms"] for n in LAYOUTS],
        "dense recall@48 (of the exact top-48)": [search["agreement"]["dense recall@48 of the exact top-48"][n]
                                                  for n in LAYOUTS],
        "replace a corpus, median (ms)": [med_ms([r["write_new"] + r["free_old"] for r in replace[n]]) for n in LAYOUTS],
        "  of which freeing the old (ms)": [med_ms([r["free_old"] for r in replace[n]]) for n in LAYOUTS],
        "dense p50 after replacing (ms)": [after_replace[f"{n} dense"]["p50_ms"] for n in LAYOUTS],
        "BM25 p50 after replacing (ms)": [after_replace[f"{n} bm25"]["p50_ms"] for n in LAYOUTS],
        "milvus-lite folder after build (MiB)": [build[n]["folder_mib"] for n in LAYOUTS],
        "milvus-lite folder after replacing (MiB)": [folder_after[n] for n in LAYOUTS],
        "reopen + load all, fresh process (s)": [reopened[n]["connect_s"] + reopened[n]["load_all_s"] for n in LAYOUTS],
        "RSS of that process (MiB)": [reopened[n]["rss_mib"] for n in LAYOUTS],
        "  of which pymilvus + the open file (MiB)": [round(reopened[n]["rss_mib"] - reopened[n]["rss_before_import_mib"], 1)
                                                      for n in LAYOUTS],
    }
    rows = []
    for k, (a, b) in table.items():
        ratio = round(b / a, 2) if isinstance(a, (int, float)) and a and k != "collections" else None
        rows.append([k, a, b, ratio])
    common.finish_info(info)
    print_load = f"1-min load {info['load_average_start'][0]} -> {info['load_average_end'][0]}"
    common.print_table(rows, ["", "per-corpus (a)", "shared (b)", "b / a"],
                       title=f"{args.corpora} corpora x {args.sentences} sentences on milvus-lite; {print_load}")
    print("agreement of the two layouts' results:", json.dumps(search["agreement"]))
    payload = {
        "machine": info,
        "setup": {"corpora": args.corpora, "sentences": args.sentences, "questions": args.questions,
                  "extra": args.extra, "dimension": DIM, "depth": DEPTH, "hnsw": f"M {HNSW_M} efConstruction 80 ef {EF}",
                  "pymilvus": pymilvus.__version__, "milvus_lite": __import__("milvus_lite").__version__},
        "table": {k: dict(zip(("per-corpus", "shared"), v)) for k, v in table.items()},
        "build": build,
        "add_one_more_s": {n: [round(x, 3) for x in v] for n, v in add.items()},
        "search": search,
        "replace_s": {n: [{k: round(x, 3) for k, x in r.items()} for r in v] for n, v in replace.items()},
        "search_after_replace": after_replace,
        "folder_after_replace_mib": folder_after,
        "reopen": reopened,
        "rss_in_the_run": rss,
    }
    print("written to", common.write_results("milvus_layout", payload, args.out))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
