"""LODO + supervised(fresh) from pickled features, with the bench code on PYTHONPATH."""
import pickle, sys, numpy as np
from types import SimpleNamespace as NS
from bench.ready_scorer import leave_one_out
from shopgraph.matching.scorer import PairScorer, prf
d = pickle.load(open(sys.argv[1], "rb"))
only = sys.argv[2].split(",") if len(sys.argv) > 2 else None
ds = {n: {"features": v["features"], "bench": NS(splits={s: NS(labels=l) for s, l in v["labels"].items()})} for n, v in d.items()}
rows = leave_one_out(ds) if not only else []
print("LODO", {r["dataset"]: (r["f1"], r["valid F1"]) for r in rows})
for n in (only or ds):
    x, y = ds[n]["features"], d[n]["labels"]
    sc = PairScorer().fit(x["train"], y["train"], x["valid"], y["valid"])
    print("fresh", n, round(prf(sc.predict(x["test"]) >= sc.threshold, y["test"])["f1"], 4), round(sc.metrics["valid_f1"], 4), flush=True)
