"""Scratch: a linear combiner over per-channel candidate features, trained by pairwise logistic loss on
dev runs, leave-one-suite-out; prints per-group dev NDCG@10 (out of fold) against the shipped fusion."""
import pickle, sys, itertools
import numpy as np
from sklearn.linear_model import LogisticRegression
from bench.search_shipped import fused_ids, run_kind
from bench.search_quality import metrics
from shopgraph.config import SearchConfig
from shopgraph.search.hybrid import kind_weights, kind_fusion

CH = ("exact", "bm25", "vector", "learned")
TOP = 20

def channel_stats(ids, scores):
    first = {}
    for i, s in zip(ids, scores):
        first.setdefault(i, float(s))
    head = list(first.values())[:TOP]
    mean = np.mean(head); sd = np.std(head); floor = min(head)
    z = {i: ((max(s, floor) - floor) / sd if sd > 0 else 0.0) for i, s in first.items()}
    rank = {i: r for r, i in enumerate(first, 1)}
    vals = sorted(z.values(), reverse=True)
    sharp = min(vals[0] - vals[1], 5.0) if len(vals) > 1 else 0.0
    return rank, z, sharp, head[0]

def names():
    out = []
    for c in CH:
        out += [f"{c}.rank", f"{c}.z", f"{c}.rank_sharp", f"{c}.rank_long"]
        if c in ("vector", "learned"):
            out += [f"{c}.rank_top"]
    return out
NAMES = names()

def features(run, depth=100):
    scores = run.scores or {}
    words = len((run.text or "").split())
    stats = {c: channel_stats(run.rankings[c][:depth], scores[c][:depth]) for c in CH if c in run.rankings and run.rankings[c]}
    ids = []
    for c in stats:
        for i in stats[c][0]:
            if i not in ids: ids.append(i)
    X = np.zeros((len(ids), len(NAMES)))
    col = {n: j for j, n in enumerate(NAMES)}
    for c, (rank, z, sharp, top) in stats.items():
        for a, i in enumerate(ids):
            if i in rank:
                rr = 20.0 / (20.0 + rank[i])
                X[a, col[f"{c}.rank"]] = rr
                X[a, col[f"{c}.z"]] = z[i]
                X[a, col[f"{c}.rank_sharp"]] = rr * sharp
                X[a, col[f"{c}.rank_long"]] = rr * min(words, 20) / 20
                if f"{c}.rank_top" in col:
                    X[a, col[f"{c}.rank_top"]] = rr * top
    return ids, X

def ranked(run, ids, X, w):
    s = X @ w
    order = sorted(range(len(ids)), key=lambda a: (-s[a], ids[a]))
    out = [ids[a] for a in order]
    return [i for i in out if i in run.first] + [i for i in out if i not in run.first]

def pairs(run, ids, X, maxneg=30):
    rel = [a for a, i in enumerate(ids) if run.relevant.get(i, 0) > 0]
    non = [a for a, i in enumerate(ids) if run.relevant.get(i, 0) == 0]
    # hardest negatives: those any channel ranks high
    non = sorted(non, key=lambda a: -X[a, [NAMES.index(f"{c}.rank") for c in CH]].max())[:maxneg]
    D, G = [], []
    for p in rel:
        for n in non:
            D.append(X[p] - X[n]); G.append(run.relevant[ids[p]])
        for p2 in rel:
            if run.relevant[ids[p]] > run.relevant[ids[p2]]:
                D.append(X[p] - X[p2]); G.append(1)
    return D

def fit(data, C):
    Ds, Ws = [], []
    groups = sorted({r.group for r, _, _ in data})
    for g in groups:
        mine = [(r, ids, X) for r, ids, X in data if r.group == g]
        for r, ids, X in mine:
            D = pairs(r, ids, X)
            if not D: continue
            D = np.asarray(D)
            Ds.append(D); Ws.append(np.full(len(D), 1.0 / len(mine) / len(D)))
    D = np.vstack(Ds); W = np.concatenate(Ws)
    Xa = np.vstack([D, -D]); y = np.r_[np.ones(len(D)), np.zeros(len(D))]; Wa = np.r_[W, W]
    m = LogisticRegression(C=C, fit_intercept=False, max_iter=2000)
    m.fit(Xa, y, sample_weight=Wa * len(groups) * 100)
    return m.coef_[0]

if __name__ == "__main__":
    runs = pickle.load(open(sys.argv[1], 'rb'))
    kinds = ("model_number", "text")
    runs = [r for r in runs if run_kind(r, 0) in kinds]
    data = [(r, *features(r)) for r in runs]
    cfg = SearchConfig()
    suites = sorted({r.group.split("/")[0] for r in runs})
    def nd(r, ids): return metrics(ids, r.relevant)["ndcg@10"]
    base = {}
    for r, ids, X in data:
        k = run_kind(r, 0); w, kk = kind_weights(cfg, k)
        base.setdefault(r.group, []).append(nd(r, fused_ids(r, w, kk, kind_fusion(cfg, k))))
    singles = {}
    for r, ids, X in data:
        singles.setdefault(r.group, {})
        for c in r.rankings:
            singles[r.group].setdefault(c, []).append(nd(r, fused_ids(r, {c: 1.0}, 60.0)))
    for C in [float(c) for c in sys.argv[2:]] or [0.01, 0.1, 1.0]:
        oof = {}
        for s in suites:
            train = [d for d in data if d[0].group.split("/")[0] != s]
            w = fit(train, C)
            for r, ids, X in data:
                if r.group.split("/")[0] == s:
                    oof.setdefault(r.group, []).append(nd(r, ranked(r, ids, X, w)))
        obj_b, obj_n = [], []
        for g in sorted(oof):
            best = max(np.mean(v) for v in singles[g].values())
            b, n = np.mean(base[g]), np.mean(oof[g])
            obj_b.append(b - 2 * max(0, best - b)); obj_n.append(n - 2 * max(0, best - n))
            print(f"C={C} {g:32s} shipped {b:.4f} combiner {n:.4f} best single {best:.4f}")
        print(f"C={C} objective shipped {np.mean(obj_b):.4f} combiner {np.mean(obj_n):.4f}")
        w = fit(data, C)
        print(" ".join(f"{n}={v:.3f}" for n, v in zip(NAMES, w)))
