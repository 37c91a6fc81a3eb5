"""Scratch: score fusion variants on stored runs (collect.py): per group NDCG@10, the bench's single
modes (lexical = the kind's weights restricted to exact + bm25; vectors = vector channel), bars."""
import pickle, sys
import numpy as np
from bench.search_shipped import fused_ids, run_kind
from bench.search_quality import metrics
from shopgraph.config import SearchConfig
from shopgraph.search.hybrid import kind_weights, kind_fusion


def nd(r, ids):
    return metrics(ids, r.relevant)["ndcg@10"]


def shipped(cfg):
    def f(r):
        kind = run_kind(r, cfg.short_text_words)
        w, k = kind_weights(cfg, kind)
        return fused_ids(r, w, k, kind_fusion(cfg, kind), cfg.zscore_rank_weight)
    return f


def lexical(cfg):
    def f(r):
        kind = run_kind(r, cfg.short_text_words)
        w, k = kind_weights(cfg, kind)
        w = {c: v for c, v in w.items() if c in ("exact", "bm25") and v > 0} or {"exact": 1.0, "bm25": 1.0}
        return fused_ids(r, w, k, kind_fusion(cfg, kind), cfg.zscore_rank_weight)
    return f


def single(c):
    return lambda r: fused_ids(r, {c: 1.0}, 60.0) if c in r.rankings else []


def table(runs, systems, show=True):
    per = {}
    for r in runs:
        for name, f in systems.items():
            per.setdefault(r.group, {}).setdefault(name, []).append(nd(r, f(r)))
    out = {g: {n: float(np.mean(v)) for n, v in d.items()} for g, d in per.items()}
    if show:
        names = list(systems)
        print(f"{'group':34s}" + "".join(f"{n[:10]:>11s}" for n in names))
        for g in sorted(out):
            print(f"{g:34s}" + "".join(f"{out[g][n]:11.4f}" for n in names))
    return out, per


def bootstrap(a, b, n=2000, seed=0):
    """Paired bootstrap of mean(a - b): (mean, 2.5%, 97.5%)."""
    d = np.asarray(a) - np.asarray(b)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (n, len(d)))].mean(axis=1)
    return float(d.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


if __name__ == "__main__":
    runs = pickle.load(open(sys.argv[1], "rb"))[sys.argv[2]]
    cfg = SearchConfig()
    systems = {"hybrid": shipped(cfg), "lexical": lexical(cfg), "exact": single("exact"), "bm25": single("bm25"),
               "vector": single("vector"), "learned": single("learned"), "image": single("image")}
    out, per = table(runs, systems)
    for g in sorted(per):
        print(g, "hybrid - lexical", bootstrap(per[g]["hybrid"], per[g]["lexical"]))
