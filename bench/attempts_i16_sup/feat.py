"""Featurize datasets once; save npz of features + labels + pair ids per split."""
import sys, time, argparse, pickle
from pathlib import Path
import numpy as np
from bench.matching import load_dataset, parse_args
names = sys.argv[1:]
args = parse_args(["--datasets", *names])
for n in names:
    t = time.time()
    d = load_dataset(args, n)
    out = {}
    for s, pairs in d["bench"].splits.items():
        out[f"x_{s}"] = d["features"][s]
        out[f"y_{s}"] = np.asarray(pairs.labels)
        out[f"rows_{s}"] = np.asarray(pairs.rows)
    import os; np.savez(os.environ.get("OUT", "/work/tmp/i16-sup") + f"/{n}.npz", **out)
    print(n, {s: d["features"][s].shape for s in d["features"]}, round(time.time()-t,1), flush=True)
