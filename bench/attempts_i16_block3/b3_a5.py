import numpy as np
from bench.attempts_i16_block3.lab import *
from bench.learned import WORK_DIR
d = load(); m = matches(d["bench"]); L, R = d["left"], d["right"]
z = np.load(WORK_DIR / "block3_wdc_pool200.npz"); F = z["F"]; n = len(F)
pool = z["rows"][:, 1].reshape(n, 200); p = z["p"].reshape(n, 200)
# labelled status of pairs
lab = {}
for s in ("train", "valid", "test"):
    sp = d["bench"].splits[s]
    for (a, b), y in zip(sp.rows, sp.labels): lab[(int(a), int(b))] = y
P = 120
cnt = 0
for s in ("train", "valid"):
    for a, b in m[s]:
        pos = np.flatnonzero(pool[a, :P] == b)
        if not len(pos): continue
        pos = pos[0]
        order = np.r_[np.arange(10), 10 + np.argsort(-p[a, 10:P], kind="stable")]
        rank = int(np.flatnonzero(order == pos)[0])
        if rank < 20: continue
        cnt += 1
        print(f"\n[{s}] fusedrank {pos} p={p[a,pos]:.3f} rerank {rank}  #p>0.5 in pool: {(p[a,:P]>0.5).sum()}")
        print("  L:", L.titles[a][:130]); print("  R:", R.titles[b][:130])
        for q in order[:8]:
            print(f"   {p[a,q]:.3f} {lab.get((a,int(pool[a,q])),'?')}", R.titles[pool[a, q]][:110])
print(cnt)
