"""Held-out: how often is the best sentence right when it lacks the kind of value the question strongly asks for
(age, date, money, percent, score)? news-dev by page folds, SQuAD-A by article halves (as tune_ranker)."""
import sys, re, collections
sys.path.insert(0, "bench/exp"); sys.path.insert(0, "bench"); sys.path.insert(0, ".")
import numpy as np
import text_cv as t
import tune_ranker as tr
from index import answertypes as at

MONEY_Q = re.compile(r"\bhow much\b(?:\s+[\w'’-]+){0,8}?\s+(?:cost|costs|pay|paid|raise|raised|earn|earned|make|made|"
                     r"spend|spent|fined?|charge[sd]?|worth|price[sd]?|sell|sold|bid|offer(?:ed)?|owe[sd]?|money|dollars)\b"
                     r"|\bhow much money\b", re.I)
FRACTION = re.compile(r"\b(?:half|a third|one-third|two-thirds|a quarter|one-quarter|three-quarters|one in \w+|"
                      r"majority|minority)\b", re.I)

def kinds_of(q):
    k = at.question_types(q)
    if k == ("money", "percent", "count", "quantity") and MONEY_Q.search(q):
        return ("money",)
    return k

STRONG = {("age",), ("date",), ("percent",), ("money",), ("score",)}

def lacks(kinds, text):
    st = dict(zip(at.TYPES, at.sentence_types(text)))
    if "percent" in kinds and FRACTION.search(text):
        return False
    return not any(st[k] for k in kinds)


def held_out_tops():
    """(set, group, index of the held-out ranker's best candidate) per question, and the sentence texts."""
    G = t.groups(); T = t.texts()
    H = t.H
    def prep(name):
        qs, sents = T[name]
        out = []
        for g, q in zip(G[name], qs):
            keep = g["X"][:, H] == 0
            out.append({"set": name, "key": g["key"], "G": g["X"][keep][:, tr.GBM_FEATURES], "y": g["y"][keep],
                        "ids": g["ids"][keep], "q": q, "weight": 3.0 if name == "news" else 1.0})
        return out, sents
    news, nsents = prep("news"); squad, ssents = prep("squad")
    pages = sorted({g["key"] for g in news}); rng = np.random.default_rng(7); rng.shuffle(pages)
    folds = [set(pages[i::5]) for i in range(5)]
    def tops(groups, model):
        sc = model.predict(np.concatenate([g["G"] for g in groups]))
        out = []
        for g, s in zip(groups, np.split(sc, np.cumsum([len(g["y"]) for g in groups])[:-1])):
            j = int(np.argmax(s)) if len(s) else None
            out.append((g, j))
        return out
    res = []
    for fold in folds:
        m = tr.fit_gbm(squad + [g for g in news if g["key"] not in fold])
        res += [("news", g, j) for g, j in tops([g for g in news if g["key"] in fold], m)]
    even = [g for g in squad if g["key"] % 2 == 0]; odd = [g for g in squad if g["key"] % 2 == 1]
    res += [("squad", g, j) for g, j in tops(odd, tr.fit_gbm(even + news))]
    res += [("squad", g, j) for g, j in tops(even, tr.fit_gbm(odd + news))]
    return res, nsents, ssents


if __name__ == "__main__":
    res, nsents, ssents = held_out_tops()
    c = collections.Counter()
    for name, g, j in res:
        if j is None: continue
        k = kinds_of(g["q"])
        if k not in STRONG: 
            c[(name, "not strong")] += 1; continue
        text = (nsents if name == "news" else ssents)[g["ids"][j]]
        right = bool(g["y"][j])
        c[(name, k[0], "lacks" if lacks(k, text) else "has", "right" if right else "wrong")] += 1
    for key in sorted(c): print(key, c[key])
    # near misses
    import json
    for l in open("../shared/eval/news-dev/oos.jsonl"):
        q = json.loads(l)["question"]; print(kinds_of(q), q)

