import numpy as np, time
exec(open("bench/attempts_i16_block3/b3_a6.py").read().split("tv = np.vstack")[0])
from shopgraph.matching.features import PairFeaturizer
from shopgraph.matching.ready import ready_scorer
t = time.perf_counter()
RF = PairFeaturizer(d["right"], d["right"])
G = 0
for c in ("text", "char", "code", "word", "ident", "record"):
    ch = RF.channel(c)
    if ch is None: continue
    s = ch[0] @ ch[1].T
    s = s.toarray() if hasattr(s, "toarray") else np.asarray(s)
    np.fill_diagonal(s, -1)
    r = ranks_dense(s).astype(np.float32); r[s <= 0] = np.inf
    G = G + np.where(r < 100, 1.0 / (RRF_K + r + 1), 0.0)
G = G + G.T
NB = 10
nb = np.argsort(-G, axis=1, kind="stable")[:, :NB]
rows = np.column_stack([np.repeat(np.arange(len(nb)), NB), nb.ravel()])
prr = ready_scorer().predict(RF.features(rows)).reshape(len(nb), NB)
print("RR scored", time.perf_counter() - t, flush=True)
np.savez("bench/.work/block3_rr.npz", nb=nb, prr=prr)
