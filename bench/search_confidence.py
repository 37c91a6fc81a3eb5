"""Where the "no close match" floor sits: match-strength bounds chosen on development queries.

    python -m bench.search_confidence
    python -m bench.search_confidence --max-false 0.02

A result is "strong" when its title holds at least `strong_coverage` of the query's terms or its text
cosine with the query (the default text model) is at least `strong_text`
(shopgraph/search/confidence.py); a search with no strong (or exact) result says "no close match".
Two kinds of development queries (bench/search_suites.py, seed 17):
- answerable: the known-item dev queries of abt_buy and amazon_google (a left-table title); measured
  on the query's true match in the right table;
- unanswerable: queries whose answer is not in the catalog: the known-item dev queries of beer and
  itunes_amazon (beer names, song titles) searched on the electronics catalogs, and 50 random letter
  strings (seeded); measured on the catalog's best title for each (the largest coverage and the
  largest cosine over every title: the worst case for a false "close match").
For each pair of bounds on a grid: the share of answerable queries whose match is strong (want high)
and of unanswerable ones with a strong best title (a false close match; want at most --max-false).
The pair kept: the most answerable ones strong within that budget. Product texts are the corpus
titles (the graph's text vectors embed the title with brand and category; close, not identical).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from bench.common import args_settings, print_table, write_results
from bench.learned import data_root
from bench.search_suites import known_item

COVERAGE_GRID = (0.6, 0.7, 0.8, 0.9, 1.01)  # 1.01: coverage never decides
TEXT_GRID = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 1.01)
SEED = 17


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=str, default=None, help="../shared/data (default)")
    p.add_argument("--max-false", type=float, default=0.05, help="largest share of false close matches")
    p.add_argument("--out", default="search_confidence", help="results name (bench/results/NAME.json)")
    args = p.parse_args(argv)
    data = Path(args.data) if args.data else data_root()

    from shopgraph.config import Config
    from shopgraph.ingest.encoders import ProductEncoder
    from shopgraph.search.analysis import terms

    encode = ProductEncoder(Config(), None).text_encoder.encode
    rng = np.random.default_rng(SEED)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    gibberish = ["".join(rng.choice(letters, size=int(rng.integers(5, 12)))) for _ in range(50)]
    foreign = [q.text for name in ("beer", "itunes_amazon") for q in known_item(data, name).dev]

    pos_cov, pos_cos, neg_cov, neg_cos = [], [], [], []
    for name in ("abt_buy", "amazon_google"):
        suite = known_item(data, name)
        titles = [d["title"] for d in suite.corpus.docs]
        title_terms = [set(terms(t)) for t in titles]
        vectors = encode(titles)
        row = {i: n for n, i in enumerate(suite.corpus.ids)}
        queries = [q for q in suite.dev if q.text]
        qvec = encode([q.text for q in queries])
        for q, v in zip(queries, qvec):
            wanted = set(terms(q.text))
            matches = [row[i] for i in q.relevant if i in row]  # the best of its true matches
            pos_cov.append(max(len(wanted & title_terms[n]) / max(1, len(wanted)) for n in matches))
            pos_cos.append(max(float(vectors[n] @ v) for n in matches))
        nvec = encode(foreign + gibberish)
        for text, v in zip(foreign + gibberish, nvec):
            wanted = set(terms(text))
            neg_cov.append(max(len(wanted & t) / max(1, len(wanted)) for t in title_terms))
            neg_cos.append(float(np.max(vectors @ v)))
    pos_cov, pos_cos, neg_cov, neg_cos = map(np.asarray, (pos_cov, pos_cos, neg_cov, neg_cos))

    rows = []
    for c, t in itertools.product(COVERAGE_GRID, TEXT_GRID):
        rows.append({"strong_coverage": c, "strong_text": t,
                     "answerable strong": float(np.mean((pos_cov >= c) | (pos_cos >= t))),
                     "false close match": float(np.mean((neg_cov >= c) | (neg_cos >= t)))})
    within = [r for r in rows if r["false close match"] <= args.max_false]
    chosen = max(within, key=lambda r: (r["answerable strong"], -r["false close match"])) if within else None
    shown = sorted(rows, key=lambda r: -r["answerable strong"])
    print_table([r for r in shown if r["false close match"] <= 2 * args.max_false][:15],
                title=f"strong bounds on dev queries ({len(pos_cov)} answerable, {len(neg_cov)} unanswerable)")
    print(f"\nchosen (false close match <= {args.max_false}): {chosen}")
    results = {"answerable": len(pos_cov), "unanswerable": len(neg_cov), "grid": rows, "chosen": chosen,
               "answerable_cosine_p10_p50": np.percentile(pos_cos, [10, 50]).round(3).tolist(),
               "unanswerable_best_cosine_p50_p90": np.percentile(neg_cos, [50, 90]).round(3).tolist()}
    print(write_results(args.out, args_settings(args), results, packages=("numpy", "sentence-transformers")))


if __name__ == "__main__":
    main()
