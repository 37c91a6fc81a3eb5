import numpy as np
from bench.attempts_i16_block3.lab import *
from bench.learned import WORK_DIR
d = load(); m = matches(d["bench"]); allm = np.vstack(list(m.values()))
z = np.load(WORK_DIR / "block3_wdc_pool200.npz"); F = z["F"]; n = len(F)
pool = z["rows"][:, 1].reshape(n, 200); p = z["p"].reshape(n, 200)
fv = np.take_along_axis(F, pool, 1); valid = fv > 0
def rep(name, sel):
    have = set((i, int(j)) for i in range(n) for j in sel[i] if j >= 0)
    c = lambda q: np.mean([(int(a), int(b)) in have for a, b in q])
    print(f"{name:44s} train={c(m['train']):.4f} valid={c(m['valid']):.4f} test={c(m['test']):.4f} all={c(allm):.4f}", flush=True)
for P in (20, 60, 100, 120, 150, 200):
    rep(f"ceiling pool {P}", np.where(valid[:, :P], pool[:, :P], -1))
def rr(P, keep, score):
    s = np.where(valid[:, :P], score[:, :P], -np.inf).copy()
    s[:, :keep] = np.inf
    o = np.argsort(-s, axis=1, kind="stable")[:, :20]
    return np.where(np.take_along_axis(s, o, 1) > -np.inf, np.take_along_axis(pool[:, :P], o, 1), -1)
for P in (60, 100, 120, 150, 200):
    for keep in (0, 5, 10):
        rep(f"rerank p pool={P} keep={keep}", rr(P, keep, p))
fn = fv / fv[:, :1]
for P in (120, 200):
    for beta in (0.25, 0.5, 1.0):
        for keep in (0, 5, 10):
            rep(f"p+{beta}*fnorm pool={P} keep={keep}", rr(P, keep, p + beta * fn))
