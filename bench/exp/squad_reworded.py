"""Experiment: SQuAD-A questions stripped of the words they copy from their answer sentence (words of the
article title kept), as extra ranker training data that looks more like readers' paraphrases.
Writes data/exp-reworded.pkl (groups like tune_ranker's), then `feat_cv.py reworded` compares."""
import os, sys, pickle, re, time
from pathlib import Path
import numpy as np
sys.path.insert(0, "bench/exp"); sys.path.insert(0, "bench"); sys.path.insert(0, ".")
os.environ["HF_HUB_OFFLINE"] = "1"
from eval_squad import build_corpus, encode_cached, hits_of, load_squad
from index.lexical import _tokenize
from index.embed import SentenceTransformerEncoder
from index.engine import Engine, EngineSettings

WORD = re.compile(r"[\w'’-]+|[^\w\s]")
engine = Engine(Path("data/eval-news"), SentenceTransformerEncoder(), EngineSettings(seeds_dir=None))
docs, questions = load_squad(Path("../shared/eval/squad-dev-a.json"))
idx, ranked = build_corpus(engine, "squad-all", docs, list(range(len(docs))))
texts = [r[0] for r in idx.query("SELECT text FROM sentences ORDER BY id")]
# the answer sentence of each question: the first sentence of its article overlapping an answer span
art_sents = {}
for sid in range(len(texts)):
    art_sents.setdefault(ranked.article_of_pos.get(int(ranked.doc_pos[sid])), []).append(sid)
out_q, keep = [], []
for qi, q in enumerate(questions):
    sids = np.array(art_sents.get(q.article, []))
    gold = sids[hits_of(ranked, q, sids)] if len(sids) else []
    if not len(gold):
        continue
    copied = set(_tokenize([texts[gold[0]]])[0]) - set(_tokenize([docs[q.article].title])[0])
    words = WORD.findall(q.text)
    kept = [w for i, w in enumerate(words) if i == 0 or not (_tokenize([w])[0] and _tokenize([w])[0][0] in copied)]
    content = [w for w in kept if _tokenize([w])[0]]
    if len(kept) == len(words) or len(content) < 2:
        continue
    out_q.append(re.sub(r"\s+([?.,!])", r"\1", " ".join(kept)))
    keep.append(qi)
print(len(keep), "reworded of", len(questions)); print("\n".join(f"{questions[i].text}  ->  {t}" for i, t in list(zip(keep, out_q))[:8]))
vectors = encode_cached(engine, Path("data/eval-news"), out_q)
groups = []
for qi, text, v in zip(keep, out_q, vectors):
    q = questions[qi]
    c = idx.candidates(v, text, idx.settings.candidates)
    groups.append({"set": "squad", "key": q.article, "X": c.features, "y": hits_of(ranked, q, c.ids), "ids": c.ids, "v": v})
Path("data/exp-reworded.pkl").write_bytes(pickle.dumps(groups))
