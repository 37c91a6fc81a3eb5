"""Scratch: per suite (dev, before), how often each channel's top-1 is relevant, by the channel's top-1
score / sharpness, and by agreement between channels."""
import pickle, sys
import numpy as np
from bench.search_shipped import run_kind
runs = [r for r in pickle.load(open(sys.argv[1], 'rb')) if r.group.endswith("/before") and run_kind(r, 0) in ("model_number", "text")]
def z(scores, top=20):
    h = np.asarray(scores[:top], float); sd = h.std()
    return (h - h.mean()) / sd if sd > 0 else h * 0
by = {}
for r in runs:
    s = r.group.split("/")[0] + ":" + run_kind(r, 0)
    row = {}
    for c in ("bm25", "vector", "exact"):
        ids = r.rankings.get(c) or []
        if not ids: continue
        zz = z(r.scores[c])
        row[c + "_hit"] = float(r.relevant.get(ids[0], 0) > 0)
        row[c + "_top"] = r.scores[c][0]
        row[c + "_sharp"] = float(zz[0] - zz[1]) if len(zz) > 1 else 0
    b, v = r.rankings.get("bm25") or [], r.rankings.get("vector") or []
    if b and v:
        row["agree"] = float(b[0] == v[0])
        row["v1_in_b5"] = float(v[0] in b[:5])
        row["b1_in_v5"] = float(b[0] in v[:5])
        row["vhit_if_v1_in_b5"] = row["vector_hit"] if v[0] in b[:5] else np.nan
        row["vhit_if_not"] = row["vector_hit"] if v[0] not in b[:5] else np.nan
        row["bhit_if_b1_in_v5"] = row["bm25_hit"] if b[0] in v[:5] else np.nan
        row["bhit_if_not"] = row["bm25_hit"] if b[0] not in v[:5] else np.nan
    by.setdefault(s, []).append(row)
for s, rows in sorted(by.items()):
    keys = sorted({k for r in rows for k in r})
    print(s, len(rows), " ".join(f"{k}={np.nanmean([r.get(k, np.nan) for r in rows]):.2f}" for k in keys))
# does vector top score predict the vector hit, pooled over model_number kind?
rows = [(s, r) for s, rr in by.items() for r in rr if "vector_top" in r]
for lo, hi in [(0, .5), (.5, .6), (.6, .7), (.7, .8), (.8, .9), (.9, 1.01)]:
    sel = [r for s, r in rows if lo <= r["vector_top"] < hi]
    if sel: print(f"vector top cos [{lo},{hi}) n={len(sel)} vhit={np.mean([r['vector_hit'] for r in sel]):.2f} bhit={np.mean([r['bm25_hit'] for r in sel]):.2f}", {s.split(':')[0][:12]: sum(1 for ss, r in rows if ss == s and lo <= r['vector_top'] < hi) for s in by})
for lo, hi in [(0, .5), (.5, 1), (1, 2), (2, 3), (3, 99)]:
    sel = [r for s, r in rows if lo <= r["bm25_sharp"] < hi]
    if sel: print(f"bm25 sharp [{lo},{hi}) n={len(sel)} vhit={np.mean([r['vector_hit'] for r in sel]):.2f} bhit={np.mean([r['bm25_hit'] for r in sel]):.2f}")
for lo, hi in [(0, .5), (.5, 1), (1, 2), (2, 3), (3, 99)]:
    sel = [r for s, r in rows if lo <= r["vector_sharp"] < hi]
    if sel: print(f"vector sharp [{lo},{hi}) n={len(sel)} vhit={np.mean([r['vector_hit'] for r in sel]):.2f} bhit={np.mean([r['bm25_hit'] for r in sel]):.2f}")
