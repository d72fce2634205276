"""CV the LambdaMART ranker with extra text features of each candidate (answer-type rarity and proximity,
new words) and with other GBM parameters. Same folds as tune_ranker; groups from adapter.py's cache."""
import json, pickle, re, sqlite3, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, "bench/exp"); sys.path.insert(0, "bench"); sys.path.insert(0, ".")
from adapter import groups, ROOT
import tune_ranker as tr
from index.search import FEATURES
from index import answertypes as at
from index.lexical import _STEMMER, _STOPWORDS

_STOP = set(_STOPWORDS)
_CACHE = {}


def stem(w):
    w = w.lower().strip(".'’-")
    return "" if not w or w in _STOP else _STEMMER.stemWord(w)


def sent_info(name, i, text):
    key = (name, i)
    if key not in _CACHE:
        words = [(m.start(), m.end(), stem(m.group(0))) for m in _WORD.finditer(text)]
        _CACHE[key] = (words, {k: spans(k, text) for k in at.TYPES})
    return _CACHE[key]

H = FEATURES.index("heading")
TM = FEATURES.index("type_match")
TEXTS = ROOT / "data" / "exp-texts.pkl"


def corpus_texts(name):
    d = ROOT / "data/eval-news/corpora" / name
    db = sqlite3.connect(d / (d / "CURRENT").read_text().strip() / "docs.sqlite")
    return [r[0] for r in db.execute("SELECT text FROM sentences ORDER BY id")]


def texts():
    if TEXTS.exists():
        return pickle.loads(TEXTS.read_bytes())
    from eval_news import read_jsonl
    from eval_squad import load_squad
    news_q = [q["question"] for q in read_jsonl(ROOT.parent / "shared/eval/news-dev/questions.jsonl")]
    _, squad = load_squad(ROOT.parent / "shared/eval/squad-dev-a.json")
    out = {"news": (news_q, corpus_texts("news-dev")), "squad": ([q.text for q in squad], corpus_texts("squad-all"))}
    TEXTS.write_bytes(pickle.dumps(out))
    return out


def spans(kind, text):
    if kind == "person":
        return [m.span() for m in at._PERSON.finditer(text) if m.group(0).split()[0] not in at._NOT_NAME]
    return [m.span() for m in at._SENTENCE[kind].finditer(text)]


_WORD = re.compile(r"[A-Za-z0-9][\w'’.-]*")


def extra(g, q, sents, which, name):
    kinds = at.question_types(q)
    ids = g["ids"]
    n = len(ids)
    cols = []
    tm = g["X"][:, TM]
    if "share" in which:
        share = float((tm > 0).mean()) if kinds else 1.0
        cols += [np.full(n, share), tm * (1 - share)]
    if "kind" in which:
        cols.append(np.full(n, at.TYPES.index(kinds[0]) if kinds else -1, dtype=np.float32))
    qterms = {stem(m.group(0)) for m in _WORD.finditer(q)} - {""}
    if "near" in which or "novel" in which:
        near, novel = np.zeros(n), np.zeros(n)
        for r, i in enumerate(ids):
            words, kspans = sent_info(name, i, sents[i])
            hits = [(a, b) for a, b, w in words if w and w in qterms]
            content = [w for _, _, w in words if w]
            novel[r] = sum(w not in qterms for w in content) / max(len(content), 1)
            if kinds and hits:
                best = 999
                for k in kinds:
                    for a, b in kspans[k]:
                        # a value that is itself a question word is not an answer
                        if any(ha <= a < hb for ha, hb in hits):
                            continue
                        for ha, hb in hits:
                            best = min(best, max(a - hb, ha - b, 0))
                near[r] = 1.0 / (1.0 + best / 10.0) if best < 999 else 0.0
        if "near" in which:
            cols.append(near)
        if "novel" in which:
            cols.append(novel)
    return np.stack(cols, 1).astype(np.float32) if cols else np.zeros((n, 0), np.float32)


STRONG = {("age",), ("date",), ("percent",), ("money",), ("score",), ("duration", "date")}
PROMOTE = 0  # promote the first of the top PROMOTE candidates holding a strongly asked type (0: off)


def promote(scores, g):
    """Reorder one group's scores: the best candidate holding the asked type goes first when the top lacks it."""
    if not PROMOTE or g["kinds"] not in STRONG:
        return scores
    order = np.argsort(-scores, kind="stable")[:PROMOTE]
    has = [any(g["types"][j][k] for k in g["kinds"]) for j in order]
    if has[0] or not any(has):
        return scores
    j = order[has.index(True)]
    out = scores.copy()
    out[j] = scores.max() + 1
    return out


def evaluate(groups, model):
    return tr.evaluate_gbm(groups, model, rerank=promote)


def run(which, params=None, news_weight=3.0):
    G = groups(); T = texts()
    sets = {}
    for name in ("news", "squad"):
        qs, sents = T[name]
        out = []
        for g, q in zip(G[name], qs):
            X = np.concatenate([g["X"], extra(g, q, sents, which, name)], 1)
            keep = X[:, H] == 0
            cols = tr.GBM_FEATURES + list(range(len(FEATURES), X.shape[1]))
            kinds = at.question_types(q)
            types = [dict(zip(at.TYPES, at.sentence_types(sents[i]))) for i in g["ids"][keep]] if PROMOTE and kinds in STRONG else None
            out.append({"set": name, "key": g["key"], "G": X[keep][:, cols], "y": g["y"][keep], "kinds": kinds,
                        "types": types, "weight": news_weight if name == "news" else 1.0})
        sets[name] = out
    news, squad = sets["news"], sets["squad"]
    saved = dict(tr.GBM_PARAMS)
    tr.GBM_PARAMS.update(params or {})
    try:
        pages = sorted({g["key"] for g in news})
        rng = np.random.default_rng(7); rng.shuffle(pages)
        folds = [set(pages[i::5]) for i in range(5)]
        rows = []
        for fold in folds:
            m = tr.fit_gbm(squad + [g for g in news if g["key"] not in fold])
            rows.append(evaluate([g for g in news if g["key"] in fold], m))
        h = {k: sum(r[k] * r["n"] for r in rows) / len(news) for k in ("hit1", "hit3")}
        even = [g for g in squad if g["key"] % 2 == 0]; odd = [g for g in squad if g["key"] % 2 == 1]
        a, b = evaluate(odd, tr.fit_gbm(even + news)), evaluate(even, tr.fit_gbm(odd + news))
        sq = (a["hit1"] * a["n"] + b["hit1"] * b["n"]) / len(squad)
    finally:
        tr.GBM_PARAMS.clear(); tr.GBM_PARAMS.update(saved)
    return h["hit1"], h["hit3"], sq


if __name__ == "__main__":
    for spec in sys.argv[1:]:
        spec, _, pr = spec.partition("@")
        PROMOTE = int(pr or 0)
        feats, _, p = spec.partition(":")
        params = json.loads(p) if p else None
        t = time.time()
        which = () if feats == "none" else tuple(feats.split("+"))
        h1, h3, sq = run(which, params)
        label = f'{spec}@{PROMOTE}'
        print(f"{label:40} news CV hit@1 {h1:.3f} hit@3 {h3:.3f} | squad CV P@1 {sq:.3f} | {time.time()-t:.0f}s", flush=True)
