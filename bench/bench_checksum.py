"""What verifying the generation checksums costs when a corpus is loaded, at 100k and 1M sentences.

    .venv/bin/python bench/bench_checksum.py [--sizes 100000,1000000] [--repeats 5]

Each size's generation is written by the engine's own Engine._write_generation over the synthetic
corpus of bench_latency.py (words mixed from synthetic news sentences; vectors normalized random
mixtures, as there), so its files (docs.sqlite, vectors.npy, the HNSW index, BM25 folders) have the
real sizes; it is kept in --workdir for reruns. Then, alternating in one process, with the page
cache warm (a restarted bot finds its files cached, or reads them from disk once either way):

  none        CorpusIndex.load with checksum verification switched off (what load cost before)
  background  the default: sizes checked at once, CRC-32s in a background thread; the load returns
              before they are done, and the thread's own duration is reported as well
  sync        every CRC-32 verified before load returns (the default below SYNC_VERIFY_BYTES)

Also reported: the raw CRC-32 throughput of the files (zlib.crc32) and the bytes per generation.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

import numpy as np  # noqa: E402

DIM = 384


def build(n: int, work: Path) -> Path:
    """The generation folder of an ``n``-sentence synthetic corpus (written once, then reused)."""
    from bench_latency import PrecomputedCache, corpus_of_size

    from index.documents import load_text
    from index.engine import Engine, EngineSettings

    index_dir = work / f"size-{n}"
    stamp = index_dir / "bench-checksum.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("n") == n:
        return index_dir
    shutil.rmtree(index_dir, ignore_errors=True)
    base = [load_text(text, title=title, doc_id=f"base-{i}")
            for i, (title, text) in enumerate(common.synthetic_articles(3000, seed=11))]
    rng = np.random.default_rng(5)
    base_vecs = rng.standard_normal((sum(len(d.sentences) for d in base), DIM)).astype(np.float32)
    base_vecs /= np.linalg.norm(base_vecs, axis=1, keepdims=True)
    docs, vecs = corpus_of_size(n, base, base_vecs)

    class _Named:
        name, dimension = "all-MiniLM-L6-v2", DIM

        def encode(self, texts, **kw):  # noqa: ANN001, ANN201
            raise AssertionError("vectors are precomputed")

    engine = Engine(index_dir, _Named(), EngineSettings())
    engine.cache = PrecomputedCache(vecs)
    t = time.perf_counter()
    cdir = engine.corpus("default")
    with cdir.writer_lock(None):
        engine._write_generation(cdir, docs, None, added_at={})
    print(f"  wrote the {n:,}-sentence generation in {time.perf_counter() - t:.0f} s", flush=True)
    engine.close()
    stamp.write_text(json.dumps({"n": n}))
    return index_dir


def measure(index_dir: Path, repeats: int) -> dict:
    import index.search as search
    from index.search import CorpusIndex, RetrievalSettings
    from index.store import CorpusDir, checksum

    path = CorpusDir(index_dir, "default").current()
    manifest = json.loads((path / "manifest.json").read_text())
    files = manifest["files"]
    total = sum(f["bytes"] for f in files.values())
    real_check = search.check_checksums

    def load(mode: str) -> tuple[float, float]:
        search.SYNC_VERIFY_BYTES = 1 << 62 if mode == "sync" else 0
        search.check_checksums = (lambda *a, **k: None) if mode == "none" else real_check
        t = time.perf_counter()
        idx = CorpusIndex.load(path, model="all-MiniLM-L6-v2", dimension=DIM, settings=RetrievalSettings())
        loaded = time.perf_counter() - t
        idx.wait_verified()
        verified = time.perf_counter() - t
        idx.close()
        del idx
        return loaded, verified

    load("none")  # warm the page cache
    times: dict[str, list[tuple[float, float]]] = {m: [] for m in ("none", "background", "sync")}
    for _ in range(repeats):
        for mode in times:
            times[mode].append(load(mode))
    search.check_checksums = real_check
    t = time.perf_counter()
    for name in files:
        checksum(path / name)
    crc_s = time.perf_counter() - t
    none = statistics.median(x[0] for x in times["none"])
    out = {
        "sentences": manifest["sentences"], "index_type": manifest["index_type"], "files": len(files),
        "bytes": total, "crc32_gb_per_s": round(total / crc_s / 1e9, 2), "crc32_all_files_seconds": round(crc_s, 3),
        "load_seconds_median": {m: round(statistics.median(x[0] for x in v), 3) for m, v in times.items()},
        "verified_after_seconds_median": {m: round(statistics.median(x[1] for x in v), 3) for m, v in times.items()},
        "load_ratio_to_none": {m: round(statistics.median(x[0] for x in v) / none, 3) for m, v in times.items()},
        "repeats": repeats,
    }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/newsqa-bench-checksum"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    random.seed(1)
    info = common.machine_info()
    sizes = {}
    for n in (int(x) for x in args.sizes.split(",")):
        print(f"size {n:,}: building (or reusing) the generation ...", flush=True)
        index_dir = build(n, args.workdir)
        load_before = common.load_average()
        res = measure(index_dir, args.repeats)
        res["load_average_before"], res["load_average_after"] = load_before, common.load_average()
        sizes[str(n)] = res
        common.print_table(
            [[m, res["load_seconds_median"][m], res["load_ratio_to_none"][m], res["verified_after_seconds_median"][m]]
             for m in ("none", "background", "sync")],
            ["verification", "load s (median)", "ratio to none", "verified after s"],
            title=f"{n:,} sentences, {res['bytes'] / 1e6:,.0f} MB in {res['files']} files, "
                  f"CRC-32 {res['crc32_gb_per_s']} GB/s, 1-min load {load_before[0]}")
    payload = {"benchmark": "bench_checksum", "machine": common.finish_info(info), "sizes": sizes}
    print("wrote", common.write_results("checksum", payload, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
