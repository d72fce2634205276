import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
import lightgbm as lgb
N = np.load("data/exp-nm-news.npy"); S = np.load("data/exp-nm-squad.npy")
def split(A): return A[:, :9], A[:, 9], A[:, 11]
Xn, yn, kn = split(N); Xs, ys, ks = split(S)
for cols, label in (([0,1,2,3,4,5,6], "7 inputs"), (list(range(9)), "+ranker score, margin"), ([7, 8], "score+margin only")):
    # train on squad (+news other folds), test on news folds by key
    keys = np.unique(kn); rng = np.random.default_rng(0); rng.shuffle(keys); fk = {k: i % 5 for i, k in enumerate(keys)}
    f = np.array([fk[k] for k in kn]); p = np.zeros(len(yn)); pg = np.zeros(len(yn))
    for i in range(5):
        tr = f != i
        X = np.r_[Xs[:, cols], Xn[tr][:, cols]]; y = np.r_[ys, yn[tr]]; w = np.r_[np.ones(len(ys)), 3 * np.ones(tr.sum())]
        m = LogisticRegression(C=1.0, max_iter=3000).fit(X, y, sample_weight=w)
        p[~tr] = m.predict_proba(Xn[~tr][:, cols])[:, 1]
        g = lgb.LGBMClassifier(n_estimators=200, learning_rate=0.05, num_leaves=7, min_child_samples=50, verbose=-1).fit(X, y, sample_weight=w)
        pg[~tr] = g.predict_proba(Xn[~tr][:, cols])[:, 1]
    for nm, q in (("logit", p), ("gbm", pg)):
        thr = np.quantile(q[yn == 1], 0.05)
        print(f"{label:24} {nm:5} news AUC {roc_auc_score(yn, q):.3f}  declined synth NM at 95% answered: {(q[yn == 0] < thr).mean():.3f}")
