"""Scratch: variant-marker words learnt without labels from each catalog's own near-duplicate titles;
pair feature = strongest marker among the words one title has and the other lacks."""
import sys, json, numpy as np
from collections import Counter
from dataclasses import replace
from sklearn.feature_extraction.text import TfidfVectorizer
from bench.matching import parse_args
from shopgraph.matching.benchmarks import load_benchmark
from shopgraph.matching import text_signals as ts
from shopgraph.matching.features import FEATURE_NAMES
from shopgraph.matching.scorer import PairScorer, ScorerConfig
from shopgraph.matching.pipeline import TRAIN_CONFIG
NAMES = ["abt_buy", "amazon_google", "wdc_computers", "beer", "itunes_amazon"]
NEAR = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
PRIOR = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
args = parse_args([])

def markers(titles_sets):
    """word -> share of its listings whose nearest same-catalog neighbour (cosine >= NEAR) lacks it (or has it when they lack)."""
    diff, freq = Counter(), Counter(); seen = set()
    for titles in titles_sets:
        docs = [" ".join(sorted(w)) for w in titles]
        vec = TfidfVectorizer(token_pattern=r"[a-z0-9]+", sublinear_tf=True)
        try: m = vec.fit_transform(docs)
        except ValueError: continue
        for w in titles: freq.update(w)
        for start in range(0, m.shape[0], 2048):
            sim = (m[start:start + 2048] @ m.T).toarray()
            for r in range(sim.shape[0]): sim[r, start + r] = -1
            nn = sim.argmax(1); best = sim[np.arange(len(nn)), nn]
            for r in np.where(best >= NEAR)[0]:
                pair = (min(start + r, nn[r]), max(start + r, nn[r]))
                seen.add((id(titles),) + pair)
    by = {id(t): t for t in titles_sets}
    for key, i, j in seen:
        a, b = by[key][i], by[key][j]
        if a != b: diff.update(a ^ b)
    return {w: diff[w] / (freq[w] + PRIOR) for w in diff}

def extra(name):
    left, right, bench = load_benchmark(args.data / name)
    L = [set(ts.words(ts.normalise(t))) for t in left.titles]; R = [set(ts.words(ts.normalise(t))) for t in right.titles]
    mk = markers([L, R])
    out = {}
    for split, ps in bench.splits.items():
        rows = []
        for i, j in ps.rows:
            a, b = L[i], R[j]
            ma = max((mk.get(w, 0.0) for w in a - b), default=0.0); mb = max((mk.get(w, 0.0) for w in b - a), default=0.0)
            rows.append((max(ma, mb), min(ma, mb)))
        out[split] = np.array(rows)
    top = sorted(mk.items(), key=lambda kv: -kv[1])[:15]
    return out, top

NAMES2 = tuple(FEATURE_NAMES) + ("marker_unmatched_max", "marker_unmatched_min")
res = {}
for name in NAMES:
    z = np.load(f"/work/tmp/i16-sup/{name}.npz")
    ex, top = extra(name)
    np.savez(f"/work/tmp/i16-sup/{name}_marker.npz", **ex)
    print(name, [(w, round(s, 2)) for w, s in top], flush=True)
    for label, f, fn in (("without", lambda s: z[f"x_{s}"], FEATURE_NAMES), ("with", lambda s: np.c_[z[f"x_{s}"], ex[s]], NAMES2)):
        f1 = [PairScorer(replace(TRAIN_CONFIG, seed=seed), feature_names=fn).fit(f("train"), z["y_train"], f("valid"), z["y_valid"]).metrics["valid_f1"] for seed in range(3)]
        res.setdefault(label, []).append(np.mean(f1))
    print(name, {k: round(v[-1], 4) for k, v in res.items()}, flush=True)
for k, v in res.items(): print(k, " ".join(f"{x:.4f}" for x in v), f"mean {np.mean(v):.4f}")
