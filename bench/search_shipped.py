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
match-strength judgement included), the hybrid at k=10 on the first LATENCY_QUERIES test queries
after one warm-up query; the quality passes then encode each query once (memoised in the bench).
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
LATENCY_QUERIES = 60  # hybrid searches timed per suite and state
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
    """Copy a graph (the database and every <stem>.* file beside it: indexes, models, caches), but not
    its "<stem>.done" marker: the copy is only done once it has been trained (a run stopped while
    training must train it again, not read a half-trained graph as finished)."""
    for path in src_stem.parent.glob(src_stem.name + "*"):
        if path.name == src_stem.name + ".done":
            continue
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


def run_shipped_suite(sg, corpus: Corpus, suite: Suite, trained: bool, queries: list[Query],
                      latency_queries: int = LATENCY_QUERIES) -> dict:
    """Every mode over the queries: {mode: {metrics..., latency_ms}} (latency: hybrid at k=10)."""
    from bench.search_quality import mean_metrics, metrics

    out = {}
    searches = modes(sg, suite, trained)
    searches["hybrid"](queries[0], LATENCY_K)  # warm-up: models load, the lexical index syncs
    lat = []
    for q in queries[:latency_queries]:  # unmemoised: every call encodes its query
        start = time.perf_counter()
        searches["hybrid"](q, LATENCY_K)
        lat.append((time.perf_counter() - start) * 1000)
    _memoize_query_encoding(sg)
    for name, search in searches.items():
        rows = [metrics([corpus.suite_id(i) for i in search(q, CANDIDATES)], q.relevant) for q in queries]
        out[name] = mean_metrics(rows)
        print(f"  {suite.name} {'after' if trained else 'before'} {name}: {out[name]}", flush=True)
    if lat:  # --latency-queries 0 times nothing
        out["hybrid"]["latency_ms"] = {**percentiles(lat), "queries": len(lat), "k": LATENCY_K}
        print(f"  hybrid latency: {out['hybrid']['latency_ms']}", flush=True)
    return out


_QUERY_MEMO: dict = {}  # (text, image) -> encoded query: every graph here uses the same encoders


def _memo_file(workdir: Path, config) -> Path:
    key = hashlib.sha1(repr((config.text, config.image, config.lexical, config.fusion)).encode()).hexdigest()[:12]
    return workdir / f"queries-{key}.pkl"


def load_query_memo(workdir: Path, config) -> None:
    """Encoded queries kept between runs (by encoder configuration), so a rerun re-encodes nothing."""
    import pickle

    path = _memo_file(workdir, config)
    if path.exists():
        _QUERY_MEMO.update(pickle.loads(path.read_bytes()))


def save_query_memo(workdir: Path, config) -> None:
    import os
    import pickle

    path = _memo_file(workdir, config)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(_QUERY_MEMO))
    os.replace(tmp, path)


def _memoize_query_encoding(sg) -> None:
    """Encode each query once per graph for the quality passes (every mode encodes the same query; a
    MiniLM encode took 100-900 ms on the loaded shared machine). Latency is measured before this."""
    encoder = sg.encoder
    plain = encoder.encode_query

    def encode_query(text=None, image=None):
        if isinstance(image, bytes):
            image_key = hashlib.sha1(image).hexdigest()
        else:
            image_key = image if image is None or isinstance(image, str) else id(image)
        key = (text, image_key)
        if key not in _QUERY_MEMO:
            _QUERY_MEMO[key] = plain(text=text, image=image)
        return _QUERY_MEMO[key]
    encoder.encode_query = encode_query


def run_shipped(args, suites: list[Suite]) -> dict:
    """Every suite through ShopGraph.search, before and after training; results and the bars."""
    from shopgraph.config import Config, parse_overrides, with_overrides
    from shopgraph.queries.api import ShopGraph

    config = with_overrides(Config(), parse_overrides(args.set or []))
    train_overrides = parse_overrides(args.train_set or [])
    workdir = args.workdir / "shipped"
    results: dict = {"suites": {}, "graphs": {}}
    corpora = {s.name: corpus_for(args.data, s.name) for s in suites}
    workdir.mkdir(parents=True, exist_ok=True)
    load_query_memo(workdir, config)
    states = tuple(args.states.split(","))
    if args.tune:
        runs = []
        for state in states:
            for suite in suites:
                corpus = corpora[suite.name]
                path, _ = built_graph(corpus, workdir, config, state == "after", train_overrides,
                                      workdir / "vectors.cache.sqlite")
                sg = ShopGraph.open(path, config=config)
                try:
                    runs += dev_runs(sg, corpus, suite, f"{suite.name}/{state}")
                finally:
                    sg.close()
                save_query_memo(workdir, config)
                print(f"dev {suite.name} {state}: {len(runs)} runs", flush=True)
        _save_dev_runs(workdir, runs)
        results["fusion"] = tune_weights(runs)
        tuned = {"search.short_text_words": str(results["fusion"]["short_text_words"]["value"])}
        settings = ("short_text_words", "learned_agreement")
        tuned["search.learned_agreement"] = str(results["fusion"]["learned_agreement"]["value"])
        zscored = [c for k, c in results["fusion"].items() if k not in settings and c["fusion"] == "zscore"]
        if zscored:  # one setting for every kind: that of the zscore kind with the most dev queries
            tuned["search.zscore_rank_weight"] = str(max(zscored, key=lambda c: c["dev_queries"])["zscore_rank_weight"])
        for kind, choice in results["fusion"].items():
            if kind not in settings:
                tuned[f"search.{kind}_fusion"] = choice["fusion"]
                tuned[f"search.{kind}_weights"] = choice["weights"]
                tuned[f"search.{kind}_rrf_k"] = str(choice["rrf_k"])
        print("tuned: " + " ".join(f"--set '{k}={v}'" for k, v in tuned.items()), flush=True)
        config = with_overrides(config, tuned)
        if args.tune_only:
            return results
    for state in states:
        for suite in suites:
            corpus = corpora[suite.name]
            path, cost = built_graph(corpus, workdir, config, state == "after", train_overrides,
                                     workdir / "vectors.cache.sqlite")
            results["graphs"].setdefault(corpus.name, {}).update({state: path.name, **cost})
            print(f"{suite.name} {state}: {path.name} {cost}", flush=True)
            sg = ShopGraph.open(path, config=config)
            try:
                per = run_shipped_suite(sg, corpus, suite, state == "after", suite.test, args.latency_queries)
            finally:
                sg.close()
            save_query_memo(workdir, config)
            results["suites"].setdefault(suite.name, {"test_queries": len(suite.test),
                                                      "products": len(suite.corpus.ids)})[state] = per
    from bench.common import report_bars

    report_bars(results, shipped_bars(results))
    return results


def _save_dev_runs(workdir: Path, runs: list[DevRun]) -> None:
    """Keep the dev runs (bench/.work/shipped/dev-runs.pkl) so tune_weights can be rerun offline."""
    import pickle

    (workdir / "dev-runs.pkl").write_bytes(pickle.dumps(runs))


SINGLE_MODES = ("lexical", "vectors", "image", "learned", "e5")


def shipped_bars(results: dict) -> dict[str, bool]:
    """The issue's bars on the test queries: hybrid >= the best single mode per suite before and after
    training, model-number success@1 >= 0.98, zh_type NDCG@10 >= 0.80, abt_buy MRR >= 0.90 (before and
    after), no suite's hybrid NDCG@10 lower after training than before."""
    from bench.search_quality import BARS

    bars = {}
    for name, suite in results["suites"].items():
        for state in ("before", "after"):
            per = suite.get(state)
            if not per:
                continue
            hybrid = per["hybrid"]["ndcg@10"]
            singles = {m: per[m]["ndcg@10"] for m in SINGLE_MODES if m in per}
            best = max(singles, key=singles.get)
            bars[f"{name} {state}: hybrid {hybrid} >= best single ({best} {singles[best]})"] = hybrid >= singles[best] - 1e-9
        if suite.get("before") and suite.get("after"):
            b, a = suite["before"]["hybrid"]["ndcg@10"], suite["after"]["hybrid"]["ndcg@10"]
            bars[f"{name}: after train {a} >= before {b}"] = a >= b - 1e-9
    for label, (name, metric, floor) in BARS.items():
        for state in ("before", "after"):
            per = results["suites"].get(name, {}).get(state)
            if per:
                bars[f"{label} {state} >= {floor} ({per['hybrid'][metric]})"] = per["hybrid"][metric] >= floor
    return bars


# -- tuning the fusion weights on dev queries, through the shipped channels ------------------------------
WEIGHT_GRID = {"exact": (0.0, 0.5, 1.0, 2.0, 4.0), "bm25": (0.0, 0.5, 1.0, 2.0), "vector": (0.0, 0.25, 0.5, 1.0, 2.0),
               "learned": (0.0, 0.25, 0.5, 1.0)}
IMAGE_GRID = {"image": (1.0,), "vector": (0.0, 0.25, 0.5, 1.0), "learned": (0.0, 0.25, 0.5, 1.0)}
RRF_KS = (20.0, 60.0)
ZSCORE_RANK_WEIGHTS = (0.0, 10.0, 20.0, 40.0)  # zscore fusion: its rank part's weight (k 20)


@dataclass
class DevRun:
    """One dev query run through the shipped channels (every channel at weight 1): its kind, each
    channel's ranked suite ids, the ids put first (its own identifier's listings), its relevance."""

    group: str  # suite and state ("known_abt_buy/before")
    kind: str
    rankings: dict[str, list[str]]
    first: set[str]
    relevant: dict[str, int]
    text: str | None = None  # the query (None: a photo query), so kinds can be decided again
    scores: dict[str, list[float]] | None = None  # each channel's scores, as rankings (Outcome.scores)


def dev_runs(sg, corpus: Corpus, suite: Suite, group: str) -> list[DevRun]:
    from shopgraph.search.fusion import QUERY_KINDS
    from shopgraph.search.hybrid import hybrid_search

    every = {f"{kind}_weights": "image=1 vector=1 learned=1" if kind == "image" else "exact=1 bm25=1 vector=1 learned=1"
             for kind in QUERY_KINDS}
    shipped = sg.config
    sg.config = replace(shipped, search=replace(shipped.search, **every))
    _memoize_query_encoding(sg)
    out = []
    try:
        for q in suite.dev:
            o = hybrid_search(sg, q.text, q.image, filters=None, where=None, params=None, rank_by="hybrid",
                              depth=CANDIDATES)
            out.append(DevRun(group, o.kind, {c: [corpus.suite_id(i) for i in ids] for c, ids in o.rankings.items()},
                              {corpus.suite_id(h.id) for h in o.hits if h.first}, q.relevant, q.text,
                              {c: list(s) for c, s in o.scores.items()}))
    finally:
        sg.config = shipped
    return out


def fused_ids(run: DevRun, weights: dict[str, float], k: float, fusion: str = "rrf",
              rank_weight: float | None = None, agreement: int | None = None) -> list[str]:
    """What hybrid_search would return for these weights and fusion (same fusion, same learned-channel
    guard, same first-rule); rank_weight: zscore's, agreement: search.learned_agreement (None: the
    configuration's defaults)."""
    from shopgraph.config import SearchConfig
    from shopgraph.search.fusion import learned_agrees
    from shopgraph.search.hybrid import fuse

    kept = {c: w for c, w in weights.items() if w > 0 and c in run.rankings}
    agreement = SearchConfig.learned_agreement if agreement is None else agreement
    if "learned" in kept and not learned_agrees({c: run.rankings[c] for c in kept}, agreement):
        del kept["learned"]  # hybrid_search runs it, then leaves it out of the fusion
    scores = run.scores or {}
    scored = {c: list(zip(run.rankings[c], scores.get(c) or [0.0] * len(run.rankings[c]))) for c in kept}
    rank_weight = SearchConfig.zscore_rank_weight if rank_weight is None else rank_weight
    ids = [h.id for h in fuse(scored, kept, fusion, k, SearchConfig.zscore_top, rank_weight)]
    return [i for i in ids if i in run.first] + [i for i in ids if i not in run.first]


SHORT_WORDS = (0, 2, 3, 4)  # search.short_text_words tried (0: no short_text kind)
SPLIT_MARGIN = 0.005  # a short_text kind must gain this much objective over none to be kept (else: noise)


def run_kind(run: DevRun, short_words: int) -> str:
    """The kind ShopGraph.search gives a dev query under `short_words` (identifier and photo kinds
    do not depend on it)."""
    from shopgraph.search.fusion import query_kind

    if run.kind in ("identifier", "image") or run.text is None:
        return run.kind
    return query_kind(run.text, short_words=short_words)


def tune_weights(runs: list[DevRun], short_words_tried: tuple[int, ...] = SHORT_WORDS) -> dict[str, dict]:
    """Two stages on the dev runs.
    1. Per query kind, the fusion, weights and k of the untrained channels (learned at 0) with the best
       dev NDCG@10 averaged over groups (suite x before/after), less twice any group's shortfall
       against its best single mode (the bar: each channel alone, and the bench's `lexical` mode, the
       kind's own weights restricted to exact + BM25); and search.short_text_words: the threshold whose
       tuned short_text + text weights score best on the text queries together (same objective; a
       split must beat none by SPLIT_MARGIN).
    2. The learned channel (tune_learned): its weight per kind and search.learned_agreement, so that
       training makes no suite worse on dev with a margin the dev queries can tell from noise. Without
       trained graphs among a kind's runs, "learned" gets the vector channel's weight (training adds a
       channel; the agreement guard still holds it back where it disagrees).
    Returns {kind: choice, "short_text_words": {"value": ..., "objective": ...},
    "learned_agreement": {"value": ..., "lower_bounds": ...}}."""
    base = {run_kind(r, 0) for r in runs} - {"text"}
    chosen = {kind: _tune_kind(kind, [r for r in runs if run_kind(r, 0) == kind]) for kind in sorted(base)}
    texts = [r for r in runs if run_kind(r, 0) == "text"]
    best = None
    for short_words in short_words_tried:
        kinds = {id(r): run_kind(r, short_words) for r in texts}
        choice = {kind: _tune_kind(kind, [r for r in texts if kinds[id(r)] == kind])
                  for kind in sorted(set(kinds.values()))}
        objective = _objective(texts, lambda r: choice[kinds[id(r)]])
        print(f"short_text_words {short_words}: objective {objective:.4f}", flush=True)
        margin = 1e-9 if best is None or best[1] != 0 else SPLIT_MARGIN
        if best is None or objective > best[0] + margin:
            best = (objective, short_words, choice)
    if best is not None:
        chosen.update(best[2])
        if "short_text" not in chosen and "text" in chosen:  # no short kind chosen: the same weights
            chosen["short_text"] = dict(chosen["text"])
        chosen["short_text_words"] = {"value": best[1], "objective": round(float(best[0]), 4)}
    short_words = chosen.get("short_text_words", {}).get("value", 0)
    chosen["learned_agreement"] = tune_learned(runs, chosen, short_words)
    return chosen


LEARNED_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)  # the learned channel's weight, relative to the kind's own
LEARNED_AGREEMENTS = (0, 1, 3, 5, 10)  # search.learned_agreement tried (0: no guard)
BOOTSTRAP = 2000  # resamples of the paired after - before differences


def gain_lower_bound(after: list[float], before: list[float], resamples: int = BOOTSTRAP, seed: int = 17) -> float:
    """The 2.5% quantile of the mean of (after - before) over paired bootstrap resamples of the queries
    (fixed seed: deterministic): above 0, training gained on these queries by more than chance; 0 when
    every query scores the same."""
    d = np.asarray(after, float) - np.asarray(before, float)
    if not np.any(np.abs(d) > 1e-12):
        return 0.0
    rng = np.random.default_rng(seed)
    return float(np.percentile(d[rng.integers(0, len(d), (resamples, len(d)))].mean(axis=1), 2.5))


def _per_query(runs: list[DevRun], choose) -> dict[str, list[float]]:
    from bench.search_quality import metrics

    per: dict[str, list[float]] = {}
    for r in runs:
        weights, k, *rest = choose(r)
        per.setdefault(r.group, []).append(metrics(fused_ids(r, weights, k, *rest), r.relevant)["ndcg@10"])
    return per


def tune_learned(runs: list[DevRun], chosen: dict[str, dict], short_words: int = 0) -> dict:
    """Stage 2 of tune_weights: for each kind with trained dev runs, the learned weight (a multiple of
    LEARNED_WEIGHTS, added to the kind's stage-1 weights in `chosen`, which it updates) and one
    search.learned_agreement for all kinds. A setting is allowed when no suite's dev NDCG@10 after
    training can be told worse than before: for every suite, the paired bootstrap's lower bound of
    (after - before) is >= 0 (weight 0 always passes: after = before). Among those, the one with the
    largest sum over suites of that lower bound (the gain most surely above chance; ties: the larger
    mean NDCG after training, then the smaller agreement). Returns {"value", "lower_bounds"}."""
    kinds = {id(r): run_kind(r, short_words) for r in runs}
    by_group: dict[str, list[DevRun]] = {}
    for r in runs:
        by_group.setdefault(r.group, []).append(r)
    pairs_of: dict[str, list[tuple[DevRun, DevRun]]] = {}  # kind -> [(after run, the same query before)]
    for group, afters in by_group.items():
        befores = by_group.get(group[:-len("/after")] + "/before", []) if group.endswith("/after") else []
        for a, b in zip(afters, befores):  # dev_runs runs a suite's queries in the same order in each state
            if "learned" in a.rankings and a.text == b.text:
                pairs_of.setdefault(kinds[id(a)], []).append((a, b))
    best = None
    for agreement in LEARNED_AGREEMENTS:
        picks, total, mean_after, bounds = {}, 0.0, 0.0, {}
        for kind, pairs in sorted(pairs_of.items()):
            if kind not in chosen:
                continue
            choice = chosen[kind]
            base = _parse(choice["weights"])
            fusion, k, rank_weight = choice.get("fusion", "rrf"), choice["rrf_k"], choice.get("zscore_rank_weight")
            before = _per_query([b for _, b in pairs], lambda r: (base, k, fusion, rank_weight, agreement))
            kind_best = None
            for weight in LEARNED_WEIGHTS:
                w = {**base, "learned": weight}
                after = _per_query([a for a, _ in pairs], lambda r: (w, k, fusion, rank_weight, agreement))
                lows = {g[:-len("/after")]: gain_lower_bound(v, before[g[:-len("/after")] + "/before"])
                        for g, v in after.items()}
                if min(lows.values()) < 0:
                    continue
                key = (sum(lows.values()), float(np.mean([np.mean(v) for v in after.values()])), -weight)
                if kind_best is None or key > kind_best[0]:
                    kind_best = (key, weight, lows)
            picks[kind] = kind_best[1]
            total += kind_best[0][0]
            mean_after += kind_best[0][1]
            bounds.update({f"{kind}:{s}": round(v, 4) for s, v in kind_best[2].items()})
        key = (total, mean_after, -agreement)
        if best is None or key > best[0]:
            best = (key, agreement, picks, bounds)
    _, agreement, picks, bounds = best if best else (None, 0, {}, {})
    for kind, choice in chosen.items():
        if kind in ("short_text_words", "learned_agreement"):
            continue
        weights = {c: w for c, w in _parse(choice["weights"]).items() if c != "learned"}
        learned = picks.get(kind, weights.get("vector", 0.0))  # untrained on dev: as much as vector
        if learned > 0:
            weights["learned"] = learned
        choice["weights"] = " ".join(f"{c}={w:g}" for c, w in weights.items())
        mine = [r for r in runs if kinds[id(r)] == kind]
        if not mine:
            continue
        fusion, k, rank_weight = choice.get("fusion", "rrf"), choice["rrf_k"], choice.get("zscore_rank_weight")
        choice["dev_ndcg@10"] = {g: round(float(np.mean(v)), 4) for g, v in sorted(
            _per_query(mine, lambda r: (weights, k, fusion, rank_weight, agreement)).items())}
    print(f"tuned learned channel: weights {picks}, agreement {agreement}, lower bounds {bounds}", flush=True)
    return {"value": agreement, "lower_bounds": bounds}


def _group_scores(runs: list[DevRun], choose) -> dict[str, float]:
    """Mean dev NDCG@10 per group, each run fused by choose(run) -> (weights, k[, fusion])."""
    from bench.search_quality import metrics

    per: dict[str, list[float]] = {}
    for r in runs:
        weights, k, *fusion = choose(r)
        per.setdefault(r.group, []).append(metrics(fused_ids(r, weights, k, *fusion), r.relevant)["ndcg@10"])
    return {g: float(np.mean(v)) for g, v in per.items()}


def _objective(runs: list[DevRun], choice_of) -> float:
    """Mean over groups of NDCG@10 less twice the shortfall against the group's best single channel;
    choice_of(run) -> a _tune_kind result."""
    channels = sorted({c for r in runs for c in r.rankings})
    singles = [_group_scores(runs, lambda r, c=c: ({c: 1.0}, 60.0)) for c in channels]
    scores = _group_scores(runs, lambda r: (_parse(choice_of(r)["weights"]), choice_of(r)["rrf_k"],
                                            choice_of(r).get("fusion", "rrf"), choice_of(r).get("zscore_rank_weight")))
    return float(np.mean([scores[g] - 2 * max(0.0, max(s[g] for s in singles) - scores[g]) for g in scores]))


def _parse(spec: str) -> dict[str, float]:
    from shopgraph.search.fusion import parse_weights

    return parse_weights(spec)


def _tune_kind(kind: str, mine: list[DevRun]) -> dict:
    """Stage 1 of tune_weights for one kind: the grid point (fusion, weights, k) of the untrained
    channels with the best objective over its dev runs: mean NDCG@10 over groups less twice each
    group's shortfall against its best single mode, the bench's `lexical` mode (these weights
    restricted to exact + BM25, as bench `restricted` does) included; zscore only when the runs carry
    the channels' scores. The learned channel is tune_learned's (stage 2); with it at 0 a trained
    graph's run fuses as the untrained one's, so only "before" groups are scored where both exist."""
    import itertools

    from shopgraph.search.fusion import FUSIONS

    names_of = {r.group for r in mine}
    mine = [r for r in mine if not (r.group.endswith("/after") and r.group[:-len("/after")] + "/before" in names_of)]
    groups = sorted({r.group for r in mine})
    grid = {c: v for c, v in (IMAGE_GRID if kind == "image" else WEIGHT_GRID).items() if c != "learned"}
    if kind == "identifier":
        grid = {"exact": (1.0, 4.0), "bm25": (0.0, 1.0), "vector": (0.0, 0.25)}
    present = {c for r in mine for c in r.rankings}
    grid = {c: (v if c in present else (0.0,)) for c, v in grid.items()}  # absent channels: no choice
    names = list(grid)
    singles = {c: _group_scores(mine, lambda r, c=c: ({c: 1.0}, 60.0)) for c in names if c in present}
    best_single = {g: max(s[g] for s in singles.values()) for g in groups}
    fusions = FUSIONS if all(r.scores is not None for r in mine) else ("rrf",)
    lexical_modes: dict = {}  # (restricted weights, fusion, k, rank weight) -> group scores
    best = None
    for values in itertools.product(*(grid[n] for n in names)):
        weights = {n: v for n, v in zip(names, values) if v > 0}
        if not weights:
            continue
        lexical = {c: w for c, w in weights.items() if c in ("exact", "bm25")} or {"exact": 1.0, "bm25": 1.0}
        trials = [("rrf", k, None) for k in RRF_KS]
        trials += [("zscore", RRF_KS[0], w) for w in ZSCORE_RANK_WEIGHTS if "zscore" in fusions]
        for fusion, k, rank_weight in trials:
            scores = _group_scores(mine, lambda r: (weights, k, fusion, rank_weight))
            key = (tuple(sorted(lexical.items())), fusion, k, rank_weight)
            if kind != "image" and key not in lexical_modes:
                lexical_modes[key] = _group_scores(mine, lambda r: (lexical, k, fusion, rank_weight))
            floor = {g: max(best_single[g], lexical_modes[key][g] if kind != "image" else 0.0) for g in groups}
            objective = np.mean([scores[g] - 2 * max(0.0, floor[g] - scores[g]) for g in groups])
            if best is None or objective > best[0] + 1e-9:
                best = (objective, weights, k, scores, fusion, rank_weight)
    choice = {"fusion": best[4], "zscore_rank_weight": best[5], "weights": " ".join(f"{c}={w:g}" for c, w in best[1].items()), "rrf_k": best[2],
              "dev_queries": len(mine), "objective": round(float(best[0]), 4),
              "dev_ndcg@10": {g: round(v, 4) for g, v in best[3].items()},
              "best_single_dev": {g: round(v, 4) for g, v in best_single.items()}}
    print(f"tuned {kind}: {choice}", flush=True)
    return choice


def dev_scores(runs: list[DevRun], search_config) -> dict[str, float]:
    """Dev NDCG@10 per group of the stored dev runs (bench/.work/shipped/dev-runs.pkl) under a
    SearchConfig, offline, as ShopGraph.search would fuse them: compares two configurations, e.g.
    python -c "import pickle; from bench.search_shipped import *; from shopgraph.config import
    SearchConfig; print(dev_scores(pickle.load(open('bench/.work/shipped/dev-runs.pkl', 'rb')), SearchConfig()))"."""
    from shopgraph.search.hybrid import kind_fusion, kind_weights

    def choose(run: DevRun):
        kind = run_kind(run, search_config.short_text_words)
        weights, k = kind_weights(search_config, kind)
        return weights, k, kind_fusion(search_config, kind), search_config.zscore_rank_weight
    return _group_scores(runs, choose)
