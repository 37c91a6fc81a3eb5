"""Tree options of match --train's scorers (with CV stopping), valid F1 3-seed means; test kept aside."""
import sys, json, time, numpy as np
from dataclasses import replace
from shopgraph.matching.pipeline import fit_scorer, TRAIN_CONFIG
from shopgraph.matching.ready import ready_scorer
from shopgraph.matching.scorer import prf
NAMES = ["abt_buy", "amazon_google", "wdc_computers", "beer", "itunes_amazon"]
base = ready_scorer()
GRID = [json.loads(a) for a in sys.argv[1:]]
Z = {n: np.load(f"/work/tmp/i16-sup/{n}.npz") for n in NAMES}
for opts in GRID:
    v, t = [], []; t0 = time.time()
    for name in NAMES:
        z = Z[name]; vf, tf = [], []
        for seed in range(3):
            sc = fit_scorer(z["x_train"], z["y_train"], z["x_valid"], z["y_valid"], base, replace(TRAIN_CONFIG, seed=seed, **opts))
            vf.append(sc.metrics["valid_f1"]); tf.append(prf(sc.predict(z["x_test"]) >= sc.threshold, z["y_test"])["f1"])
        v.append(np.mean(vf)); t.append(np.mean(tf))
    line = {"opts": opts, "valid": [round(x, 4) for x in v], "valid_mean": round(float(np.mean(v)), 4), "test": [round(x, 4) for x in t], "s": round(time.time() - t0)}
    print(json.dumps({k: line[k] for k in ("opts", "valid", "valid_mean", "s")}), flush=True)
    with open("/work/tmp/i16-sup/grid.jsonl", "a") as f: f.write(json.dumps(line) + "\n")
