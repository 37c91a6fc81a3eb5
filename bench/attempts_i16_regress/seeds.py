"""Spread over the trees' seed (ScorerConfig.seed; the bench uses 0), from pickled features: the
leave-one-out held-out test F1 and the supervised test F1 of pipeline.fit_scorer (fresh + fine-tuned
from the shipped ready scorer, averaged), as bench.matching computes them."""
import pickle, sys
from types import SimpleNamespace as NS
import bench.ready_scorer as rs
import shopgraph.matching.scorer as m
from shopgraph.matching.pipeline import fit_scorer
from shopgraph.matching.ready import ready_scorer
d = pickle.load(open(sys.argv[1], "rb"))
seeds = [int(s) for s in sys.argv[2].split(",")]
ds = {n: {"features": v["features"], "bench": NS(splits={s: NS(labels=l) for s, l in v["labels"].items()})} for n, v in d.items()}
base, Plain = ready_scorer(), m.PairScorer
print("base", base.version, flush=True)
for seed in seeds:
    cfg = m.ScorerConfig(seed=seed)
    class Seeded(Plain):
        def __init__(self, config=None, **k):
            super().__init__(cfg, **k)
    m.PairScorer = Seeded
    out = {"lodo_" + r["dataset"]: r["f1"] for r in rs.leave_one_out(ds)}
    m.PairScorer = Plain
    for n in ds:
        x, y = ds[n]["features"], d[n]["labels"]
        s = fit_scorer(x["train"], y["train"], x["valid"], y["valid"], base, cfg)
        out["sup_" + n] = round(m.prf(s.predict(x["test"]) >= s.threshold, y["test"])["f1"], 4)
    print("seed", seed, out, flush=True)
