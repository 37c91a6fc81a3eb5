"""Scratch: rounds from k-fold CV on all train pairs (then refit on all) instead of a random 15% hold-out."""
import sys, hashlib, numpy as np, lightgbm as lgb
from shopgraph.matching import scorer as S
from shopgraph.matching.pipeline import fit_scorer
from shopgraph.matching.ready import ready_scorer
from shopgraph.matching.scorer import ScorerConfig, best_f1_threshold, MeanLogOdds
NAMES = sys.argv[2].split(",") if len(sys.argv) > 2 else ["abt_buy", "amazon_google", "wdc_computers", "beer", "itunes_amazon"]
K = int(sys.argv[1])
orig_fit = S.PairScorer.fit
def fit_cv(self, x_train, y_train, x_valid, y_valid, init=None):
    self._check(x_train)
    c = self.config
    x2, y2 = self._both_orders(x_train), np.r_[y_train, y_train]
    m = len(y_train)
    rng = np.random.default_rng(c.seed)
    fold = np.empty(m, int)
    for cls in (0, 1):   # label-stratified folds of pairs
        idx = np.where(y_train == cls)[0]; rng.shuffle(idx); fold[idx] = np.arange(len(idx)) % K
    fold2 = np.r_[fold, fold]
    folds = [(np.where(fold2 != f)[0], np.where(fold2 == f)[0]) for f in range(K)]
    init_model = init.model if init is not None else None
    ds = lgb.Dataset(x2, y2, free_raw_data=False)
    res = lgb.cv(self._params(), ds, num_boost_round=c.max_iter, folds=folds, init_model=init_model,
                 callbacks=[lgb.early_stopping(30, verbose=False)], return_cvbooster=False)
    key = [k for k in res if k.endswith("-mean")][0]
    rounds = len(res[key])
    self.model = lgb.train(self._params(), lgb.Dataset(x2, y2, free_raw_data=False), num_boost_round=rounds, init_model=init_model)
    self.threshold, f1 = best_f1_threshold(self.predict(x_valid), y_valid)
    text = self.model.model_to_string()
    self.metrics = {"valid_f1": f1, "threshold": self.threshold, "train_pairs": int(m), "rounds": rounds,
                    "version": "lgbm-" + hashlib.sha1(text.encode()).hexdigest()[:10]}
    return self
base = ready_scorer()
out = {}
for label, fit in (("holdout", orig_fit), (f"cv{K}", fit_cv)):
    S.PairScorer.fit = fit
    vals = []
    for name in NAMES:
        z = np.load(f"/work/tmp/i16-sup/{name}.npz")
        f1 = []
        for seed in range(3):
            sc = fit_scorer(z["x_train"], z["y_train"], z["x_valid"], z["y_valid"], base, ScorerConfig(seed=seed))
            f1.append(sc.metrics["valid_f1"])
            out[f"{label}/{name}/{seed}/valid"] = sc.predict(z["x_valid"]); out[f"{label}/{name}/{seed}/test"] = sc.predict(z["x_test"])
            out[f"{label}/{name}/{seed}/thr"] = np.array([sc.threshold])
        vals.append(np.mean(f1)); print(label, name, np.round(f1, 4), flush=True)
    print(label, " ".join(f"{v:.4f}" for v in vals), f"mean {np.mean(vals):.4f}", flush=True)
np.savez(f"/work/tmp/i16-sup/scores_cv{K}.npz", **out)
