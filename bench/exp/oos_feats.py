import sys, json
import numpy as np
sys.path.insert(0, "bench/exp"); sys.path.insert(0, "bench"); sys.path.insert(0, ".")
import os; os.environ["HF_HUB_OFFLINE"] = "1"
from index.search import FEATURES
from index import ranker
from index.embed import SentenceTransformerEncoder
from index.engine import Engine, EngineSettings
from eval_news import read_jsonl
H = FEATURES.index("heading")
IN = ("sentence", "paragraph", "title", "coverage", "paragraph_coverage", "entity_coverage", "type_missing")
col = [FEATURES.index(n) for n in IN]
engine = Engine("data/eval-news", SentenceTransformerEncoder(), EngineSettings(seeds_dir=None))
idx = engine.index("news-dev")
oos = read_jsonl(__import__("pathlib").Path("../shared/eval/news-dev/oos.jsonl"))
V = engine.embed_questions([o["question"] for o in oos])
out = []
for o, v in zip(oos, V):
    c = idx.candidates(v, o["question"], idx.settings.candidates)
    X = c.features[c.features[:, H] == 0]
    s = ranker.score(X, FEATURES); od = np.argsort(-s, kind="stable")
    out.append(list(X[od[0], col]) + [s[od[0]], s[od[0]] - s[od[1]]] + [1 if "near" in json.dumps(o) else 0])
np.save("data/exp-oos.npy", np.array(out))
print(np.array(out).round(2))
