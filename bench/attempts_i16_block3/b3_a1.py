import numpy as np
from bench.attempts_i16_block3.lab import *
d = load(); f = d["featurizer"]; m = matches(d["bench"])
cr = channel_ranks(d["sims"])
F = fused(cr)
sel, ok = topk(F, 20)
allm = np.vstack(list(m.values()))
print({s: round(completeness(sel, ok, p), 4) for s, p in m.items()}, "all", round(completeness(sel, ok, allm), 4))
fr = ranks_dense(F)
L, R = d["left"], d["right"]
for s in ("train", "valid"):
    for a, b in m[s]:
        if fr[a, b] >= 20:
            print(f"\n[{s}] fused rank {fr[a,b]}  " + " ".join(f"{c}:{int(rl[a,b]) if np.isfinite(rl[a,b]) else '-'}/{int(rr[a,b]) if np.isfinite(rr[a,b]) else '-'}" for c,(rl,rr) in cr.items()))
            print("  L:", L.titles[a][:150]); print("  R:", R.titles[b][:150])
            top = np.argsort(-F[a])[:3]
            for j in top: print("   top:", R.titles[j][:120])
