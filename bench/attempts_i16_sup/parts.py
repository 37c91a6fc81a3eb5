"""Valid F1 of fresh / fine-tuned / joined (fit_scorer's parts), 3 seeds, features from DIR."""
import sys, numpy as np
from dataclasses import replace
from shopgraph.matching.pipeline import TRAIN_CONFIG
from shopgraph.matching.ready import ready_scorer
from shopgraph.matching.scorer import PairScorer
NAMES = ["abt_buy", "amazon_google", "wdc_computers", "beer", "itunes_amazon"]
base = ready_scorer(); d = sys.argv[1]
res = {"fresh": [], "tuned": [], "joined": []}
for name in NAMES:
    z = np.load(f"{d}/{name}.npz"); acc = {k: [] for k in res}
    for seed in range(3):
        c = replace(TRAIN_CONFIG, seed=seed)
        f = PairScorer(c).fit(z["x_train"], z["y_train"], z["x_valid"], z["y_valid"])
        t = PairScorer(c).fit(z["x_train"], z["y_train"], z["x_valid"], z["y_valid"], init=base)
        j = PairScorer.averaged([f, t], z["x_valid"], z["y_valid"])
        for k, s in (("fresh", f), ("tuned", t), ("joined", j)): acc[k].append(s.metrics["valid_f1"])
    for k in res: res[k].append(np.mean(acc[k]))
for k, v in res.items(): print(k, " ".join(f"{x:.4f}" for x in v), f"mean {np.mean(v):.4f}")
