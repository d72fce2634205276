import numpy as np
from sklearn.linear_model import LogisticRegression
N = np.load("data/exp-nm-news.npy"); S = np.load("data/exp-nm-squad.npy"); O = np.load("data/exp-oos.npy")
near = O[:, 9] == 1
for cols, label in (([0,1,2,3,4,5,6], "7 inputs"), (list(range(9)), "+score,margin")):
  for syn_w in (0.0, 0.3, 1.0):
    keep_s = (S[:, 9] == 1) | (syn_w > 0); keep_n = (N[:, 9] == 1) | (syn_w > 0)
    X = np.r_[S[keep_s][:, cols], N[keep_n][:, cols]]; y = np.r_[S[keep_s][:, 9], N[keep_n][:, 9]]
    w = np.r_[np.where(S[keep_s][:, 9] == 1, 1, syn_w), 3 * np.where(N[keep_n][:, 9] == 1, 1, max(syn_w, 1e-9))]
    # real OOS as negatives too (weight as news), like tune_confidence
    X = np.r_[X, O[:, cols]]; y = np.r_[y, np.zeros(len(O))]; w = np.r_[w, 20 * np.ones(len(O))]
    m = LogisticRegression(C=1.0, max_iter=5000).fit(X, y, sample_weight=w)
    pin = m.predict_proba(N[N[:, 9] == 1][:, cols])[:, 1]; po = m.predict_proba(O[:, cols])[:, 1]
    pnm = m.predict_proba(N[N[:, 9] == 0][:, cols])[:, 1]
    right = N[N[:, 9] == 1][:, 10] == 1
    for target in (0.965, 0.92):
        t = np.quantile(pin, 1 - target, method="lower")
        print(f"{label:14} syn_w={syn_w:3} target {target}: off-topic declined {(po[~near] < t).mean():.2f} near {(po[near] < t).mean():.2f} synthNM {(pnm < t).mean():.2f} wrong-top answered {(pin[~right] >= t).mean():.2f} right answered {(pin[right] >= t).mean():.2f}")
