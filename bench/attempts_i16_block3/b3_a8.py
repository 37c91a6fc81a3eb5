import numpy as np
exec(open("bench/attempts_i16_block3/b3_a6.py").read().split("tv = np.vstack")[0])
tv = np.vstack([m["train"], m["valid"]])
for P in (60, 100, 200):
    for keep in (5, 10, 14):
        for cap in (30, 40, 60):
            s = np.where(valid[:, :P], p[:, :P], -np.inf).copy()
            kept = np.zeros_like(s, bool); kept[:, :keep] = valid[:, :keep]
            budget = 20 * n - kept.sum()
            # per listing: at most cap candidates; rank within listing among non-kept by p
            s2 = np.where(kept, -np.inf, s)
            order = np.argsort(-s2, axis=1, kind="stable")
            rank = np.empty_like(order); np.put_along_axis(rank, order, np.arange(P)[None].repeat(n, 0), 1)
            s2 = np.where(rank < cap - keep, s2, -np.inf)
            flat = np.argsort(-s2.ravel(), kind="stable")[:budget]
            chosen = kept.copy(); chosen.ravel()[flat] = np.isfinite(s2.ravel()[flat])
            sel = [pool[i, :P][chosen[i]] for i in range(n)]
            print(P, keep, cap, "per listing %.1f max %d" % (chosen.sum() / n, chosen.sum(1).max()),
                  [len(miss(sel, m[x])) for x in ("train", "valid", "test")], flush=True)
