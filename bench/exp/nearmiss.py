"""Synthetic near misses: each in-scope question with its right sentences taken out of the candidates."""
import sys, json
import numpy as np
sys.path.insert(0, "bench/exp"); sys.path.insert(0, "bench"); sys.path.insert(0, ".")
from adapter import groups
from index.search import FEATURES, RetrievalSettings
from index import ranker
H = FEATURES.index("heading")
IN = ("sentence", "paragraph", "title", "coverage", "paragraph_coverage", "entity_coverage", "type_missing")
col = [FEATURES.index(n) for n in IN]
G = groups()
folds = json.loads(open("data/ranker-folds/folds.json").read())

def rows(name, gs):
    out = []
    for g in gs:
        keep = g["X"][:, H] == 0
        X, y = g["X"][keep], g["y"][keep]
        if not y.any():
            continue
        model = f"data/ranker-folds/fold-{folds[g['key']]}.txt" if name == "news" else None
        s = ranker.score(X, FEATURES, model)
        o = np.argsort(-s, kind="stable")
        def feat(order):
            top = order[0]
            return list(X[top, col]) + [s[top], s[top] - s[order[1]] if len(order) > 1 else 1.0]
        right = bool(y[o[0]])
        rest = [i for i in o if not y[i]]
        out.append((g["key"], feat(o), 1, right))
        if len(rest) > 1:
            out.append((g["key"], feat(np.array(rest)), 0, False))
    return out

w = np.array(RetrievalSettings().confidence_weights)
for name in ("news", "squad"):
    R = rows(name, G[name])
    X = np.array([r[1] for r in R]); y = np.array([r[2] for r in R]); right = np.array([r[3] for r in R])
    cur = 1 / (1 + np.exp(-(X[:, :7] @ w[:-1] + w[-1])))
    thr = 0.303
    print(name, "n", len(y), "current conf: answered in-scope", round(float((cur[y == 1] >= thr).mean()), 3),
          "declined synthetic near-miss", round(float((cur[y == 0] < thr).mean()), 3))
    np.save(f"data/exp-nm-{name}.npy", np.c_[X, y, right, [hash(r[0]) % 100000 for r in R]])
