"""Search quality through the shipped product: the suites of bench/search_suites.py run through
ShopGraph.search on real graphs, before and after `shopgraph train`.

    python -m bench.search_quality --shipped                       # every text suite + photo_flipkart
    python -m bench.search_quality --shipped --suites known_abt_buy,zh_type

Each suite's corpus is ingested through the real ingest (the data set's layout mapping where there is
one: deepmatcher's tableB, Flipkart, Grocery; the Chinese titles as a table of id and title only, so
the annotations the queries come from are not in the graph) into bench/.work/shipped/, one graph per
corpus, named by a hash of its source files and this module's ingest recipe (reused while they do
not change). The graph is then copied and trained with ShopGraph.train() (the CLI's `shopgraph
train`: alignment when products have images, then the GNN; epochs per --set, see --train-set), and
every suite runs on both copies.

Modes, each through the public API (test queries, k = CANDIDATES, ids mapped back to the suite's):
- hybrid: ShopGraph.search(text) with the shipped configuration (rank_by "hybrid");
- lexical: the same path with every query kind's weights restricted to exact + BM25
  (`search.<kind>_weights` overrides, as a user would --set them);
- vectors: ShopGraph.vector_search(the encoded query's fused vector) (the products' fused_vec);
- learned (after training, when an alignment was trained): ShopGraph.search(rank_by="auto");
- e5 (when the graph stores multilingual vectors): the hybrid restricted to the e5 channel;
- image (photo suites): ShopGraph.vector_search(the query photo's vector, prop="image_vec").
Latency: wall ms per ShopGraph.search call (query encoding, every channel, fusion, hydration and the
match-strength judgement included), the hybrid at k=10 after one warm-up query.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from bench.common import percentiles
from bench.search_suites import Query, Suite

CANDIDATES = 100
LATENCY_K = 10
RECIPE = "1"  # bump when the way a corpus is ingested changes (part of the graph's cache key)


@dataclass
class Corpus:
    """A corpus to ingest: name (the graph's), sources (how to ingest each) and the graph id prefix ->
    suite id prefix translation."""

    name: str
    files: list[Path]
    ingest: Callable  # ingest(sg) -> None
    prefixes: dict[str, str]

    def suite_id(self, graph_id: str) -> str:
        for graph_prefix, suite_prefix in self.prefixes.items():
            if graph_id.startswith(graph_prefix):
                return suite_prefix + graph_id[len(graph_prefix):]
        return graph_id


def _deepmatcher_b(data: Path, dataset: str):
    """tableB of a deepmatcher data set with its layout's mapping: (path, mapping, platform)."""
    from shopgraph.ingest.layouts import load_deepmatcher

    source = load_deepmatcher(data / "em" / dataset).products[1]
    return source.path, source.mapping, source.mapping.platform


def corpus_for(data: Path, suite: str) -> Corpus:
    """How the corpus of a suite is ingested (bench/search_suites.py builds the same products)."""
    flipkart_dir = data / "multimodal" / "flipkart_1050"
    if suite.startswith("known_"):
        path, mapping, platform = _deepmatcher_b(data, suite[len("known_"):])
        return Corpus(f"{suite[len('known_'):]}_b", [path], lambda sg: sg.ingest(path, mapping, progress=False),
                      {f"{platform}:": "b:"})
    if suite in ("flipkart_category", "photo_flipkart"):
        return Corpus("flipkart", sorted(flipkart_dir.glob("*.csv")),
                      lambda sg: sg.ingest_dataset(flipkart_dir, "flipkart", progress=False), {"flipkart:": "fk:"})
    if suite == "photo_grocery":
        root = data / "multimodal" / "grocery_store"
        return Corpus("grocery", [root / "products.csv"],
                      lambda sg: sg.ingest_dataset(root, "grocery", progress=False), {"grocery:": "gr:"})
    if suite == "model_numbers":
        tables = [(d, *_deepmatcher_b(data, d)) for d in ("abt_buy", "amazon_google", "wdc_computers")]

        def ingest(sg):
            sg.ingest_dataset(flipkart_dir, "flipkart", progress=False)
            for _, path, mapping, _ in tables:
                sg.ingest(path, mapping, progress=False)
        return Corpus("model_numbers", [*sorted(flipkart_dir.glob("*.csv")), *(t[1] for t in tables)], ingest,
                      {"flipkart:": "fk:", **{f"{p}:": f"{d}:B:" for d, _, _, p in tables}})
    if suite in ("zh_type", "zh_brand_type"):
        path = data / "zh" / "ecommerce_titles" / "titles_with_entities.tsv"

        def ingest(sg):
            import pandas as pd

            titles = pd.read_csv(path, sep="\t", usecols=["title"], dtype=str, keep_default_na=False)
            table = pd.DataFrame({"id": [str(i) for i in range(len(titles))], "title": titles["title"]})
            sg.ingest(table, {"platform": "zh", "id": "id", "title": "title"}, progress=False, source_name=path.name)
        return Corpus("zh", [path], ingest, {"zh:": "zh:"})
    raise ValueError(f"no shipped corpus for suite {suite}")


def _content_key(corpus: Corpus, extra: str) -> str:
    h = hashlib.sha1(f"{RECIPE}|{corpus.name}|{extra}".encode())
    for path in corpus.files:
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _copy_graph(src_stem: Path, dst_stem: Path) -> None:
    """Copy a graph (the database and every <stem>.* file beside it: indexes, models, caches)."""
    for path in src_stem.parent.glob(src_stem.name + "*"):
        target = dst_stem.parent / (dst_stem.name + path.name[len(src_stem.name):])
        if path.is_dir():
            shutil.copytree(path, target)
        else:
            shutil.copy2(path, target)


def built_graph(corpus: Corpus, workdir: Path, config, trained: bool, train_overrides: dict[str, str],
                shared_cache: Path) -> tuple[Path, dict]:
    """The graph of a corpus (ingested, and trained when `trained`), built once and kept by content
    hash: (database path, what building it cost)."""
    from shopgraph.config import with_overrides
    from shopgraph.errors import ShopGraphError
    from shopgraph.queries.api import ShopGraph

    workdir.mkdir(parents=True, exist_ok=True)
    config_key = repr((config.text, config.image, config.multilingual, config.fusion, config.lexical))
    key = _content_key(corpus, config_key)
    plain = workdir / f"{corpus.name}-{key}.db"
    cost: dict = {}
    if not (workdir / f"{plain.name}.done").exists():
        for stale in workdir.glob(plain.name + "*"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        start = time.perf_counter()
        sg = ShopGraph.open(plain, config=config)
        sg._cache_path = shared_cache  # one vector cache for every corpus graph (the same titles recur)
        corpus.ingest(sg)
        sg.close()
        cost["ingest_s"] = round(time.perf_counter() - start, 1)
        (workdir / f"{plain.name}.done").write_text("ok\n")
    if not trained:
        return plain, cost
    train_key = hashlib.sha1(repr(sorted(train_overrides.items())).encode()).hexdigest()[:8]
    done = plain.with_name(f"{corpus.name}-{key}-trained-{train_key}.db")
    if not (workdir / f"{done.name}.done").exists():
        for stale in workdir.glob(done.name + "*"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        _copy_graph(plain, done)
        start = time.perf_counter()
        sg = ShopGraph.open(done, config=with_overrides(config, train_overrides))
        cost["train"] = []
        try:
            # as `shopgraph train` does, but each part on its own: a catalog with nothing for the GNN to
            # learn from (no brands, categories, interactions or pairs) still gets its alignment
            for part in ({"align": True, "gnn": False}, {"align": False, "gnn": True}):
                try:
                    cost["train"] += [str(r) for r in sg.train(**part)]
                except ShopGraphError as e:
                    cost["train"].append(f"{'alignment' if part['align'] else 'gnn'}: {e}")
        finally:
            sg.close()
        cost["train_s"] = round(time.perf_counter() - start, 1)
        (workdir / f"{done.name}.done").write_text("ok\n")
    return done, cost


# -- modes ---------------------------------------------------------------------------------------------
def restricted(config, channels: tuple[str, ...]):
    """config with every query kind's fusion weights restricted to `channels` (those the kind weighs;
    a kind weighing none of them gets each at 1)."""
    from shopgraph.search.fusion import QUERY_KINDS, parse_weights

    changes = {}
    for kind in QUERY_KINDS:
        weights = parse_weights(getattr(config.search, f"{kind}_weights"))
        kept = {c: w for c, w in weights.items() if c in channels and w > 0} or {c: 1.0 for c in channels}
        changes[f"{kind}_weights"] = " ".join(f"{c}={w}" for c, w in kept.items())
    return replace(config, search=replace(config.search, **changes))


def modes(sg, suite: Suite, trained: bool) -> dict[str, Callable[[Query, int], list[str]]]:
    """Mode name -> search(query, k) -> graph product ids, best first."""
    shipped = sg.config

    def hybrid_with(config):
        def search(q: Query, k: int) -> list[str]:
            sg.config = config
            try:
                return [r.product.id for r in sg.search(text=q.text, image=q.image, k=k)]
            finally:
                sg.config = shipped
        return search

    out: dict[str, Callable] = {"hybrid": hybrid_with(shipped)}
    if suite.kind == "text":
        out["lexical"] = hybrid_with(restricted(shipped, ("exact", "bm25")))

        def vectors(q: Query, k: int) -> list[str]:
            query = sg.encoder.encode_query(text=q.text)
            return [r.product.id for r in sg.vector_search(query["fused"], k)]
        out["vectors"] = vectors
    else:
        def image(q: Query, k: int) -> list[str]:
            query = sg.encoder.encode_query(image=q.image)
            return [r.product.id for r in sg.vector_search(query["image"], k, prop="image_vec")]
        out["image"] = image

        def vectors(q: Query, k: int) -> list[str]:
            query = sg.encoder.encode_query(image=q.image)
            return [r.product.id for r in sg.vector_search(query["fused"], k)]
        out["vectors"] = vectors
    if trained and sg.aligner is not None:
        out["learned"] = lambda q, k: [r.product.id for r in sg.search(text=q.text, image=q.image, k=k,
                                                                          rank_by="auto")]
    return out


def run_shipped_suite(sg, corpus: Corpus, suite: Suite, trained: bool, queries: list[Query]) -> dict:
    """Every mode over the queries: {mode: {metrics..., latency_ms}} (latency: hybrid at k=10)."""
    from bench.search_quality import mean_metrics, metrics

    out = {}
    for name, search in modes(sg, suite, trained).items():
        search(queries[0], LATENCY_K)  # warm-up: models load, the lexical index syncs
        rows, ms = [], []
        for q in queries:
            start = time.perf_counter()
            ids = search(q, CANDIDATES)
            ms.append((time.perf_counter() - start) * 1000)
            rows.append(metrics([corpus.suite_id(i) for i in ids], q.relevant))
        out[name] = {**mean_metrics(rows), "latency_ms_k100": percentiles(ms)}
        if name == "hybrid":
            lat = []
            for q in queries:
                start = time.perf_counter()
                search(q, LATENCY_K)
                lat.append((time.perf_counter() - start) * 1000)
            out[name]["latency_ms"] = percentiles(lat)
        print(f"  {suite.name} {'after' if trained else 'before'} {name}: {out[name]}", flush=True)
    return out


def run_shipped(args, suites: list[Suite]) -> dict:
    """Every suite through ShopGraph.search, before and after training; results and the bars."""
    from shopgraph.config import Config, parse_overrides, with_overrides
    from shopgraph.queries.api import ShopGraph

    config = with_overrides(Config(), parse_overrides(args.set or []))
    train_overrides = parse_overrides(args.train_set or [])
    workdir = args.workdir / "shipped"
    results: dict = {"suites": {}, "graphs": {}}
    corpora = {s.name: corpus_for(args.data, s.name) for s in suites}
    for state in ("before", "after"):
        for suite in suites:
            corpus = corpora[suite.name]
            path, cost = built_graph(corpus, workdir, config, state == "after", train_overrides,
                                     workdir / "vectors.cache.sqlite")
            results["graphs"].setdefault(corpus.name, {}).update({state: path.name, **cost})
            print(f"{suite.name} {state}: {path.name} {cost}", flush=True)
            sg = ShopGraph.open(path, config=config)
            try:
                per = run_shipped_suite(sg, corpus, suite, state == "after", suite.test)
            finally:
                sg.close()
            results["suites"].setdefault(suite.name, {"test_queries": len(suite.test),
                                                      "products": len(suite.corpus.ids)})[state] = per
    return results
