import numpy as np, time
from bench.attempts_i16_block3.lab import *
d = load(); f = d["featurizer"]; m = matches(d["bench"])
cr = channel_ranks(d["sims"])
F = fused(cr)
allm = np.vstack(list(m.values()))
def rep(name, sel):
    have = set((i, int(j)) for i in range(len(sel)) for j in sel[i] if j >= 0)
    c = lambda p: np.mean([(int(a), int(b)) in have for a, b in p])
    print(f"{name:50s} train={c(m['train']):.4f} valid={c(m['valid']):.4f} test={c(m['test']):.4f} all={c(allm):.4f}", flush=True)
def rr(c):
    lm, rm = f.channel(c); s = rm @ rm.T
    s = s.toarray() if hasattr(s, "toarray") else np.asarray(s)
    return s.astype(np.float32)
pool = np.argsort(-F, axis=1, kind="stable")[:, :200]
def mmr(S, lam, keep, k=20, depth=200, mode="max"):
    out = np.full((len(F), k), -1)
    for i in range(len(F)):
        cand = pool[i, :depth]; cand = cand[F[i, cand] > 0]
        fv = F[i, cand] / F[i, cand[0]] if len(cand) else F[i, cand]
        chosen = list(range(min(keep, len(cand))))
        red = S[cand[chosen]][:, cand].max(axis=0) if chosen else np.zeros(len(cand))
        avail = np.ones(len(cand), bool); avail[chosen] = False
        while len(chosen) < min(k, len(cand)):
            sc = fv - lam * red; sc[~avail] = -np.inf
            b = int(np.argmax(sc)); chosen.append(b); avail[b] = False
            red = np.maximum(red, S[cand[b], cand])
        out[i, :len(chosen)] = cand[chosen]
    return out
rep("fused", pool[:, :20])
for c in ("char", "text", "word"):
    S = rr(c)
    for keep in (5, 10):
        for lam in (0.25, 0.5, 1.0):
            rep(f"mmr {c} keep={keep} lam={lam}", mmr(S, lam, keep))
