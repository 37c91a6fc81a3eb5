"""Featurize the five em datasets with the code on PYTHONPATH; pickle features + labels."""
import pickle, sys, time
from pathlib import Path
from types import SimpleNamespace
import shopgraph
print("shopgraph from", shopgraph.__file__, flush=True)
from bench.matching import load_dataset, DATASETS
from bench.learned import data_root
workdir, out = Path(sys.argv[1]), sys.argv[2]
args = SimpleNamespace(data=data_root() / "em", workdir=workdir, serialise="values")
res = {}
for name in DATASETS:
    t = time.time()
    d = load_dataset(args, name)
    res[name] = {"features": d["features"], "labels": {s: p.labels for s, p in d["bench"].splits.items()},
                 "rows": {s: p.rows for s, p in d["bench"].splits.items()},
                 "text": d["left"].vectors["text"], "text_r": d["right"].vectors["text"]}
    print(name, round(time.time() - t, 1), flush=True)
pickle.dump(res, open(out, "wb"))
