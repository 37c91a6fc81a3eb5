import numpy as np
exec(open("bench/attempts_i16_block3/b3_a6.py").read().split("tv = np.vstack")[0])
tv = np.vstack([m["train"], m["valid"]])
res = []
for P in (60, 100, 150, 200):
    pp = np.where(valid[:, :P], p[:, :P], -np.inf)
    srank = np.argsort(np.argsort(-pp, axis=1, kind="stable"), axis=1)
    frank = np.arange(P)[None, :]
    for K in (2, 5, 10, 20, 60):
        for w in (0.5, 1.0, 2.0):
            score = 1 / (K + frank) + w / (K + srank)
            sel = rr(P, 0, score)
            res.append((len(miss(sel, tv)), len(miss(sel, m["train"])), len(miss(sel, m["valid"])), len(miss(sel, m["test"])), P, K, w))
res.sort()
for r in res[:12]: print("train+valid misses %d (train %d valid %d; test %d)  pool %d K %d w %.1f" % r)
for P, keep in ((60, 10), (200, 10), (150, 10)):
    sel = rr(P, keep, p); print("rerank", P, keep, [len(miss(sel, m[s])) for s in ("train", "valid", "test")])
