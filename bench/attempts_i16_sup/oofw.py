"""Scratch: the join's weight (fresh vs fine-tuned, in log-odds) chosen by out-of-fold log-loss on
the train pairs (the CV folds' boosters), against the fixed 0.5; valid F1 3-seed means."""
import sys, numpy as np, lightgbm as lgb
from dataclasses import replace
from shopgraph.matching.pipeline import TRAIN_CONFIG
from shopgraph.matching.ready import ready_scorer
from shopgraph.matching.scorer import PairScorer, _stratified_folds, best_f1_threshold
NAMES = ["abt_buy", "amazon_google", "wdc_computers", "beer", "itunes_amazon"]
W = [0.0, 0.25, 0.5, 0.75, 1.0]
base = ready_scorer(); d = sys.argv[1] if len(sys.argv) > 1 else "/work/tmp/i16-sup"
def raw(model, x, both):
    r = model.predict(both(x), raw_score=True); m = len(x); return r[:m], r[m:]
res = {"w=0.5": [], "oof w": []}; chosen = {}
for name in NAMES:
    z = np.load(f"{d}/{name}.npz"); acc = {k: [] for k in res}
    for seed in range(3):
        c = replace(TRAIN_CONFIG, seed=seed); sc = PairScorer(c)
        x, y = z["x_train"], z["y_train"]; x2, y2 = sc._both_orders(x), np.r_[y, y]
        folds = _stratified_folds(y, 5, seed); f2 = np.r_[folds, folds]
        splits = [(np.flatnonzero(f2 != f), np.flatnonzero(f2 == f)) for f in range(5)]
        oof = {}
        for part, init in (("fresh", None), ("tuned", base.model)):
            r = lgb.cv(sc._params(), lgb.Dataset(x2, y2, free_raw_data=False), num_boost_round=c.max_iter, folds=splits,
                       init_model=init, callbacks=[lgb.early_stopping(30, verbose=False)], return_cvbooster=True)
            cvb = r["cvbooster"]; o = np.empty(len(y2))
            for f, (_, held) in enumerate(splits):
                b = cvb.boosters[f]
                o[held] = b.predict(x2[held], raw_score=True, num_iteration=cvb.best_iteration)
                if init is not None and b.num_trees() <= cvb.best_iteration + 5:   # fold boosters hold only new trees
                    o[held] += init.predict(x2[held], raw_score=True)
            oof[part] = o
        def loss(w):
            p = 1 / (1 + np.exp(-(w * oof["fresh"] + (1 - w) * oof["tuned"]))); p = np.clip(p, 1e-7, 1 - 1e-7)
            return -np.mean(y2 * np.log(p) + (1 - y2) * np.log(1 - p))
        w = min(W, key=loss); chosen.setdefault(name, []).append(w)
        fresh = PairScorer(c).fit(x, y, z["x_valid"], z["y_valid"]); tuned = PairScorer(c).fit(x, y, z["x_valid"], z["y_valid"], init=base)
        rf, rt = raw(fresh.model, z["x_valid"], sc._both_orders), raw(tuned.model, z["x_valid"], sc._both_orders)
        for key, ww in (("w=0.5", 0.5), ("oof w", w)):
            s = np.mean([1 / (1 + np.exp(-(ww * a + (1 - ww) * b))) for a, b in zip(rf, rt)], axis=0)
            acc[key].append(best_f1_threshold(s, z["y_valid"])[1])
    for k in res: res[k].append(np.mean(acc[k]))
    print(name, "chosen w", chosen[name], {k: round(v[-1], 4) for k, v in res.items()}, flush=True)
for k, v in res.items(): print(k, " ".join(f"{x:.4f}" for x in v), f"mean {np.mean(v):.4f}")
