"""The shipped code: fit_scorer with stop_folds 0 vs 5, seeds 0-2; valid F1 means; test F1 means (held back)."""
import time, numpy as np
from dataclasses import replace
from shopgraph.matching.pipeline import fit_scorer, TRAIN_CONFIG
from shopgraph.matching.ready import ready_scorer
from shopgraph.matching.scorer import prf
NAMES = ["abt_buy", "amazon_google", "wdc_computers", "beer", "itunes_amazon"]
base = ready_scorer()
for folds in (0, 5):
    v, t, secs = [], [], []
    for name in NAMES:
        z = np.load(f"/work/tmp/i16-sup/{name}.npz"); vf, tf = [], []
        t0 = time.perf_counter()
        for seed in range(3):
            sc = fit_scorer(z["x_train"], z["y_train"], z["x_valid"], z["y_valid"], base, replace(TRAIN_CONFIG, seed=seed, stop_folds=folds))
            vf.append(sc.metrics["valid_f1"]); tf.append(prf(sc.predict(z["x_test"]) >= sc.threshold, z["y_test"])["f1"])
        secs.append((time.perf_counter() - t0) / 3)
        v.append(np.mean(vf)); t.append(tf)
        print(folds, name, "valid", np.round(vf, 4), "test", np.round(tf, 4), f"{secs[-1]:.1f}s/fit", flush=True)
    print(f"stop_folds={folds} valid", " ".join(f"{x:.4f}" for x in v), f"mean {np.mean(v):.4f}")
    print(f"stop_folds={folds} test ", " ".join(f"{np.mean(x):.4f}({min(x):.3f}-{max(x):.3f})" for x in t), f"mean {np.mean([np.mean(x) for x in t]):.4f}", flush=True)
