import numpy as np
from threadpoolctl import threadpool_limits, threadpool_info
from shopgraph.matching.features import FEATURE_NAMES, PairFeaturizer
from shopgraph.matching.listings import Listings
print([ (i["internal_api"], i["num_threads"]) for i in threadpool_info()])
rng = np.random.default_rng(0)
n, dim = 300, 384
base = rng.normal(size=(n, dim)).astype(np.float32)
sides = []
for name in "ab":
    v = base + 0.8 * rng.normal(size=base.shape).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    titles = [f"{name} item {i}" for i in range(n)]
    sides.append(Listings(name, [f"{name}:{i}" for i in range(n)], titles, titles, vectors={"text": v}))
f = PairFeaturizer(*sides)
pairs = np.array([(i, i) for i in range(n)] + [(i, (i + 1) % n) for i in range(n)])
cols = [FEATURE_NAMES.index(c) for c in ("ctx_text_row_gap", "ctx_text_col_gap")]
x = f.features(pairs)
g = x[:, cols]
print("positive gaps", (g > 0).sum(), "exact zero", (g == 0).sum(), "near zero", (np.abs(g) < 1e-6).sum())
one = np.vstack([f.features(pairs[k:k+1]) for k in range(0, 40)])
print("alone vs batch differ:", int((one[:, cols] != x[:40, cols]).sum()))
with threadpool_limits(1):
    x1 = f.features(pairs)
print("1 thread vs default differ:", int((x1[:, cols] != x[:, cols]).sum()))
