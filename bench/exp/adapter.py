"""Experiment: a linear question adapter trained on SQuAD-A candidates (listwise), measured on news-dev."""
from __future__ import annotations
import os, sys, pickle, time
from pathlib import Path
import numpy as np
ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT, ROOT / "bench"):
    sys.path.insert(0, str(p))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CACHE = ROOT / "data" / "exp-groups.pkl"

def groups():
    if CACHE.exists():
        return pickle.loads(CACHE.read_bytes())
    from tune_ranker import news_groups, squad_groups
    from eval_news import load_scorer
    from index.embed import SentenceTransformerEncoder
    from index.engine import Engine, EngineSettings
    news_dev = ROOT.parent / "shared/eval/news-dev"
    engine = Engine(ROOT / "data/eval-news", SentenceTransformerEncoder(), EngineSettings(seeds_dir=None))
    norm = load_scorer(news_dev).norm
    out = {}
    for name, gs, corpus in (("news", news_groups(engine, news_dev, norm), "news-dev"),
                             ("squad", squad_groups(engine, ROOT.parent / "shared/eval/squad-dev-a.json", ROOT / "data/eval-news"), "squad-all")):
        idx = engine.index(corpus)
        for g in gs:
            g["E"] = np.asarray(idx.vectors[g["ids"]], dtype=np.float32)
            g["C"] = np.asarray(idx.context_vectors[g["ids"]], dtype=np.float32)
            g["T"] = np.asarray(idx.title_vectors[idx.sent_doc[g["ids"]]], dtype=np.float32)
            g["P"] = np.asarray(idx.paragraph_vectors[idx.sent_para[g["ids"]]], dtype=np.float32)
            g["texts"] = [r[0] for r in idx.query("SELECT text FROM sentences WHERE id IN (%s)" % ",".join(map(str, g["ids"])))] if False else None
        out[name] = gs
    CACHE.write_bytes(pickle.dumps(out))
    return out

if __name__ == "__main__":
    t = time.time()
    G = groups()
    print("groups", {k: len(v) for k, v in G.items()}, f"{time.time()-t:.1f}s")
