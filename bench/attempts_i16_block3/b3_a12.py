import numpy as np
exec(open("bench/attempts_i16_block3/b3_a6.py").read().split("tv = np.vstack")[0])
z2 = np.load("bench/.work/block3_rr.npz"); nb, prr = z2["nb"], z2["prr"]
def expand(P, keep, hops=3, thr=0.9, nbk=10, w=1.0):
    sel = []
    for i in range(n):
        cand = pool[i, :P][valid[i, :P]]; sc = dict(zip(cand.tolist(), p[i, :P][valid[i, :P]].tolist()))
        kept = cand[:keep].tolist()
        best = dict(sc)
        # 2-hop: the listing's confident matches' own confident look-alikes
        srcs = [j for j in cand[np.argsort(-p[i, :P][valid[i, :P]], kind="stable")][:hops] if sc[j] >= thr]
        for j in srcs:
            for jj, q in zip(nb[j, :nbk], prr[j, :nbk]):
                v = w * sc[j] * q
                if v > best.get(int(jj), -1): best[int(jj)] = v
        rest = sorted((j for j in best if j not in kept), key=lambda j: -best[j])
        sel.append(np.array(kept + rest[:20 - len(kept)]))
    return sel
for P in (60, 120, 200):
    for keep in (10,):
        for hops in (1, 3, 5):
            for thr in (0.5, 0.9):
                for w in (0.9, 1.0):
                    sel = expand(P, keep, hops, thr, 10, w)
                    print(P, keep, hops, thr, w, [len(miss(sel, m[x])) for x in ("train", "valid", "test")], flush=True)
    sel = rr(P, 10, p); print(P, "plain rerank", [len(miss(sel, m[x])) for x in ("train", "valid", "test")])
