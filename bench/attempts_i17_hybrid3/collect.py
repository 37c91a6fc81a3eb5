"""Scratch: every channel's ranked ids and scores (every channel at weight 1) for the dev AND test
queries of every suite, before and after training, from the cached graphs of a --shipped workdir:
python -m bench.attempts_i17_hybrid3.collect WORKDIR OUT.pkl (test runs: only to report a choice made
on dev, never to choose)."""
import pickle, sys
from dataclasses import replace
from pathlib import Path
from bench.search_quality import parse_args
from bench.search_suites import build_suites
from bench.search_shipped import built_graph, corpus_for, dev_runs, load_query_memo, save_query_memo

workdir, out = Path(sys.argv[1]), Path(sys.argv[2])
from shopgraph.config import Config
from shopgraph.queries.api import ShopGraph
args = parse_args([])
config = Config()
suites = build_suites(args.data, None)
load_query_memo(workdir, config)
runs = {"dev": [], "test": []}
for state in ("before", "after"):
    for suite in suites:
        corpus = corpus_for(args.data, suite.name)
        path, _ = built_graph(corpus, workdir, config, state == "after", {}, workdir / "vectors.cache.sqlite")
        sg = ShopGraph.open(path, config=config)
        try:
            runs["dev"] += dev_runs(sg, corpus, suite, f"{suite.name}/{state}")
            runs["test"] += dev_runs(sg, corpus, replace(suite, dev=suite.test), f"{suite.name}/{state}")
        finally:
            sg.close()
        save_query_memo(workdir, config)
        print(suite.name, state, len(runs["dev"]), len(runs["test"]), flush=True)
out.write_bytes(pickle.dumps(runs))
