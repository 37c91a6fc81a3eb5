import numpy as np
exec(open("bench/attempts_i16_block3/b3_a6.py").read().split("tv = np.vstack")[0])
sel = rr(200, 10, p)
for s in ("train", "valid", "test"):
    for a, b in miss(sel, m[s]):
        pos = np.flatnonzero(pool[a] == b)
        print(f"[{s}] fused {pos[0] if len(pos) else '>200'} p={p[a,pos[0]] if len(pos) else float('nan'):.3f}\n   L: {d['left'].titles[a][:110]}\n   R: {d['right'].titles[b][:110]}")
