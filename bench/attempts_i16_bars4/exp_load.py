"""Scratch: featurize all five datasets once and pickle them (listings, featurizer, features, splits)."""
import pickle, sys, time
from types import SimpleNamespace
from bench.matching import load_dataset, DATASETS
from bench.learned import WORK_DIR, data_root

args = SimpleNamespace(data=data_root() / "em", workdir=WORK_DIR, serialise="values")
out = {}
for name in DATASETS:
    t = time.time()
    d = load_dataset(args, name)
    out[name] = d
    print(name, round(time.time() - t, 1), {s: x.shape for s, x in d["features"].items()}, flush=True)
with open(WORK_DIR / "exp_data.pkl", "wb") as f:
    pickle.dump(out, f)
print("saved")
