"""Scratch (issue 16 blocking): load WDC computers as bench.matching does and pickle the featurizer,
bench splits and the dense channel similarities, so variants of blocking can be tried quickly."""
import argparse, pickle, sys, time
from pathlib import Path
import numpy as np
from bench.learned import WORK_DIR, data_root
from bench.matching import encode
from shopgraph.matching.benchmarks import load_benchmark
from shopgraph.matching.features import PairFeaturizer
from shopgraph.matching.blocking import CHANNELS

name = sys.argv[1] if len(sys.argv) > 1 else "wdc_computers"
t = time.perf_counter()
left, right, bench = load_benchmark(data_root() / "em" / name)
encode(left, WORK_DIR); encode(right, WORK_DIR)
f = PairFeaturizer(left, right)
sims = {c: f.similarity_block(c, np.arange(f.n_left)).astype(np.float32) for c in CHANNELS if f.channel(c) is not None}
with open(WORK_DIR / f"block3_{name}.pkl", "wb") as fh:
    pickle.dump({"featurizer": f, "bench": bench, "sims": sims, "left": left, "right": right}, fh)
print(name, f.n_left, f.n_right, {c: s.shape for c, s in sims.items()}, round(time.perf_counter() - t, 1), "s")
