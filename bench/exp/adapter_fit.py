import sys, time
import numpy as np, torch
sys.path.insert(0, "bench/exp"); sys.path.insert(0, "bench"); sys.path.insert(0, ".")
from adapter import groups
from index.search import FEATURES
H = FEATURES.index("heading")
torch.set_num_threads(1)
G = groups()
def prep(gs):
    out = []
    for g in gs:
        keep = g["X"][:, H] == 0
        out.append(dict(key=g["key"], y=g["y"][keep], E=g["E"][keep], C=g["C"][keep], v=g["v"].astype(np.float32)))
    return out
news, squad = prep(G["news"]), prep(G["squad"])

def hits(gs, D=None, mix=(1.0, 0.0)):
    h1 = h3 = 0
    for g in gs:
        if not len(g["y"]): continue
        q = g["v"] if D is None else g["v"] + D @ g["v"]
        q = q / np.linalg.norm(q)
        s = mix[0] * (g["E"] @ q) + mix[1] * (g["C"] @ q)
        o = np.argsort(-s, kind="stable")
        h1 += g["y"][o[0]]; h3 += g["y"][o[:3]].any()
    return round(h1 / len(gs), 3), round(h3 / len(gs), 3)

def fit(gs, l2=1e-3, epochs=15, lr=3e-3, tau=0.05, ctx=True):
    gs = [g for g in gs if g["y"].any()]
    D = torch.zeros(384, 384, requires_grad=True)
    mix = torch.tensor([1.0, 1.0 if ctx else 0.0], requires_grad=ctx)
    params = [D] + ([mix] if ctx else [])
    opt = torch.optim.Adam(params, lr=lr)
    rng = np.random.default_rng(0)
    T = [(torch.from_numpy(g["v"]), torch.from_numpy(g["E"]), torch.from_numpy(g["C"]), torch.from_numpy(g["y"])) for g in gs]
    for ep in range(epochs):
        order = rng.permutation(len(T)); tot = 0
        for b in range(0, len(order), 64):
            loss = 0
            for i in order[b:b+64]:
                v, E, C, y = T[i]
                q = v + D @ v; q = q / q.norm()
                s = (mix[0] * (E @ q) + mix[1] * (C @ q)) / tau
                lp = torch.log_softmax(s, 0)
                loss = loss - torch.logsumexp(lp[y], 0)
            loss = loss / len(order[b:b+64]) + l2 * (D ** 2).sum()
            opt.zero_grad(); loss.backward(); opt.step(); tot += float(loss)
    return D.detach().numpy(), tuple(mix.detach().numpy().tolist())

print("raw  sent: news", hits(news), "squad", hits(squad))
print("raw  ctx : news", hits(news, mix=(0, 1)), "squad", hits(squad, mix=(0, 1)))
print("raw  both: news", hits(news, mix=(1, 1)), "squad", hits(squad, mix=(1, 1)))
even = [g for g in squad if g["key"] % 2 == 0]; odd = [g for g in squad if g["key"] % 2 == 1]
for l2 in [float(a) for a in sys.argv[1:]] or [1e-3]:
    t = time.time()
    De, me = fit(even, l2=l2); Do, mo = fit(odd, l2=l2)
    sq = [(hits(odd, De, me)[0] * len(odd) + hits(even, Do, mo)[0] * len(even)) / len(squad)]
    Dall, mall = fit(squad, l2=l2)
    print(f"l2={l2} mix={mall} squad CV hit1 {sq[0]:.3f} | news (adapter from all SQuAD) sent {hits(news, Dall)} both {hits(news, Dall, mall)} | {time.time()-t:.0f}s", flush=True)
    np.save(f"data/exp-adapter-{l2}.npy", Dall)
