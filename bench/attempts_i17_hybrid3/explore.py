"""Scratch: per-group dev NDCG@10 of single channels, the lexical mode and the shipped hybrid, from
the stored dev runs (bench/.work/shipped/dev-runs.pkl)."""
import pickle, sys
import numpy as np
from bench.search_shipped import fused_ids, run_kind
from bench.search_quality import metrics
from shopgraph.config import SearchConfig
from shopgraph.search.hybrid import kind_weights, kind_fusion

runs = pickle.load(open(sys.argv[1], 'rb'))
cfg = SearchConfig()
def nd(r, ids): return metrics(ids, r.relevant)["ndcg@10"]
rows = {}
for r in runs:
    kind = run_kind(r, 0)
    w, k = kind_weights(cfg, kind); f = kind_fusion(cfg, kind)
    out = {"hybrid": nd(r, fused_ids(r, w, k, f))}
    lw = {c: v for c, v in w.items() if c in ("exact", "bm25") and v > 0} or {"exact": 1, "bm25": 1}
    out["lexical"] = nd(r, fused_ids(r, lw, k, f))
    for c in r.rankings:
        out[c] = nd(r, fused_ids(r, {c: 1.0}, 60.0))
    rows.setdefault((r.group, kind), []).append(out)
for key, v in sorted(rows.items()):
    cols = sorted({c for o in v for c in o})
    print(key, len(v), " ".join(f"{c}={np.mean([o.get(c, 0) for o in v]):.3f}" for c in cols))
