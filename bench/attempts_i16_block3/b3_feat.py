import numpy as np, time
from bench.attempts_i16_block3.lab import *
from shopgraph.matching.ready import ready_scorer
from bench.learned import WORK_DIR
d = load(); f = d["featurizer"]
cr = channel_ranks(d["sims"]); F = fused(cr)
pool = np.argsort(-F, axis=1, kind="stable")[:, :200]
rows = np.column_stack([np.repeat(np.arange(len(F)), 200), pool.ravel()])
t = time.perf_counter()
X = f.features(rows)
print("features", rows.shape, time.perf_counter() - t, flush=True)
p = ready_scorer().predict(X)
np.savez(WORK_DIR / "block3_wdc_pool200.npz", rows=rows, X=X, p=p, F=F)
print("done", time.perf_counter() - t)
