import numpy as np
from bench.attempts_i16_block3.lab import *
from bench.learned import WORK_DIR
d = load(); m = matches(d["bench"]); allm = np.vstack(list(m.values())); f = d["featurizer"]
print({s: len(v) for s, v in m.items()})
z = np.load(WORK_DIR / "block3_wdc_pool200.npz"); F = z["F"]; n = len(F)
pool = z["rows"][:, 1].reshape(n, 200); p = z["p"].reshape(n, 200)
fv = np.take_along_axis(F, pool, 1); valid = fv > 0; fn = fv / fv[:, :1]
def miss(sel, q):
    have = set((i, int(j)) for i in range(n) for j in sel[i] if j >= 0)
    return [(int(a), int(b)) for a, b in q if (int(a), int(b)) not in have]
def rr(P, keep, score):
    s = np.where(valid[:, :P], score[:, :P], -np.inf).copy(); s[:, :keep] = np.inf
    o = np.argsort(-s, axis=1, kind="stable")[:, :20]
    return np.where(np.take_along_axis(s, o, 1) > -np.inf, np.take_along_axis(pool[:, :P], o, 1), -1)
tv = np.vstack([m["train"], m["valid"]])
res = []
for P in (60, 80, 100, 120, 150, 200):
    for keep in (5, 10, 14):
        for beta in (0, 0.25, 0.5, 1.0, 2.0):
            sel = rr(P, keep, p + beta * fn)
            res.append((len(miss(sel, tv)), len(miss(sel, m["train"])), len(miss(sel, m["valid"])), P, keep, beta))
res.sort()
for r in res[:15]: print("train+valid misses %d (train %d valid %d)  pool %d keep %d beta %.2f" % r)
print([r for r in res if r[3:] == (60, 10, 0)])
# conflicts of the missed labelled pairs (shipped rerank)
sel = rr(60, 10, p)
ms = miss(sel, tv)
conf = f.conflicts(np.array(ms))
print(sum(1 for c in conf if c), "of", len(ms), "missed train+valid matches have a conflict")
for (a, b), c in list(zip(ms, conf))[:60]:
    if c: print(" ", c, "|", d["left"].titles[a][:60], "|", d["right"].titles[b][:60])
