"""Scratch: (1) model_number kind: a small zscore grid scored with the bench's lexical mode among the
singles; (2) text / image kinds: learned weight x learned_agreement with the bootstrap guard. Dev only."""
import itertools, pickle, sys, time
import numpy as np
from bench.search_shipped import fused_ids, run_kind
from bench.search_quality import metrics

runs = pickle.load(open(sys.argv[1], "rb"))["dev"]
part = sys.argv[2]

def nd(r, ids): return metrics(ids, r.relevant)["ndcg@10"]

def per_group(mine, f):
    out = {}
    for r in mine:
        out.setdefault(r.group, []).append(nd(r, f(r)))
    return out

def lower(a, b, n=2000):
    d = np.asarray(a) - np.asarray(b)
    if not np.any(d): return 0.0
    rng = np.random.default_rng(0)
    return float(np.percentile(d[rng.integers(0, len(d), (n, len(d)))].mean(axis=1), 2.5))

if part == "mn":
    mine = [r for r in runs if run_kind(r, 0) == "model_number" and r.group.endswith("/before")]
    singles = {c: per_group(mine, lambda r, c=c: fused_ids(r, {c: 1.0}, 60.0)) for c in ("exact", "bm25", "vector")}
    lexcache = {}
    res = []
    t = time.time()
    for e, b, v in itertools.product((0.5, 1, 2, 4), (0.25, 0.5, 1, 2), (0, 0.25, 0.5, 1)):
        w = {"exact": e, "bm25": b, "vector": v}
        lex = lexcache.setdefault((e, b), per_group(mine, lambda r: fused_ids(r, {"exact": e, "bm25": b}, 20.0, "zscore", 20.0)))
        hyb = per_group(mine, lambda r: fused_ids(r, w, 20.0, "zscore", 20.0))
        obj, obj_old, detail = [], [], {}
        for g in hyb:
            h = np.mean(hyb[g]); best = max(max(np.mean(s[g]) for s in singles.values()), np.mean(lex[g]))
            best_old = max(np.mean(s[g]) for s in singles.values())
            obj.append(h - 2 * max(0, best - h)); obj_old.append(h - 2 * max(0, best_old - h))
            detail[g.split("/")[0][6:14]] = (round(h, 4), round(float(np.mean(lex[g])), 4))
        res.append((np.mean(obj), np.mean(obj_old), w, detail))
    print("time", time.time() - t)
    for o, oo, w, d in sorted(res, key=lambda x: -x[0])[:12]:
        print(f"new {o:.4f} old {oo:.4f}", w, d)
    print("old objective's best:")
    for o, oo, w, d in sorted(res, key=lambda x: -x[1])[:3]:
        print(f"new {o:.4f} old {oo:.4f}", w, d)
else:
    kind = part
    base = {"text": {"bm25": 1, "vector": 2}, "image": {"image": 1}}[kind]
    mine = [r for r in runs if run_kind(r, 0) == kind]
    before = per_group([r for r in mine if r.group.endswith("/before")], lambda r: fused_ids(r, base, 20.0 if kind == "text" else 60.0))
    k = 20.0 if kind == "text" else 60.0
    for lw in (0, 0.25, 0.5, 1, 2, 4):
        for a in (0, 1, 3, 5, 10):
            w = {**base, "learned": lw}
            after = per_group([r for r in mine if r.group.endswith("/after")], lambda r: fused_ids(r, w, k, "rrf", None, a))
            out = []
            for g in after:
                b = before[g.replace("/after", "/before")]
                out.append(f"{g.split('/')[0]} {np.mean(b):.4f}->{np.mean(after[g]):.4f} lo {lower(after[g], b):+.4f}")
            print(lw, a, " | ".join(out), flush=True)
