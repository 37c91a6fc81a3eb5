import pickle, sys, numpy as np
from bench.learned import WORK_DIR
from bench.ready_scorer import without_context
from shopgraph.ingest.attributes import parse_value
from shopgraph.matching import text_signals as ts
from shopgraph.matching.features import FEATURE_NAMES
from shopgraph.matching.scorer import PairScorer, ScorerConfig, prf

D = pickle.load(open(WORK_DIR / "exp_data.pkl", "rb"))
F = len(FEATURE_NAMES)
def measures(view):
    out = {}
    for v in view.values.values():
        if v.kind in ("number", "duration") and v.unit and v.number:
            out.setdefault(v.unit, set()).add(v.number)
        elif v.kind == "text":
            for q in ts.quantities(v.norm):
                p = parse_value(q)
                if p.base_unit and p.base_number:
                    out.setdefault(p.base_unit, set()).add(p.base_number)
    return out
rel = lambda x, y: abs(x - y) / max(abs(x), abs(y))
def feats(ma, mb):
    shared = ma.keys() & mb.keys()
    if not shared:
        return [0.0, np.nan, np.nan, np.nan]
    worst = [max(min(rel(x, y) for y in other[u]) for u in shared for x in own[u]) for own, other in ((ma, mb), (mb, ma))]
    return [float(len(shared)), min(worst), max(worst), min(rel(x, y) for u in shared for x in ma[u] for y in mb[u])]
X = {}
for name, d in D.items():
    f = d["featurizer"]
    L = [measures(r) for r in f.left.records]; R = [measures(r) for r in f.right.records]
    X[name] = {s: np.hstack([d["features"][s], np.array([feats(L[i], R[j]) for i, j in p.rows], dtype=np.float32)])
               for s, p in d["bench"].splits.items()}
NEW = ["measure_units_shared", "measure_diff_low", "measure_diff_high", "measure_diff_best"]
VARIANTS = {"base": [], "all": [0, 1, 2, 3], "low,best": [1, 3], "shared,low,best": [0, 1, 3], "low": [1]}
SEEDS = (0, 1, 2)
for vname, keep in VARIANTS.items():
    cols = list(range(F)) + [F + k for k in keep]
    names = FEATURE_NAMES + tuple(NEW[k] for k in keep)
    sup = {n: [] for n in D}; lodo = {n: [] for n in D}; lodo_t = {n: [] for n in D}
    for seed in SEEDS:
        cfg = ScorerConfig(seed=seed)
        for n, d in D.items():
            s = d["bench"].splits
            sc = PairScorer(cfg, feature_names=names).fit(X[n]["train"][:, cols], s["train"].labels, X[n]["valid"][:, cols], s["valid"].labels)
            sup[n].append(sc.metrics["valid_f1"])
        for held in D:
            others = sorted(n for n in D if n != held)
            parts = []
            for n in others:
                a = X[n]["train"].copy(); a[:, :F] = without_context(a[:, :F]); parts.append(a[:, cols])
            sc = PairScorer(cfg, feature_names=names).fit(np.vstack(parts), np.concatenate([D[n]["bench"].splits["train"].labels for n in others]),
                np.vstack([X[n]["valid"][:, cols] for n in others]), np.concatenate([D[n]["bench"].splits["valid"].labels for n in others]))
            lodo[held].append(prf(sc.predict(X[held]["valid"][:, cols]) >= sc.threshold, D[held]["bench"].splits["valid"].labels)["f1"])
            lodo_t[held].append(prf(sc.predict(X[held]["test"][:, cols]) >= sc.threshold, D[held]["bench"].splits["test"].labels)["f1"])
    r = lambda dd: {n: round(float(np.mean(v)), 3) for n, v in dd.items()}
    print(vname, "SUP valid", r(sup), "| LODO valid", r(lodo), "mean", round(np.mean([np.mean(v) for v in lodo.values()]), 3), "| LODO test", r(lodo_t), flush=True)
