"""Where in the F1-best gap to cut: judged by split-half on valid (choose on one half, F1 on the other)."""
import sys, numpy as np
from shopgraph.matching.scorer import prf
S = np.load(sys.argv[1]); lab = sys.argv[2]
NAMES = ["abt_buy", "amazon_google", "wdc_computers", "beer", "itunes_amazon"]
def logit(p): p = np.clip(p, 1e-9, 1 - 1e-9); return np.log(p / (1 - p))
def cut(scores, labels, where):
    labels = labels.astype(bool); order = np.argsort(-scores, kind="stable"); s, y = scores[order], labels[order]
    tp = np.cumsum(y); f1 = 2 * tp / (np.arange(1, len(s) + 1) + labels.sum())
    last = np.r_[s[1:] != s[:-1], True]; f1 = np.where(last, f1, -1); k = int(np.argmax(f1))
    hi = s[k]; lo = s[k + 1] if k + 1 < len(s) else s[k] - 1e-6
    if where == "prob_mid": return (hi + lo) / 2
    if where == "logit_mid": l = (logit(hi) + logit(lo)) / 2; return 1 / (1 + np.exp(-l))
    if where == "low": return lo + 1e-9
    if where == "high": return hi - 1e-9
    if where.startswith("logit_q"):
        q = float(where[7:]); l = logit(lo) + q * (logit(hi) - logit(lo)); return 1 / (1 + np.exp(-l))
rng = np.random.default_rng(1)
RULES = ["high", "prob_mid", "logit_mid", "logit_q0.25", "low"]
res = {r: [] for r in RULES}
for name in NAMES:
    y = np.load(f"/work/tmp/i16-sup/{name}.npz")["y_valid"]; acc = {r: [] for r in RULES}
    for seed in range(3):
        s = S[f"{lab}/{name}/{seed}/valid"]; pos, neg = np.where(y == 1)[0], np.where(y == 0)[0]
        for rep in range(100):
            m = np.zeros(len(y), bool); m[rng.choice(pos, len(pos)//2, replace=False)] = True; m[rng.choice(neg, len(neg)//2, replace=False)] = True
            for hold, use in ((m, ~m), (~m, m)):
                for r in RULES: acc[r].append(prf(s[use] >= cut(s[hold], y[hold], r), y[use])["f1"])
    for r in RULES: res[r].append(np.mean(acc[r]))
for r in RULES: print(f"{r:12s}", " ".join(f"{v:.4f}" for v in res[r]), f"mean {np.mean(res[r]):.4f}")
