"""Scratch (issue 16 blocking): fused blocking from the pickled dense similarities, and the ranks of
true matches in each channel."""
import pickle
import numpy as np
from bench.learned import WORK_DIR
RRF_K = 10

def load(name="wdc_computers"):
    with open(WORK_DIR / f"block3_{name}.pkl", "rb") as fh:
        return pickle.load(fh)

def ranks_dense(s):
    """rank (0 = best) of every column in each row; stable by column order like argsort."""
    order = np.argsort(-s, axis=1, kind="stable")
    r = np.empty_like(order)
    np.put_along_axis(r, order, np.arange(s.shape[1])[None, :].repeat(len(s), 0), axis=1)
    return r

def channel_ranks(sims):
    out = {}
    for c, s in sims.items():
        rl = ranks_dense(s).astype(np.float32); rl[s <= 0] = np.inf
        rr = ranks_dense(s.T).T.astype(np.float32); rr[s <= 0] = np.inf
        out[c] = (rl, rr)
    return out

def fused(cr, depth=100, weights=None):
    F = 0
    for c, (rl, rr) in cr.items():
        w = 1.0 if weights is None else weights.get(c, 1.0)
        for r in (rl, rr):
            F = F + w * np.where(r < depth, 1.0 / (RRF_K + r + 1), 0.0)
    return F

def topk(F, k):
    order = np.argsort(-F, axis=1, kind="stable")[:, :k]
    ok = np.take_along_axis(F, order, axis=1) > 0
    return order, ok

def completeness(sel, ok, pairs):
    have = set()
    for i in range(len(sel)):
        for j in sel[i][ok[i]]:
            have.add((i, int(j)))
    return np.mean([(int(a), int(b)) in have for a, b in pairs])

def matches(bench):
    sp = bench.splits
    return {s: sp[s].rows[sp[s].labels == 1] for s in ("train", "valid", "test")}
