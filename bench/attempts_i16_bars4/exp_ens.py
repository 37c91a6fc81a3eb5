import pickle, numpy as np
from bench.learned import WORK_DIR
from shopgraph.matching.ready import ready_scorer
from shopgraph.matching.scorer import PairScorer, best_f1_threshold, prf

D = pickle.load(open(WORK_DIR / "exp_data.pkl", "rb"))
base = ready_scorer()
logit = lambda p: np.log(np.clip(p, 1e-9, 1 - 1e-9) / np.clip(1 - p, 1e-9, 1))
for name, d in D.items():
    x, s = d["features"], d["bench"].splits
    fresh = PairScorer().fit(x["train"], s["train"].labels, x["valid"], s["valid"].labels)
    tuned = PairScorer().fit(x["train"], s["train"].labels, x["valid"], s["valid"].labels, init=base)
    row = {}
    pv = {k: m.predict(x["valid"]) for k, m in (("fresh", fresh), ("tuned", tuned))}
    pt = {k: m.predict(x["test"]) for k, m in (("fresh", fresh), ("tuned", tuned))}
    pv["meanp"] = (pv["fresh"] + pv["tuned"]) / 2; pt["meanp"] = (pt["fresh"] + pt["tuned"]) / 2
    pv["meanl"] = (logit(pv["fresh"]) + logit(pv["tuned"])) / 2; pt["meanl"] = (logit(pt["fresh"]) + logit(pt["tuned"])) / 2
    for k in pv:
        t, f = best_f1_threshold(pv[k], s["valid"].labels)
        row[k] = (round(f, 3), round(prf(pt[k] >= t, s["test"].labels)["f1"], 3))
    print(name, "valid/test", row, flush=True)
