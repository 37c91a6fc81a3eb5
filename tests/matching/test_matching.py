"""Matching: text signals, pair features and the scorer on a hand-made pair set, blocking, the review
loop round trip on a real store (embedded LadybugDB and the session's live Neo4j), the CLI, and the
benchmark loader on the real files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shopgraph.cli import main as cli
from shopgraph.errors import BadArgumentError, ConfigError
from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.graph.store import GraphBatch
from shopgraph.matching import pipeline
from shopgraph.matching.blocking import block, pair_completeness
from shopgraph.matching.features import FEATURE_NAMES, PairFeaturizer
from shopgraph.matching.listings import Listings, listings_from_records
from shopgraph.matching.ready import ready_scorer
from shopgraph.matching.scorer import PairScorer, ScorerConfig, best_f1_threshold, prf
from shopgraph.matching.text_signals import digit_tokens, model_numbers, normalise, quantities
from tests.helpers import need_data

BRANDS = ["sony", "bose", "canon", "nikon", "samsung", "lg", "philips", "panasonic"]
KINDS = ["turntable", "speaker", "camera", "lens", "monitor", "tv", "shaver", "microwave"]


def catalog(n: int = 40):
    """Two shops listing the same n products with differently written titles, plus near-variants
    (same words, another model number) that are NOT the same product."""
    rng = np.random.default_rng(0)
    left, right, truth = [], [], []
    for i in range(n):
        brand, kind = BRANDS[i % len(BRANDS)], KINDS[(i // len(BRANDS)) % len(KINDS)]
        code = f"{brand[:2]}{100 + 7 * i}x{i % 10}"
        price = float(rng.integers(20, 900))
        left.append((f"{brand} {kind} {code} black", f"{brand} {kind} model {code} with warranty", price))
        right.append((f"{brand.upper()} {code.upper()} {kind} ( black )", f"new {kind} by {brand}", price * 1.05))
        truth.append((i, i))
    return left, right, truth


def listings(rows, platform: str) -> Listings:
    return Listings(platform, [f"{platform}:{n}" for n in range(len(rows))], [r[0] for r in rows],
                    [f"{r[0]} {r[1]}" for r in rows], prices=np.array([r[2] for r in rows]))


@pytest.fixture(scope="module")
def toy():
    left_rows, right_rows, truth = catalog()
    left, right = listings(left_rows, "a"), listings(right_rows, "b")
    return left, right, np.array(truth), PairFeaturizer(left, right)


def labelled_pairs(truth: np.ndarray, n_right: int, shift: int) -> tuple[np.ndarray, np.ndarray]:
    negatives = np.column_stack([truth[:, 0], (truth[:, 1] + shift) % n_right])
    return np.vstack([truth, negatives]), np.r_[np.ones(len(truth)), np.zeros(len(truth))].astype(int)


def test_text_signals():
    assert model_numbers(normalise("Sony turntable PS-LX350H")) == {"pslx350h"}
    assert "iphone13" in model_numbers(normalise("Apple iPhone 13 128 GB"))
    assert "128gb" not in model_numbers(normalise("Apple iPhone 13 128GB"))  # a spec, not a model
    assert quantities(normalise("SSD 250 GB, 15.6in")) == {"250gb", "15.6in"}
    assert {"6700k", "i7"} <= digit_tokens(normalise("Core i7 6700K"))


def test_features_have_one_named_column_each_and_unknown_is_nan(toy):
    left, right, truth, featurizer = toy
    x = featurizer.features(truth[:5])
    assert x.shape == (5, len(FEATURE_NAMES)) and x.dtype == np.float32
    col = FEATURE_NAMES.index
    assert np.isnan(x[:, col("cos_image")]).all() and np.isnan(x[:, col("brand_equal")]).all()
    assert (x[:, col("models_shared")] == 1).all() and (x[:, col("ctx_mutual_best")] == 1).all()
    assert np.allclose(x[:, col("price_ratio")], 1 / 1.05, atol=1e-4)
    with pytest.raises(BadArgumentError):
        featurizer.features([[0, len(right)]])


def test_blocking_finds_every_true_pair_within_three_candidates(toy):
    _, right, truth, featurizer = toy
    candidates = block(featurizer, k=3)
    assert len(candidates) == 3 * len(truth)
    assert pair_completeness(candidates, truth) == 1.0


def test_blocking_some_rows_gives_their_candidates_as_the_whole_run_does(toy):
    _, _, truth, featurizer = toy
    whole = block(featurizer, k=3)
    asked = [4, 17]
    some = block(featurizer, k=3, rows=asked)
    assert set(map(tuple, some.rows)) == {tuple(r) for r in whole.rows if r[0] in asked}
    assert block(featurizer, k=3, rows=[]).rows.shape == (0, 2)
    with pytest.raises(BadArgumentError):
        block(featurizer, k=3, rows=[len(truth) + 100])


def test_scored_candidates_with_a_rerank_pool_keep_k_per_listing_and_the_fused_best(toy):
    from shopgraph.matching.blocking import RERANK_KEEP

    _, _, truth, featurizer = toy
    scorer, k = ready_scorer(), RERANK_KEEP + 2
    plain, _, _ = pipeline.scored_candidates(featurizer, scorer, k)
    deep, x, scores = pipeline.scored_candidates(featurizer, scorer, k, rerank_pool=3 * k)
    assert len(deep) == len(plain) == k * len(truth)
    assert pair_completeness(deep, truth) == 1.0
    # Each listing's fused best RERANK_KEEP are kept as blocking at k ranks them; the features and
    # scores returned are those of the rows returned.
    for i in (0, 17):
        mine, fused = deep.rows[deep.rows[:, 0] == i], plain.rows[plain.rows[:, 0] == i]
        assert mine[:RERANK_KEEP].tolist() == fused[:RERANK_KEEP].tolist()
    assert np.allclose(x, featurizer.features(deep.rows), equal_nan=True)
    assert np.allclose(scores, scorer.predict(x))
    one, _, _ = pipeline.scored_candidates(featurizer, scorer, k, rerank_pool=3 * k, rows=[17])
    assert one.rows.tolist() == deep.rows[deep.rows[:, 0] == 17].tolist()


def test_scorer_learns_the_hand_made_pairs_and_explains_them(toy, tmp_path):
    left, right, truth, featurizer = toy
    train_rows, train_y = labelled_pairs(truth[:30], len(right), 8)
    valid_rows, valid_y = labelled_pairs(truth[30:], len(right), 8)
    x_train, x_valid = featurizer.features(train_rows), featurizer.features(valid_rows)
    scorer = PairScorer(ScorerConfig(min_samples_leaf=2, early_stopping=False, max_iter=50))
    scorer.fit(x_train, train_y, x_valid, valid_y)
    # unseen negatives: the variant one step away
    test_rows, test_y = labelled_pairs(truth[30:], len(right), 1)
    scores = scorer.predict(featurizer.features(test_rows))
    assert prf(scores >= scorer.threshold, test_y)["f1"] >= 0.9
    evidence = scorer.evidence(featurizer.features(truth[:2]))
    assert len(evidence) == 2 and all(1 <= len(e) <= 3 for e in evidence)
    assert all({"group", "effect", "values", "says"} <= set(item) for item in evidence[0])
    assert all(item["says"].startswith(("for: ", "against: ", "neutral: ")) for item in evidence[0])
    path = scorer.save(tmp_path / "m.json")
    again = PairScorer.load(path)
    assert again.version == scorer.version and again.threshold == scorer.threshold
    np.testing.assert_allclose(again.predict(x_valid), scorer.predict(x_valid))
    assert json.loads(path.read_text())["metrics"]["version"] == scorer.version
    (tmp_path / "bad.json").write_bytes(b"not a model")
    with pytest.raises(ConfigError):
        PairScorer.load(tmp_path / "bad.json")


@pytest.fixture(scope="module")
def toy_split(toy):
    """The toy's pairs as (x_train, y_train, x_valid, y_valid, valid_rows) and a small scorer config."""
    left, right, truth, featurizer = toy
    train_rows, train_y = labelled_pairs(truth[:30], len(right), 8)
    valid_rows, valid_y = labelled_pairs(truth[30:], len(right), 8)
    return ((featurizer.features(train_rows), train_y, featurizer.features(valid_rows), valid_y, valid_rows),
            ScorerConfig(min_samples_leaf=2, early_stopping=False, max_iter=30))


def test_an_averaged_scorer_is_the_mean_of_its_parts_log_odds_and_explains_exactly(toy, toy_split, tmp_path):
    from shopgraph.matching.features import swapped_columns

    truth, featurizer = toy[2], toy[3]
    (x_train, train_y, x_valid, valid_y, valid_rows), config = toy_split
    fresh = PairScorer(config).fit(x_train, train_y, x_valid, valid_y)
    tuned = PairScorer(config).fit(x_train, train_y, x_valid, valid_y, init=fresh)
    joined = PairScorer.averaged([fresh, tuned], x_valid, valid_y)
    # each order's log-odds are the parts' mean; the score is still the mean over both orders
    both = featurizer.features(np.vstack([valid_rows, truth[:5]]))
    rows = [PairScorer(config, model=m).predict(both) for m in (fresh.model, tuned.model)]
    assert not np.allclose(joined.predict(both), (rows[0] + rows[1]) / 2)   # not a mean of probabilities
    raw = [[b.predict(o, raw_score=True) for o in (both, both[:, swapped_columns()])] for b in (fresh.model, tuned.model)]
    expected = np.mean([1 / (1 + np.exp(-(raw[0][k] + raw[1][k]) / 2)) for k in (0, 1)], axis=0)
    np.testing.assert_allclose(joined.predict(both), expected, atol=1e-12)
    # TreeSHAP stays exact: one order's contributions sum to that order's mean log-odds
    contrib = joined.model.predict(both, pred_contrib=True)
    np.testing.assert_allclose(contrib.sum(axis=1), (raw[0][0] + raw[1][0]) / 2, atol=1e-9)
    assert joined.evidence(both[:2]) and joined.metrics["averaged"] == [fresh.version, tuned.version]
    again = PairScorer.load(joined.save(tmp_path / "joined.json"))
    np.testing.assert_allclose(again.predict(both), joined.predict(both), atol=1e-12)
    assert again.version == joined.version and again.threshold == joined.threshold
    with pytest.raises(BadArgumentError, match="averaged"):
        PairScorer(config).fit(x_train, train_y, x_valid, valid_y, init=joined)


def test_training_with_a_ready_scorer_keeps_the_fresh_and_fine_tuned_scorers_averaged(toy_split):
    (x_train, train_y, x_valid, valid_y, _), config = toy_split
    base = PairScorer(config).fit(x_train, train_y, x_valid, valid_y)
    scorer = pipeline.fit_scorer(x_train, train_y, x_valid, valid_y, base, config)
    assert len(scorer.model.boosters) == 2 and "averaged" in scorer.metrics["start"]
    assert scorer.metrics["fine_tuned_from"] == base.version
    alone = pipeline.fit_scorer(x_train, train_y, x_valid, valid_y, None, config)
    assert alone.metrics["start"] == "fresh" and not hasattr(alone.model, "boosters")


UNPICKLED = []


def _ran_on_unpickling():
    UNPICKLED.append(True)


class _Boom:
    def __reduce__(self):
        return (_ran_on_unpickling, ())


def test_scorer_files_are_parsed_never_unpickled(tmp_path):
    import pickle

    (tmp_path / "evil.json").write_bytes(pickle.dumps({"format": 2, "model": _Boom()}))
    with pytest.raises(ConfigError, match="not a pair scorer"):
        PairScorer.load(tmp_path / "evil.json")
    assert UNPICKLED == []


def test_same_pair_same_score_whichever_way_asked(toy):
    from shopgraph.matching.features import swapped_columns

    left, right, truth, featurizer = toy
    smaller = Listings("c", left.ids[:15], left.titles[:15], left.texts[:15], prices=left.prices[:15])
    pairs = np.array([[0, 0], [3, 5], [7, 7], [10, 2]])
    one, other = PairFeaturizer(smaller, right), PairFeaturizer(right, smaller)
    x, x_reversed = one.features(pairs), other.features(pairs[:, ::-1])
    # asking the other way round gives the same features with the two sides' columns swapped
    np.testing.assert_allclose(x_reversed, x[:, swapped_columns()], atol=1e-5, equal_nan=True)
    # a model that leans on one side's features still scores both orders the same
    rng = np.random.default_rng(0)
    x_train = rng.random((400, len(FEATURE_NAMES))).astype(np.float32)
    y_train = (x_train[:, FEATURE_NAMES.index("words_left")] > x_train[:, FEATURE_NAMES.index("words_right")]).astype(int)
    scorer = PairScorer(ScorerConfig(min_samples_leaf=2, early_stopping=False, max_iter=30))
    scorer.fit(x_train, y_train, x_train, y_train)
    np.testing.assert_allclose(scorer.predict(x), scorer.predict(x_reversed), atol=1e-12)


def test_evidence_is_signed_and_never_contradicts_itself(toy):
    from shopgraph.matching.evidence_text import polarity

    left, right, truth, featurizer = toy
    train_rows, train_y = labelled_pairs(truth, len(right), 1)
    scorer = PairScorer(ScorerConfig(min_samples_leaf=2, early_stopping=False, max_iter=30))
    scorer.fit(featurizer.features(train_rows), train_y, featurizer.features(train_rows), train_y)
    x = featurizer.features(np.array([[5, 5], [5, 6]]))      # a match and its near-variant
    match, other = scorer.evidence(x)
    assert match and match[0]["says"].startswith("for: ") and match[0]["effect"] > 0
    assert other and other[0]["says"].startswith("against: ") and other[0]["effect"] < 0
    for item in match + other:
        sign = polarity(item["group"], item["values"])
        assert sign == 0 or sign == np.sign(item["effect"]), item
    # the contributions are the prediction's: base + sum = log-odds of the (order-averaged) score
    contrib = scorer.contributions(x)
    assert contrib.shape == (2, len(FEATURE_NAMES) + 1)


def test_vector_cosines_are_real_cosines_whatever_the_store_holds():
    vectors = np.array([[3.0, 4.0], [30.0, 40.0]], dtype=np.float32)   # not unit rows (GNN vectors)
    a = Listings("a", ["a:0"], ["sony ps-lx350h"], ["sony ps-lx350h"], vectors={"gnn": vectors[:1]})
    b = Listings("b", ["b:0"], ["sony pslx350h"], ["sony pslx350h"], vectors={"gnn": vectors[1:]})
    cos = PairFeaturizer(a, b).features([[0, 0]])[0, FEATURE_NAMES.index("cos_gnn")]
    assert cos == pytest.approx(1.0)


def test_listings_with_unit_vectors_are_featurized_from_one_copy_and_the_same_features():
    from shopgraph.ingest.encoders.text import l2_normalize
    from shopgraph.matching.listings import UNIT_CHUNK, unit_rows_in_place

    rng = np.random.default_rng(3)
    raw = rng.normal(size=(UNIT_CHUNK + 5, 8)).astype(np.float32) * 3   # more rows than one chunk
    raw[4] = 0   # a listing without the vector
    scaled = unit_rows_in_place(raw.copy())
    assert np.array_equal(scaled, l2_normalize(raw))   # the same float32 rows, chunk edges and all
    titles = [f"sony ps-lx{n}" for n in range(len(raw))]
    plain = Listings("a", [f"a:{n}" for n in range(len(raw))], titles, titles, vectors={"text": raw})
    unit = Listings("a", plain.ids, titles, titles, vectors={"text": scaled}, unit_vectors=True)
    other = Listings("b", ["b:0", "b:1"], titles[:2], titles[:2], vectors={"text": raw[:2]})
    kept = PairFeaturizer(unit, other)
    assert kept.left.vectors["text"] is scaled   # no second copy of the catalog's vectors
    pairs = [[0, 0], [4, 1], [UNIT_CHUNK + 2, 1]]
    a, b = PairFeaturizer(plain, other).features(pairs), kept.features(pairs)
    assert np.array_equal(a, b, equal_nan=True)
    with pytest.raises(BadArgumentError):
        unit_rows_in_place(raw.astype(np.float64))


def test_best_f1_threshold_and_prf():
    t, f1 = best_f1_threshold(np.array([0.9, 0.8, 0.3, 0.2]), np.array([1, 1, 0, 0]))
    assert 0.3 < t < 0.8 and f1 == 1.0
    assert prf(np.array([1, 0, 1]), np.array([1, 1, 0])) == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    with pytest.raises(BadArgumentError):
        best_f1_threshold(np.array([0.1]), np.array([0]))


# -- the review loop on a real store ------------------------------------------------------------

@pytest.fixture(params=["embedded", "neo4j"])
def store(request, tmp_path):
    left_rows, right_rows, truth = catalog()
    products = []
    for platform, rows in (("a", left_rows), ("b", right_rows)):
        for n, (title, description, price) in enumerate(rows):
            products.append({"id": f"{platform}:{n}", "platform": platform, "source_id": str(n), "title": title,
                             "description": description, "price": price, "content_hash": f"{platform}{n}", "rev": 1})
    labels = [{"src": f"a:{i}", "dst": f"b:{i}", "score": 1.0, "method": "label", "model_version": "t",
               "status": "label"} for i in range(20)]
    negatives = [{"src": f"a:{i}", "dst": f"b:{(i + 8) % 40}", "method": "label", "model_version": "t"}
                 for i in range(20)]
    if request.param == "neo4j":
        from shopgraph.graph.neo4j_store import Neo4jStore

        request.getfixturevalue("neo4j_empty")
        opened = Neo4jStore.open(None)
    else:
        opened = EmbeddedStore.open(tmp_path / "g.db")
    with opened as s:
        s.write(GraphBatch(nodes={"Platform": [{"name": "a"}, {"name": "b"}], "Product": products},
                           relationships={"SAME_AS": labels, "DIFFERENT_FROM": negatives}))
        yield s


def target(store) -> str:
    """What a user would pass as --db for this store: the database path, or `neo4j` ($NEO4J_URI)."""
    return str(store.path) if hasattr(store, "path") else "neo4j"


def test_review_loop_round_trip(store, tmp_path):
    scorer = pipeline.train_matcher(store, "a", "b", tmp_path / "m.pkl",
                                    config=ScorerConfig(min_samples_leaf=2, early_stopping=False, max_iter=50))
    assert scorer.metrics["labels"] == 40
    report, proposals = pipeline.match_platforms(store, scorer, "a", "b", k=5)
    assert report.source_products == 40 and report.candidates == 200 and report.skipped_decided >= 20
    matched = {(p["src"], p["dst"]) for p in proposals if p["status"] == "matched"}
    assert {(f"a:{i}", f"b:{i}") for i in range(20, 40)} - matched == set()  # the unlabelled half found
    edges = store.cypher("MATCH (a:Product)-[e:SAME_AS]->(b:Product) WHERE e.status = 'matched' "
                         "RETURN a.id AS a, b.id AS b, e.model_version AS v, e.evidence AS ev")
    assert {(e["a"], e["b"]) for e in edges} == matched and {e["v"] for e in edges} == {scorer.version}
    assert json.loads(edges[0]["ev"])[0]["group"]
    # A person accepts one proposal and rejects another; both become labels.
    pipeline.write_matches(store, [{"src": "a:21", "dst": "b:22", "score": 0.6, "status": "review", "evidence": []}],
                           scorer.version)
    assert [(r["src"], r["dst"]) for r in pipeline.review_queue(store)][:1] == [("a:21", "b:22")]
    assert pipeline.decide(store, "a:20", "b:20", accept=True) == "accepted"
    assert pipeline.decide(store, "a:21", "b:22", accept=False) == "rejected"
    labels = pipeline.graph_labels(store, "a", "b")
    assert labels[("a:20", "b:20")] == 1 and labels[("a:21", "b:22")] == 0
    assert pipeline.review_queue(store) == []
    # The next run keeps the decisions: no re-proposal of the rejected pair, the accepted edge untouched.
    _, again = pipeline.match_platforms(store, scorer, "a", "b", k=5)
    assert ("a:21", "b:22") not in {(p["src"], p["dst"]) for p in again}
    status = store.cypher("MATCH (:Product {id: 'a:20'})-[e:SAME_AS]->(:Product {id: 'b:20'}) RETURN e.status AS s")
    assert status == [{"s": "accepted"}]
    with pytest.raises(BadArgumentError):
        pipeline.decide(store, "a:0", "b:39", accept=True)
    with pytest.raises(BadArgumentError, match="no platform"):
        pipeline.match_platforms(store, scorer, "a", "zz")


def test_match_one_product_reads_only(store, tmp_path):
    scorer = pipeline.train_matcher(store, "a", "b", tmp_path / "m.pkl",
                                    config=ScorerConfig(min_samples_leaf=2, early_stopping=False, max_iter=50))
    before = store.count_relationships("SAME_AS")
    best = pipeline.match_product(store, scorer, "a:33", "b", k=5, limit=3)
    assert best[0]["dst"] == "b:33" and best[0]["status"] == "matched" and len(best) == 3
    assert store.count_relationships("SAME_AS") == before
    # One product is scored on the features a whole-platform run gives it: the graph context (ranks
    # among every alternative on both sides) of the whole catalogs, not of a catalog of one.
    seen = []
    predict = scorer.predict
    scorer.predict = lambda x: (seen.append(x.copy()), predict(x))[1]
    best = pipeline.match_product(store, scorer, "a:33", "b", k=5, limit=3)
    left, right = pipeline.listings_from_store(store, "a"), pipeline.listings_from_store(store, "b")
    featurizer, row, col = PairFeaturizer(left, right), left.index_of()["a:33"], right.index_of()
    expected = featurizer.features([[row, col[m["dst"]]] for m in best])
    scored = seen[0]  # the features of every candidate match_product scored
    assert all(any(np.allclose(e, r, equal_nan=True) for r in scored) for e in expected)
    assert np.allclose(predict(expected), [m["score"] for m in best], atol=1e-9)
    assert expected[-1, FEATURE_NAMES.index("ctx_char_col_rank")] > 0  # context a catalog of one would lose


def test_cli_match_and_review(store, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a Neo4j graph's scorer is kept under ./shopgraph-neo4j
    db = target(store)
    store.close()
    assert cli(["match", "--db", db, "--source", "a", "--target", "b", "--train", "-k", "5", "--json"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out and {"src", "dst", "score", "status", "evidence"} <= set(out[0])
    assert cli(["review", "--db", db, "--json"]) == 0
    capsys.readouterr()
    pair = next(p for p in out if p["status"] == "matched")
    assert cli(["review", "--db", db, "--reject", pair["src"], pair["dst"]]) == 0
    assert capsys.readouterr().out.strip() == "rejected"
    assert cli(["review", "--db", db, "--accept", "a:0", "b:39"]) == 1
    assert "no proposed match" in capsys.readouterr().err
    assert cli(["match", "--db", db, "--source", "a", "--target", "nope"]) == 1
    # No scorer trained for b -> a: the ready scorer shipped with shopgraph answers, and says so.
    assert cli(["match", "--db", db, "--source", "b", "--target", "a", "--dry-run", "--json", "--rerank", "0"]) == 0
    ready = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert ready and all(p["scorer"]["kind"] == "ready" for p in ready)
    # Asked for nothing, a platform this small is re-ranked (blocking.default_rerank_pool), and the report says so.
    assert cli(["match", "--db", db, "--source", "b", "--target", "a", "--dry-run", "--json"]) == 0
    captured = capsys.readouterr()
    auto = [json.loads(line) for line in captured.out.splitlines()]
    assert auto and all("rerank" in p["scorer"] for p in auto)
    assert "re-ranked the fused top 120 per product" in captured.err
    assert cli(["match", "--db", db, "--source", "b", "--target", "a", "--dry-run", "--json", "-k", "3",
                "--rerank", "8"]) == 0
    reranked = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert reranked and all(p["scorer"]["kind"] == "ready" for p in reranked)
    # Two jobs, two models: the ready scorer decides (its version), the rerank scorer ordered the pool.
    from shopgraph.matching.ready import rerank_scorer

    assert all(p["scorer"]["version"] == ready_scorer().version for p in reranked)
    assert all(p["scorer"]["rerank"]["version"] == rerank_scorer().version for p in reranked)
    assert not any("rerank" in p["scorer"] for p in ready)
    assert cli(["match", "--db", db, "--source", "b", "--target", "a", "--rerank", "-1"]) == 1
    assert "--rerank" in capsys.readouterr().err


@pytest.mark.data
def test_benchmark_loader_on_the_real_abt_buy_files():
    from shopgraph.ingest.layouts import load_deepmatcher, product_items
    from shopgraph.matching.benchmarks import benchmark_pairs

    directory = need_data("em/abt_buy")
    layout = load_deepmatcher(directory)
    sides = [listings_from_records(s.mapping.platform, product_items(s)) for s in layout.products]
    assert [len(s) for s in sides] == [1081, 1092]
    bench = benchmark_pairs(directory, *sides)
    assert {k: len(v) for k, v in bench.splits.items()} == {"train": 5743, "valid": 1916, "test": 1916}
    assert [int(v.labels.sum()) for v in bench.splits.values()] == [616, 206, 206] and bench.dropped_pairs == 0


def test_api_match_builds_the_platform_pair_once_per_graph_version(store, tmp_path, monkeypatch):
    from shopgraph.queries.api import ShopGraph

    model = tmp_path / "m.pkl"
    pipeline.train_matcher(store, "a", "b", model,
                           config=ScorerConfig(min_samples_leaf=2, early_stopping=False, max_iter=50))
    built = []
    real = pipeline.platform_pair
    monkeypatch.setattr(pipeline, "platform_pair", lambda *a: built.append(a) or real(*a))
    sg = ShopGraph(store)
    first = sg.match("a:33", platform="b", k=5, model=model)
    assert sg.match("a:33", platform="b", k=5, model=model) == first and len(built) == 1
    assert first == pipeline.match_product(store, PairScorer.load(model), "a:33", "b", k=5)
    store.write(GraphBatch(relationships={"DIFFERENT_FROM": [
        {"src": "a:1", "dst": "b:2", "method": "review", "model_version": ""}]}))  # the graph changed
    sg.match("a:33", platform="b", k=5, model=model)
    assert len(built) == 2


def test_one_to_one_matches_each_listing_at_most_once(tmp_path):
    left_rows, right_rows, truth = catalog()
    products = []
    for platform, rows in (("a", left_rows), ("b", right_rows + right_rows[:5])):   # b lists 5 products twice
        for n, (title, description, price) in enumerate(rows):
            products.append({"id": f"{platform}:{n}", "platform": platform, "source_id": str(n), "title": title,
                             "description": description, "price": price, "content_hash": f"{platform}{n}", "rev": 1})
    with EmbeddedStore.open(tmp_path / "g.db") as s:
        s.write(GraphBatch(nodes={"Platform": [{"name": "a"}, {"name": "b"}], "Product": products}))
        scorer = ready_scorer()
        _, many = pipeline.match_platforms(s, scorer, "a", "b", k=5, write=False, one_to_one=False)
        _, once = pipeline.match_platforms(s, scorer, "a", "b", k=5, write=False)   # no labels: one-to-one
        for proposals in (many, once):
            assert all(p["scorer"]["kind"] == "ready" for p in proposals)
        matched = [p for p in once if p["status"] == "matched"]
        assert len({p["src"] for p in matched}) == len(matched) == len({p["dst"] for p in matched})
        assert len([p for p in many if p["status"] == "matched"]) > len(matched)   # the duplicates matched twice
        # the pairs one-to-one set aside wait for a person, they are not dropped
        assert {(p["src"], p["dst"]) for p in many} == {(p["src"], p["dst"]) for p in once}


def test_cli_match_report_writes_the_two_plots(store, tmp_path, capsys, monkeypatch):
    if not hasattr(store, "path"):
        pytest.skip("the report reads the same labels from either store; once is enough")
    monkeypatch.chdir(tmp_path)
    db = target(store)
    store.close()
    assert cli(["match", "--db", db, "--source", "a", "--target", "b", "--train", "-k", "5", "--dry-run",
                "--report", str(tmp_path / "report")]) == 0
    for name in ("score_histogram.png", "precision_recall.png"):
        assert (tmp_path / "report" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "precision_recall.png" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["embedded", "neo4j"])
def test_listings_from_the_store_carry_identifiers_and_attributes(backend, tmp_path, request):
    from shopgraph.queries.api import ShopGraph

    catalog_file = tmp_path / "shop.csv"
    catalog_file.write_text("id,title,price,colour,model no,capacity\n"
                            "1,Apple iPad,499,blue,MC359LL/A,16 GB\n2,Apple iPad,499,orange,A1377,32 GB\n")
    if backend == "neo4j":
        request.getfixturevalue("neo4j_empty")
        opened = ShopGraph.open("neo4j")
    else:
        opened = ShopGraph.open(tmp_path / "g.db")
    with opened as sg:
        sg.ingest(catalog_file, mapping={"platform": "shop", "id": "id", "title": "title", "price": "price"},
                  progress=False)
        listings = pipeline.listings_from_store(sg.store, "shop")
    first = listings.attributes[listings.index_of()["shop:1"]]
    assert first["title"] == "Apple iPad" and first["mpn"] == "MC359LL/A"
    assert first["colour" if "colour" in first else "color"] == "blue" and first["capacity"] == "16 GB"
