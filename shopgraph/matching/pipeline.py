"""The matching pipeline over a store: labels from the graph, training, matching, review.

Labels live in the graph: SAME_AS edges with status "label" or "accepted" are matches, DIFFERENT_FROM
edges are non-matches (known negatives and rejected matches). Training reads them, plus hard
negatives from blocking (a labelled product's other candidates), so a review decision is a label the
next time `train_matcher` runs. Matching blocks, scores and writes SAME_AS {score, method,
model_version, status, evidence}: status "matched" at or above the threshold, "review" between
review_low and the threshold. Edges a person or a label decided are never overwritten, and a pair a
person rejected is never proposed again.
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shopgraph.errors import BadArgumentError
from shopgraph.graph.store import GraphBatch
from shopgraph.matching.blocking import DEPTH_PER_K, Candidates, block, default_rerank_pool, rerank, widen
from shopgraph.matching.features import PairFeaturizer
from shopgraph.matching.listings import Listings, listings_from_store
from shopgraph.matching.ready import READY_METHOD, provenance, ranker_for
from shopgraph.matching.scorer import PairScorer, ScorerConfig
from shopgraph.matching import workers as workers_mod
from shopgraph.matching.workers import resolve as resolve_workers

METHOD = "shopgraph-gbt"
DECIDED = ("label", "accepted")  # statuses a matching run never overwrites
HARD_NEGATIVES_PER_PRODUCT = 5
WRITE_BATCH = 5000
# `match --train`'s trees: rounds by 5-fold cross-validation over all the labelled train pairs, then
# one model refit on all of them (ScorerConfig.stop_folds), instead of stopping on a random 15% of
# them: on the five em benchmarks' valid splits, mean of 3 seeds, 0.8845 -> 0.8874 (Amazon-Google
# 0.754 -> 0.766, the others level), for about 4x the training time (docs/benchmarks.md).
TRAIN_CONFIG = ScorerConfig(stop_folds=5)


@dataclass
class MatchReport:
    """What one matching run did; `render()` is the CLI's summary."""

    source: str
    target: str
    source_products: int = 0
    candidates: int = 0
    matched: int = 0
    review: int = 0
    skipped_decided: int = 0
    model_version: str = ""
    scorer_kind: str = ""   # "ready" (shipped with shopgraph, trained on other catalogs) or "trained"
    rerank_version: str | None = None   # the scorer that ordered the rerank pool, when not the deciding one
    rerank_pool: int = 0                # fused candidates per listing re-ranked (0: none)
    workers: int = 1                    # cores the run used (threads for blocking, processes for features)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def candidates_per_product(self) -> float:
        return self.candidates / self.source_products if self.source_products else 0.0

    def render(self) -> str:
        kind = {"ready": ", the ready scorer shipped with shopgraph: train one on your labels with --train"}.get(
            self.scorer_kind, "")
        rerank = f", rerank pool ordered by {self.rerank_version}" if self.rerank_version else ""
        pool = (f"the scorer re-ranked the fused top {self.rerank_pool} per product" if self.rerank_pool
                else "fused blocking, no re-ranking")
        lines = [f"{self.source} -> {self.target}  (model {self.model_version}{kind}{rerank})",
                 f"source products      {self.source_products:>10,}",
                 f"candidates           {self.candidates:>10,}  ({self.candidates_per_product:.1f} per product; "
                 f"{pool})",
                 f"matched              {self.matched:>10,}",
                 f"waiting for review   {self.review:>10,}",
                 f"kept (decided)       {self.skipped_decided:>10,}",
                 f"workers              {self.workers:>10,}"]
        lines += [f"seconds {stage:<12} {s:>10.1f}" for stage, s in self.seconds.items()]
        return "\n".join(lines)


def platforms(store) -> list[str]:
    return [r["name"] for r in store.cypher("MATCH (p:Platform) RETURN p.name AS name ORDER BY name")]


def _check_platforms(store, source: str, target: str) -> None:
    known = platforms(store)
    for name in (source, target):
        if name not in known:
            raise BadArgumentError(f"no platform {name!r}; known: {', '.join(known) or 'none'}")
    if source == target:
        raise BadArgumentError("source and target must be different platforms")


def graph_labels(store, source: str, target: str) -> dict[tuple[str, str], int]:
    """{(source id, target id): 1 or 0} from SAME_AS (label/accepted) and DIFFERENT_FROM edges in
    either direction between the two platforms."""
    labels: dict[tuple[str, str], int] = {}
    queries = (
        ("MATCH (a:Product)-[e:SAME_AS]-(b:Product) WHERE a.platform = $s AND b.platform = $t "
         "AND e.status IN $decided RETURN a.id AS a, b.id AS b", 1),
        ("MATCH (a:Product)-[e:DIFFERENT_FROM]-(b:Product) WHERE a.platform = $s AND b.platform = $t "
         "RETURN a.id AS a, b.id AS b", 0),
    )
    for query, label in queries:
        for row in store.cypher(query, {"s": source, "t": target, "decided": list(DECIDED)}):
            labels[(row["a"], row["b"])] = label  # a rejection read second wins over an old label
    return labels


def _split(keys: list[tuple[str, str]], valid_share: float) -> np.ndarray:
    """Deterministic train/valid assignment by source product (True = valid), so one product's
    pairs never straddle the split."""
    return np.array([(zlib.crc32(a.encode()) % 1000) / 1000 < valid_share for a, _ in keys])


def training_pairs(featurizer: PairFeaturizer, left: Listings, right: Listings,
                   labels: dict[tuple[str, str], int], k: int) -> tuple[np.ndarray, np.ndarray, list]:
    """(rows (m, 2), labels (m,), keys) from the graph labels plus hard negatives: the top blocking
    candidates of each labelled source product that no label calls a match."""
    li, ri = left.index_of(), right.index_of()
    pairs = {(li[a], ri[b]): y for (a, b), y in labels.items() if a in li and b in ri}
    positive_rows = {r for (r, _), y in pairs.items() if y == 1}
    if positive_rows:
        candidates = block(featurizer, k)
        added: dict[int, int] = {}
        for i, j in candidates.rows:
            i, j = int(i), int(j)
            if i in positive_rows and (i, j) not in pairs and added.get(i, 0) < HARD_NEGATIVES_PER_PRODUCT:
                pairs[(i, j)] = 0
                added[i] = added.get(i, 0) + 1
    rows = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    y = np.array([pairs[(int(i), int(j))] for i, j in rows], dtype=np.int64)
    keys = [(left.ids[i], right.ids[j]) for i, j in rows]
    return rows, y, keys


def train_matcher(store, source: str, target: str, model_path: str | Path, *, k: int = 20,
                  config: ScorerConfig = TRAIN_CONFIG, valid_share: float = 0.2,
                  base: PairScorer | None = None) -> PairScorer:
    """Train the pair scorer on the graph's labels between two platforms and save it to model_path.

    base: a fitted scorer (the ready scorer, by default when it loads) to fine-tune: a fresh scorer
    and one continuing base's trees are fitted and averaged (fit_scorer; metrics["start"] says so)."""
    from shopgraph.errors import ConfigError
    from shopgraph.matching.ready import ready_scorer

    _check_platforms(store, source, target)
    labels = graph_labels(store, source, target)
    if sum(labels.values()) < 5:
        raise BadArgumentError(f"only {sum(labels.values())} known matches between {source} and {target}; "
                               f"label or accept at least 5 to train (until then `match` uses the ready "
                               f"scorer shipped with shopgraph, or --model a scorer trained on another graph)")
    left, right = listings_from_store(store, source), listings_from_store(store, target)
    featurizer = PairFeaturizer(left, right)
    rows, y, keys = training_pairs(featurizer, left, right, labels, k)
    valid = _split(keys, valid_share)
    if y[valid].sum() == 0 or y[~valid].sum() == 0:  # tiny label sets: fall back to every other product
        valid = np.arange(len(y)) % 5 == 0
    x = featurizer.features(rows)
    if base is None:
        try:
            base = ready_scorer()
        except ConfigError:
            base = None
    scorer = fit_scorer(x[~valid], y[~valid], x[valid], y[valid], base, config)
    scorer.metrics.update({"kind": "trained", "source": source, "target": target, "labels": int(len(labels))})
    scorer.save(model_path)
    return scorer


def fit_scorer(x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray,
               base: PairScorer | None, config: ScorerConfig = TRAIN_CONFIG) -> PairScorer:
    """The scorer `match --train` keeps: fitted fresh on the train pairs and, when a base scorer
    (the ready one) is given, also continued from base's trees on them; the two joined by their mean
    log-odds (PairScorer.averaged), threshold on the valid pairs. (Joined rather than the better
    one kept: on the five em benchmarks' valid splits the join was as good or better on every one,
    docs/benchmarks.md.) metrics["start"] says which."""
    scorer = PairScorer(config).fit(x_train, y_train, x_valid, y_valid)
    scorer.metrics["start"] = "fresh"
    if base is None:
        return scorer
    tuned = PairScorer(config).fit(x_train, y_train, x_valid, y_valid, init=base)
    joined = PairScorer.averaged([scorer, tuned], x_valid, y_valid)
    joined.metrics["start"] = f"fresh and fine-tuned from {base.version}, averaged"
    return joined


def one_to_one_labels(labels: dict[tuple[str, str], int]) -> bool:
    """Whether the known matches pair each listing with at most one of the other platform (both
    catalogs list each product once); True when there are none."""
    positives = [key for key, y in labels.items() if y == 1]
    return all(len({key[side] for key in positives}) == len(positives) for side in (0, 1))


def validation_scores(store, scorer: PairScorer, source: str, target: str, *, k: int = 20,
                      valid_share: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """(scores, labels) of the validation pairs: for a scorer trained on this platform pair, the
    held-out share train_matcher chose it on; for any other scorer (the ready one, one from another
    graph) every labelled pair with its hard negatives, since it saw none of them."""
    _check_platforms(store, source, target)
    labels = graph_labels(store, source, target)
    left, right = listings_from_store(store, source), listings_from_store(store, target)
    featurizer = PairFeaturizer(left, right)
    rows, y, keys = training_pairs(featurizer, left, right, labels, k)
    if (scorer.metrics.get("source"), scorer.metrics.get("target")) == (source, target):
        valid = _split(keys, valid_share)
        if y[valid].sum() == 0 or y[~valid].sum() == 0:
            valid = np.arange(len(y)) % 5 == 0
        rows, y = rows[valid], y[valid]
    return (scorer.predict(featurizer.features(rows)) if len(rows) else np.zeros(0)), y


def scored_candidates(featurizer: PairFeaturizer, scorer: PairScorer, k: int, rerank_pool: int = 0,
                      rows=None, seconds: dict | None = None,
                      ranker: PairScorer | None = None) -> tuple[Candidates, np.ndarray, np.ndarray]:
    """(candidates, their features (m, F), their scores (m,) by `scorer`) of blocking at k (for the
    source rows given, or all). rerank_pool > k: the fused top rerank_pool per listing are scored by
    `ranker` (default scorer; ready.ranker_for picks the shipped rerank scorer for the ready one),
    widened by the look-alikes of the candidates the ranker is sure of (blocking.widen), and re-ranked
    by those scores (blocking.rerank), so k places still go to each listing; the kept candidates' scores
    are then `scorer`'s (the ranker only orders). Costs the features of rerank_pool pairs per listing
    instead of k, plus a blocking of the lenders against their own catalog and the features of the
    look-alike pairs. seconds: filled with the "blocking", "features" (the pool's) and "scoring" (the
    rest: trees, widening, re-ranking; the look-alikes' blocking counts here) times."""
    seconds = {} if seconds is None else seconds
    ranker = scorer if ranker is None else ranker
    t0 = time.perf_counter()
    deep = rerank_pool > k
    # A deeper pool votes exactly as blocking at k does (same depth), only its lists are longer.
    if deep:
        candidates = block(featurizer, rerank_pool, depth=DEPTH_PER_K * k, rows=rows)
    else:
        candidates = block(featurizer, k, rows=rows)
    seconds["blocking"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    x = featurizer.features(candidates.rows)
    seconds["features"] = time.perf_counter() - t0
    if deep:
        # The pool widened by the look-alikes of the listings the ranker is sure of (blocking.widen);
        # it is ordered by the ranker's scores, but each kept pair carries its own features and the
        # deciding scorer's score.
        pool_scores = ranker.predict(x)
        wide, rank_scores, from_pool = widen(featurizer, candidates, pool_scores,
                                             lambda f, pairs: ranker.predict(f.features(pairs)))
        chosen = rerank(wide, rank_scores, k, fused=from_pool >= 0)
        candidates, from_pool = Candidates(wide.rows[chosen], wide.fused[chosen]), from_pool[chosen]
        fresh = from_pool < 0
        own_x = np.empty((len(candidates), x.shape[1]), dtype=x.dtype)
        own_x[~fresh] = x[from_pool[~fresh]]
        if fresh.any():
            own_x[fresh] = featurizer.features(candidates.rows[fresh])
        x = own_x
    if deep and ranker is scorer:  # the pool's scores are already the deciding ones: score only the look-alikes
        scores = np.empty(len(candidates), dtype=np.float64)
        scores[~fresh] = pool_scores[from_pool[~fresh]]
        if fresh.any():
            scores[fresh] = scorer.predict(x[fresh])
    else:
        scores = scorer.predict(x, workers=getattr(featurizer, "workers", 1)) if len(x) else np.zeros(0)
    seconds["scoring"] = time.perf_counter() - t0 - seconds["features"]
    return candidates, x, scores


def _pool_and_ranker(scorer: PairScorer, rerank_pool: int | None, n_left: int, n_right: int,
                     k: int) -> tuple[int, PairScorer]:
    """(the rerank pool, the scorer that orders it) of a match: None asks default_rerank_pool of the
    two platforms' sizes; with a pool deeper than k the ranker is ready.ranker_for(scorer), else scorer."""
    if rerank_pool is None:
        rerank_pool = default_rerank_pool(n_left, n_right, k)
    return rerank_pool, ranker_for(scorer) if rerank_pool > k else scorer


def match_platforms(store, scorer: PairScorer, source: str, target: str, *, k: int = 20,
                    write: bool = True, one_to_one: bool | None = None,
                    rerank_pool: int | None = None, workers: int | None = None) -> tuple[MatchReport, list[dict]]:
    """Match every source listing against the target platform; returns the report and the proposed
    matches [{src, dst, score, status, evidence, scorer}] (status "matched" or "review"), best first.
    rerank_pool > k: the scorer re-ranks that many fused candidates per listing before k are kept
    (scored_candidates); 0: no re-ranking; None: blocking.default_rerank_pool of the two platforms'
    sizes (on for small platforms).

    one_to_one: each listing is matched to at most one of the other platform (greedily, best score
    first; a pair that would reuse a listing goes to review instead). None: on when the known labels
    are one-to-one (or there are none).

    workers: cores the run may use (config matching.workers; 0 or None: the cores available, 1: this
    thread only; shopgraph/matching/workers.py): blocking's top lists in threads, the features of a
    large run in forked processes. The proposals are the same whatever the number."""
    _check_platforms(store, source, target)
    report = MatchReport(source, target, model_version=scorer.version,
                         scorer_kind=scorer.metrics.get("kind", "trained"))
    t0 = time.perf_counter()
    left, right = listings_from_store(store, source), listings_from_store(store, target)
    report.source_products = len(left)
    if not len(left) or not len(right):
        return report, []
    report.seconds["load"] = time.perf_counter() - t0
    with workers_mod.long_lived(left, right):
        return _match_loaded(store, scorer, source, target, left, right, report, k, write, one_to_one,
                             rerank_pool, workers)


def _match_loaded(store, scorer, source, target, left, right, report, k, write, one_to_one, rerank_pool,
                  workers) -> tuple[MatchReport, list[dict]]:
    """match_platforms past the load (same arguments), with the garbage collector told that the
    listings and the featurizer live for the whole run (workers.long_lived)."""
    t0 = time.perf_counter()
    featurizer = PairFeaturizer(left, right)
    workers_mod.settle()
    featurizer.workers = report.workers = resolve_workers(workers)
    report.seconds["featurizer"] = time.perf_counter() - t0
    rerank_pool, ranker = _pool_and_ranker(scorer, rerank_pool, len(left), len(right), k)
    report.rerank_pool = rerank_pool if rerank_pool > k else 0
    report.rerank_version = ranker.version if ranker is not scorer else None
    candidates, x, scores = scored_candidates(featurizer, scorer, k, rerank_pool, seconds=report.seconds,
                                              ranker=ranker)
    report.candidates = len(candidates)
    t0 = time.perf_counter()
    keep = np.where(scores >= scorer.review_low)[0]
    labels = graph_labels(store, source, target)
    decided = set(labels)
    if one_to_one is None:
        one_to_one = one_to_one_labels(labels)
    who = provenance(scorer, ranker)
    proposals = []
    evidence = scorer.evidence(x[keep], details=featurizer.conflicts(candidates.rows[keep])) if len(keep) else []
    report.seconds["evidence"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for n, r in enumerate(keep):
        i, j = candidates.rows[r]
        key = (left.ids[i], right.ids[j])
        if key in decided:
            report.skipped_decided += 1
            continue
        status = "matched" if scores[r] >= scorer.threshold else "review"
        proposals.append({"src": key[0], "dst": key[1], "score": float(scores[r]), "status": status,
                          "evidence": evidence[n], "scorer": who})
    proposals.sort(key=lambda p: (-p["score"], p["src"], p["dst"]))
    if one_to_one:
        # Decided matches hold their listings first.
        used = {side: {key[side] for key, y in labels.items() if y == 1} for side in (0, 1)}
        for p in proposals:
            if p["status"] != "matched":
                continue
            if p["src"] in used[0] or p["dst"] in used[1]:
                p["status"] = "review"
            else:
                used[0].add(p["src"])
                used[1].add(p["dst"])
    report.matched = sum(p["status"] == "matched" for p in proposals)
    report.review = len(proposals) - report.matched
    if write:
        write_matches(store, proposals, scorer.version,
                      READY_METHOD if scorer.metrics.get("kind") == "ready" else METHOD)
    report.seconds["writing"] = time.perf_counter() - t0
    return report, proposals


def write_matches(store, proposals: list[dict], model_version: str, method: str = METHOD) -> None:
    """SAME_AS edges for proposals ({src, dst, score, status, evidence}), in batches."""
    rows = [{"src": p["src"], "dst": p["dst"], "score": p["score"], "method": method,
             "model_version": model_version, "status": p["status"],
             "evidence": json.dumps(p["evidence"], separators=(",", ":"))} for p in proposals]
    for start in range(0, len(rows), WRITE_BATCH):
        store.write(GraphBatch(relationships={"SAME_AS": rows[start:start + WRITE_BATCH]}))


def platform_pair(store, source: str, target: str) -> tuple[Listings, Listings, PairFeaturizer]:
    """Both platforms' listings and their featurizer: what matching any product between them needs."""
    _check_platforms(store, source, target)
    left, right = listings_from_store(store, source), listings_from_store(store, target)
    return left, right, PairFeaturizer(left, right)


def match_product(store, scorer: PairScorer, product_id: str, platform: str, *, k: int = 20,
                  limit: int = 5, prepared: tuple[Listings, Listings, PairFeaturizer] | None = None,
                  rerank_pool: int | None = None) -> list[dict]:
    """The best `limit` target listings on `platform` for one product, each with score, status
    ("matched", "review" or "no match") and evidence; nothing is written. prepared: the
    `platform_pair` of the product's platform and `platform`, when the caller keeps one. rerank_pool:
    as match_platforms; None decides by the sizes of the product's whole platform and the target,
    so one product gets the pool size a platform run gives it."""
    rows = store.get_nodes("Product", [product_id], ["id", "platform"])
    if not rows:
        raise BadArgumentError(f"no product with id {product_id!r}")
    source = rows[0]["platform"]
    _check_platforms(store, source, platform)
    # The whole source platform, not just the product: the graph-context features rank a pair among
    # every alternative on both sides, as they did when the scorer was trained.
    left, right, featurizer = prepared or platform_pair(store, source, platform)
    if not len(right) or product_id not in left.index_of():
        return []
    rerank_pool, ranker = _pool_and_ranker(scorer, rerank_pool, len(left), len(right), k)
    candidates, x, scores = scored_candidates(featurizer, scorer, k, rerank_pool, rows=[left.index_of()[product_id]],
                                              ranker=ranker)
    order = np.argsort(-scores, kind="stable")[:limit]
    evidence = scorer.evidence(x[order], details=featurizer.conflicts(candidates.rows[order]))
    out = []
    for n, r in enumerate(order):
        s = float(scores[r])
        status = "matched" if s >= scorer.threshold else "review" if s >= scorer.review_low else "no match"
        out.append({"src": product_id, "dst": right.ids[candidates.rows[r][1]], "score": s, "status": status,
                    "evidence": evidence[n], "scorer": provenance(scorer, ranker)})
    return out


def review_queue(store, limit: int = 50) -> list[dict]:
    """SAME_AS edges waiting for a person, highest score first: [{src, dst, score, src_title,
    dst_title, evidence}]."""
    rows = store.cypher(
        "MATCH (a:Product)-[e:SAME_AS]->(b:Product) WHERE e.status = 'review' "
        "RETURN a.id AS src, b.id AS dst, e.score AS score, a.title AS src_title, b.title AS dst_title, "
        "e.evidence AS evidence ORDER BY score DESC, src, dst LIMIT $limit", {"limit": int(limit)})
    for r in rows:
        r["evidence"] = json.loads(r["evidence"]) if r["evidence"] else []
    return rows


def review_waiting(store) -> int:
    """How many SAME_AS edges wait for a person (the whole queue, not one page of it)."""
    rows = store.cypher("MATCH (a:Product)-[e:SAME_AS]->(b:Product) WHERE e.status = 'review' RETURN count(e) AS n")
    return int(rows[0]["n"]) if rows else 0


def decide(store, src: str, dst: str, accept: bool) -> str:
    """Record a person's decision on a proposed match. Accept: the SAME_AS edge becomes "accepted".
    Reject: the edge is removed and a DIFFERENT_FROM edge remembers the "no". Returns the new state."""
    found = store.cypher("MATCH (a:Product {id: $a})-[e:SAME_AS]-(b:Product {id: $b}) RETURN e.status AS status",
                         {"a": src, "b": dst})
    if not found:
        raise BadArgumentError(f"no proposed match between {src!r} and {dst!r}")
    # Directed patterns, both ways: the store cannot update or delete through an undirected match.
    for a, b in ((src, dst), (dst, src)):
        where = {"a": a, "b": b}
        if accept:
            store.cypher("MATCH (a:Product {id: $a})-[e:SAME_AS]->(b:Product {id: $b}) SET e.status = 'accepted'",
                         where, allow_write=True)
        else:
            store.cypher("MATCH (a:Product {id: $a})-[e:SAME_AS]->(b:Product {id: $b}) DELETE e", where,
                         allow_write=True)
    if accept:
        return "accepted"
    store.write(GraphBatch(relationships={"DIFFERENT_FROM": [
        {"src": src, "dst": dst, "method": "review", "model_version": ""}]}))
    return "rejected"


# What a review decision changes: the SAME_AS edge (status, or removed) and DIFFERENT_FROM (written).
DECIDED_TYPES = ("SAME_AS", "DIFFERENT_FROM")


def pair_edges(store, src: str, dst: str) -> dict[str, list[dict]]:
    """Every SAME_AS and DIFFERENT_FROM edge between two products, either way round, with all their
    schema properties: {type: [{"src", "dst", <property>: value}]}. What undo_decision restores."""
    from shopgraph.graph.schema import REL_TYPES

    found: dict[str, list[dict]] = {}
    for name in DECIDED_TYPES:
        props = ", ".join(f"e.{p} AS {p}" for p in REL_TYPES[name].properties)  # schema names, not input
        found[name] = [row for a, b in ((src, dst), (dst, src)) for row in store.cypher(
            f"MATCH (a:Product {{id: $a}})-[e:{name}]->(b:Product {{id: $b}}) "
            f"RETURN a.id AS src, b.id AS dst{', ' + props if props else ''}", {"a": a, "b": b})]
    return found


def undo_decision(store, src: str, dst: str, before: dict[str, list[dict]]) -> str:
    """Put the edges between two products back as pair_edges found them before a decision; returns
    the SAME_AS status restored. The SAME_AS edge is written back first, so a run stopped half way
    leaves the pair in the review queue (perhaps beside a DIFFERENT_FROM), never without its edge."""
    if before["SAME_AS"]:
        store.write(GraphBatch(relationships={"SAME_AS": [dict(r) for r in before["SAME_AS"]]}))
    for a, b in ((src, dst), (dst, src)):
        store.cypher("MATCH (a:Product {id: $a})-[e:DIFFERENT_FROM]->(b:Product {id: $b}) DELETE e",
                     {"a": a, "b": b}, allow_write=True)
    if before["DIFFERENT_FROM"]:
        store.write(GraphBatch(relationships={"DIFFERENT_FROM": [dict(r) for r in before["DIFFERENT_FROM"]]}))
    return before["SAME_AS"][0]["status"] if before["SAME_AS"] else "none"
