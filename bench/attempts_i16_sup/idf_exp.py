"""Scratch: IDF-weighted word cosine per shared text key, aggregated worst/mean; fresh scorers with/without."""
import sys, numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from bench.matching import parse_args
from shopgraph.matching.benchmarks import load_benchmark
from shopgraph.matching.attribute_features import RecordView
from shopgraph.matching.scorer import PairScorer, ScorerConfig
from shopgraph.matching.features import FEATURE_NAMES
NAMES2 = tuple(FEATURE_NAMES) + ('idf_text_worst', 'idf_text_mean')
NAMES = ["abt_buy", "amazon_google", "wdc_computers", "beer", "itunes_amazon"]
args = parse_args([])
def extra(name):
    left, right, bench = load_benchmark(args.data / name)
    Lv = [RecordView(r) for r in left.attributes]; Rv = [RecordView(r) for r in right.attributes]
    keys = sorted({k for v in Lv for k in v.values} & {k for v in Rv for k in v.values})
    mats = {}
    for k in keys:
        ld = [v.values[k].norm if k in v.values and v.values[k].kind == "text" else "" for v in Lv]
        rd = [v.values[k].norm if k in v.values and v.values[k].kind == "text" else "" for v in Rv]
        if not any(ld) or not any(rd): continue
        try:
            vec = TfidfVectorizer(token_pattern=r"\w+", sublinear_tf=True).fit(ld + rd)
        except ValueError:
            continue
        mats[k] = (vec.transform(ld), vec.transform(rd), ld, rd)
    out = {}
    for split, ps in bench.splits.items():
        rows = np.asarray(ps.rows); cols = []
        for k, (A, B, ld, rd) in mats.items():
            cos = np.asarray(A[rows[:, 0]].multiply(B[rows[:, 1]]).sum(1)).ravel()
            known = np.array([bool(ld[i]) and bool(rd[j]) for i, j in rows])
            cols.append(np.where(known, cos, np.nan))
        if cols:
            c = np.vstack(cols)
            with np.errstate(all="ignore"):
                import warnings; warnings.simplefilter("ignore")
                out[split] = np.c_[np.nanmin(c, 0), np.nanmean(c, 0)]
        else:
            out[split] = np.full((len(rows), 2), np.nan)
    return out, list(mats)
res = {}
for name in NAMES:
    z = np.load(f"/work/tmp/i16-sup/{name}.npz")
    ex, keys = extra(name)
    np.savez(f"/work/tmp/i16-sup/{name}_idf.npz", **ex)
    for label, f, fn in (("without", lambda s: z[f"x_{s}"], FEATURE_NAMES), ("with", lambda s: np.c_[z[f"x_{s}"], ex[s]], NAMES2)):
        f1 = [PairScorer(ScorerConfig(seed=seed), feature_names=fn).fit(f("train"), z["y_train"], f("valid"), z["y_valid"]).metrics["valid_f1"] for seed in range(3)]
        res.setdefault(label, []).append(np.mean(f1))
    print(name, keys, {k: round(v[-1], 4) for k, v in res.items()}, flush=True)
for k, v in res.items(): print(k, " ".join(f"{x:.4f}" for x in v), f"mean {np.mean(v):.4f}")
