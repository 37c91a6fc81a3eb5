import numpy as np, time
from bench.attempts_i16_block3.lab import *
d = load(); f = d["featurizer"]; m = matches(d["bench"])
cr = channel_ranks(d["sims"])
F = fused(cr)
allm = np.vstack(list(m.values()))
def report(name, S, keep=None, k=20):
    if keep is None:
        sel, ok = topk(S, k)
    else:
        top0, ok0 = topk(F, keep)
        S2 = S.copy(); np.put_along_axis(S2, top0, np.inf, axis=1)
        sel, ok = topk(S2, k)
        ok = ok | (np.take_along_axis(F, sel, 1) > 0)
    print(f"{name:50s}", " ".join(f"{s}={completeness(sel, ok, p):.4f}" for s, p in [("train", m["train"]), ("valid", m["valid"]), ("all", allm)]), flush=True)
report("fused", F)
# right-right fused similarity (self excluded)
t = time.perf_counter()
G = 0
for c in d["sims"]:
    lm, rm = f.channel(c)
    s = rm @ rm.T
    s = s.toarray() if hasattr(s, "toarray") else np.asarray(s)
    np.fill_diagonal(s, 0)
    r = ranks_dense(s).astype(np.float32); r[s <= 0] = np.inf
    G = G + np.where(r < 100, 1.0 / (RRF_K + r + 1), 0.0)
G = (G + G.T) / 2
print("G", time.perf_counter() - t)
for mtop in (1, 3, 5):
    topF, _ = topk(F, mtop)
    W = np.zeros_like(F); np.put_along_axis(W, topF, np.take_along_axis(F, topF, 1), 1)
    E = W @ G
    for alpha in (0.5, 1.0, 2.0):
        for keep in (None, 10, 14):
            report(f"RR m={mtop} a={alpha} keep={keep}", F + alpha * E, keep)
