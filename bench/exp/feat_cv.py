"""CV the LambdaMART ranker with extra candidate features (same folds as tune_ranker)."""
import sys, time
import numpy as np
sys.path.insert(0, "bench/exp"); sys.path.insert(0, "bench"); sys.path.insert(0, ".")
from adapter import groups
import tune_ranker as tr
from index.search import FEATURES
H = FEATURES.index("heading")

def unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)

def extra(g, which):
    v = g["v"].astype(np.float32); E, C, T, P = g["E"], g["C"], g["T"], g["P"]
    cols = []
    if "res" in which:  # cosine of question and sentence with the title direction removed
        qr = v[None, :] - (T @ v)[:, None] * T
        er = E - np.sum(E * T, 1, keepdims=True) * T
        cols.append(np.sum(unit(qr) * unit(er), 1))
        cr = C - np.sum(C * T, 1, keepdims=True) * T
        cols.append(np.sum(unit(qr) * unit(cr), 1))
    if "rel" in which:  # cosine relative to the best in the group (margins)
        s = E @ v; c = C @ v
        cols += [s - s.max(), c - c.max()]
    if "parares" in which:
        pr = P - np.sum(P * T, 1, keepdims=True) * T
        qr = v[None, :] - (T @ v)[:, None] * T
        cols.append(np.sum(unit(qr) * unit(pr), 1))
    return np.stack(cols, 1) if cols else np.zeros((len(E), 0), np.float32)

def run(which, news_weight=3.0):
    G = dict(groups())
    news, squad, extra_train = [], [], []
    if "reworded" in which:
        import pickle
        G["reworded"] = pickle.loads(open("data/exp-reworded.pkl", "rb").read())
        which = tuple(w for w in which if w != "reworded")
    for name, out in (("news", news), ("squad", squad), ("reworded", extra_train)):
        for g in G.get(name, []):
            X = np.concatenate([g["X"], extra(g, which)], 1) if which else g["X"]
            keep = X[:, H] == 0
            cols = tr.GBM_FEATURES + list(range(len(FEATURES), X.shape[1]))
            out.append({"set": name, "key": g["key"], "G": X[keep][:, cols], "y": g["y"][keep],
                        "weight": news_weight if name == "news" else 1.0})
    pages = sorted({g["key"] for g in news})
    rng = np.random.default_rng(7); rng.shuffle(pages)
    folds = [set(pages[i::5]) for i in range(5)]
    rows = []
    for fold in folds:
        m = tr.fit_gbm(squad + extra_train + [g for g in news if g["key"] not in fold])
        rows.append(tr.evaluate_gbm([g for g in news if g["key"] in fold], m))
    h = {k: sum(r[k] * r["n"] for r in rows) / len(news) for k in ("hit1", "hit3")}
    even = [g for g in squad if g["key"] % 2 == 0]; odd = [g for g in squad if g["key"] % 2 == 1]
    ex_even = [g for g in extra_train if g["key"] % 2 == 0]; ex_odd = [g for g in extra_train if g["key"] % 2 == 1]
    a, b = tr.evaluate_gbm(odd, tr.fit_gbm(even + ex_even + news)), tr.evaluate_gbm(even, tr.fit_gbm(odd + ex_odd + news))
    sq = (a["hit1"] * a["n"] + b["hit1"] * b["n"]) / len(squad)
    return h["hit1"], h["hit3"], sq

if __name__ == "__main__":
    for which in sys.argv[1:]:
        t = time.time()
        w = () if which == "none" else tuple(which.split("+"))
        h1, h3, sq = run(w)
        print(f"{which:20} news CV hit@1 {h1:.3f} hit@3 {h3:.3f} | squad CV P@1 {sq:.3f} | {time.time()-t:.0f}s", flush=True)
