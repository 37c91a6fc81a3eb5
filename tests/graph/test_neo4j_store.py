"""Neo4jStore against a recording stand-in for the driver: what a live server cannot show. The exact
Cypher and parameters of writes (statement splitting, one transaction per batch), which queries a
vector search sends (no vectors over the wire, only the final k read back), servers of other versions,
and failures injected at chosen points: retries with back-off, unknown commit outcomes, timeouts,
error translation. Behaviour on a real server is in tests/contract/ and tests/graph/test_neo4j_*_live.py
and test_neo4j_api.py (the session's live Neo4j)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from shopgraph.config import Neo4jConfig
from shopgraph.errors import (BadArgumentError, ConfigError, ModelError, QueryTimeoutError, ReadOnlyError,
                              SchemaError, StoreConnectionError, StoreError)
from shopgraph.graph import neo4j_cypher as Q
from shopgraph.graph.neo4j_connect import Neo4jSettings, is_neo4j_target, safe_uri
from shopgraph.graph.neo4j_search import cosine_from_index_score, lucene_terms
from shopgraph.graph.neo4j_store import Neo4jStore
from shopgraph.graph.store import Filters, GraphBatch, VectorWrite
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_store_contract import catalog_batch, product
from tests.graph.neo4j_fake import FakeDriver, auth_error, incomplete_commit, timed_out, transient, unavailable

PASSWORD = "s3cret-pw-4711"
SETTINGS = Neo4jSettings("bolt://db.example:7687", "shop", PASSWORD, "graph")


def open_store(driver=None, *, read_only=False, sleeps=None, **config) -> Neo4jStore:
    driver = driver or FakeDriver(existing=True, dims=SMALL_DIMS)
    sleep = (sleeps.append if sleeps is not None else lambda s: None)
    return Neo4jStore.open(SETTINGS, driver=driver, read_only=read_only, config=Neo4jConfig(**config), sleep=sleep)


@pytest.fixture
def driver():
    return FakeDriver(existing=True, dims=SMALL_DIMS)


@pytest.fixture
def store(driver):
    return open_store(driver)


def test_old_server_is_refused_and_search_clause_detected():
    for old in ("5.11.0", "5.15.0", "5.17.2"):  # before 5.18 vector indexes take at most 2048 dimensions
        with pytest.raises(StoreError, match="needs 5.18 or newer"):
            open_store(FakeDriver(version=old, existing=True))
    assert open_store(FakeDriver(version="5.18.0", existing=True, dims=SMALL_DIMS)).server_version == (5, 18, 0)
    assert not open_store(FakeDriver(version="5.26.0", existing=True, dims=SMALL_DIMS)).has_search_clause
    assert open_store(FakeDriver(version="2026.01.0", existing=True, dims=SMALL_DIMS)).has_search_clause


# -- writes ----------------------------------------------------------------------------------------
def test_write_is_one_transaction_of_unwind_merge_statements(store, driver):
    mark = driver.mark()
    p1, p2 = product("1", seed=1), product("2", brand=None, seed=2)
    store.write(catalog_batch([p1, p2]))
    calls = driver.calls[mark:]
    assert len({c.tx for c in calls}) == 1 and driver.transactions[-1].committed
    queries = [c.query for c in calls]
    assert queries[0] == Q.bump_generation()
    assert queries[1] == "UNWIND $rows AS r MERGE (n:Platform {name: r.name}) RETURN count(n) AS written"
    assert calls[1].params == {"rows": [{"name": "shop_a"}]}  # de-duplicated
    assert queries[2] == ("UNWIND $rows AS r MERGE (n:Brand {name: r.name}) SET n.display_name = r.display_name "
                          "RETURN count(n) AS written")
    product_call = calls[4]
    columns = sorted(set(p1) | {"rev"})
    assert product_call.query == ("UNWIND $rows AS r MERGE (n:Product {id: r.id}) SET "
                                  + ", ".join(f"n.{c} = r.{c}" for c in columns if c != "id")
                                  + " RETURN count(n) AS written")
    row = product_call.params["rows"][0]
    assert row["rev"] == 1 and row["id"] == "shop_a:1" and row["price"] == 10.0
    assert isinstance(row["text_vec"], list) and np.allclose(row["text_vec"], p1["text_vec"])
    assert queries[5:8] == [f"MATCH (a:Product)-[e:{r}]->(:{d}) WHERE a.id IN $ids DELETE e"
                            for r, d in (("LISTED_ON", "Platform"), ("OF_BRAND", "Brand"), ("IN_CATEGORY", "Category"))]
    assert calls[5].params == {"ids": ["shop_a:1", "shop_a:2"]}
    assert calls[9].query == ("UNWIND $rows AS r MATCH (a:Product {id: r.src}) MATCH (b:Brand {name: r.dst}) "
                              "MERGE (a)-[e:OF_BRAND]->(b) WITH DISTINCT r RETURN count(r) AS written")
    assert calls[9].params == {"rows": [{"src": "shop_a:1", "dst": "acme"}]}


def test_large_batches_are_split_into_statements(driver):
    store = open_store(driver, write_rows=8)
    mark = driver.mark()
    store.write(GraphBatch(nodes={"Brand": [{"name": f"b{i}", "display_name": "B"} for i in range(20)],
                                  "Product": [product(str(i)) for i in range(5)]}))
    sizes = [(q.split()[5], len(p["rows"])) for q, p in driver.queries(mark) if q.startswith("UNWIND")]
    assert sizes == [("(n:Brand", 8), ("(n:Brand", 8), ("(n:Brand", 4),
                     ("(n:Product", 2), ("(n:Product", 2), ("(n:Product", 1)]  # vector rows: a quarter


def test_schema_errors_send_nothing(store, driver):
    mark = driver.mark()
    with pytest.raises(SchemaError):
        store.write(GraphBatch(nodes={"Product": [dict(product("z"), colour="red")]}))
    with pytest.raises(SchemaError):
        store.write(GraphBatch(nodes={"Prodcut": [{"id": "x"}]}))
    with pytest.raises(SchemaError):
        store.get_nodes("Product", ["x"], ["price; DROP"])
    assert driver.mark() == mark


def test_read_only_store_refuses_writes(driver):
    store = open_store(driver, read_only=True)
    for call in (lambda: store.write(catalog_batch([product("1")])), lambda: store.set_meta("a", "b"),
                 lambda: store.delete_nodes("Product", ["x"]),
                 lambda: store.cypher("MATCH (p) SET p.x = 1", allow_write=True)):
        with pytest.raises(ReadOnlyError):
            call()


def test_delete_nodes_counts_then_detach_deletes(store, driver):
    driver.answer(Q.count_existing("Product"), [{"n": 1}])
    mark = driver.mark()
    assert store.delete_nodes("Product", ["shop_a:1", "nope"]) == 1
    assert driver.queries(mark) == [
        ("MATCH (n:Product) WHERE n.id IN $ids RETURN count(n) AS n", {"ids": ["shop_a:1", "nope"]}),
        ("MATCH (n:Product) WHERE n.id IN $ids DETACH DELETE n", {"ids": ["shop_a:1", "nope"]}),
        (Q.bump_generation(), {"key": "generation"})]
    assert len({c.tx for c in driver.calls[mark:]}) == 1


def test_set_vectors_writes_back_in_batches(driver):
    store = open_store(driver, write_rows=8)
    ids = [f"u{i}" for i in range(5)]
    vectors = np.arange(5 * 128, dtype=np.float32).reshape(5, 128)
    mark = driver.mark()
    store.set_vectors("User", "gnn_vec", ids, vectors)
    writes = [c for c in driver.calls[mark:] if c.query.startswith("UNWIND")]
    assert {c.query for c in writes} == {
        "UNWIND $rows AS r MATCH (n:User {id: r.id}) SET n.gnn_vec = r.v RETURN count(n) AS written"}
    assert [len(c.params["rows"]) for c in writes] == [2, 2, 1]
    assert len({c.tx for c in writes}) == 3  # each batch its own transaction
    assert writes[0].params["rows"][1] == {"id": "u1", "v": vectors[1].tolist()}
    mark = driver.mark()
    store.set_vectors("Product", "text_vec", ["p"], np.ones((1, SMALL_DIMS.text)))
    assert driver.calls[-1].query.endswith("SET n.text_vec = r.v, n.rev = $generation RETURN count(n) AS written")
    assert driver.calls[-1].params["generation"] == int(driver.meta["generation"])
    with pytest.raises(SchemaError):
        store.set_vectors("Product", "text_vec", ["p", "q"], np.ones((1, SMALL_DIMS.text)))


def test_write_model_vectors_is_one_transaction_with_the_model_record(driver):
    """Issue 13, finding 8: every vector property of a model and its Meta record commit together."""
    store = open_store(driver, write_rows=8)
    ids = [f"shop_a:{i}" for i in range(5)]
    txt, mm = np.ones((5, SMALL_DIMS.aligned)), np.full((3, SMALL_DIMS.aligned), 2.0)
    mark = driver.mark()
    store.write_model_vectors("align", "m1", [VectorWrite("Product", "txt_emb", ids, txt),
                                              VectorWrite("Product", "mm_vec", ids[:3], mm)])
    calls = driver.calls[mark:]
    assert len({c.tx for c in calls}) == 1 and driver.transactions[calls[0].tx].committed
    assert [c.query for c in calls[:2]] == [Q.get_meta(), Q.bump_generation()]
    assert calls[0].params == {"key": "model.align"}
    writes = [c for c in calls if c.query.startswith("UNWIND")]
    assert [(c.query, len(c.params["rows"])) for c in writes] == [(Q.set_vectors("Product", "txt_emb"), 2)] * 2 + [
        (Q.set_vectors("Product", "txt_emb"), 1), (Q.set_vectors("Product", "mm_vec"), 2),
        (Q.set_vectors("Product", "mm_vec"), 1)]
    assert {c.params["generation"] for c in writes} == {int(driver.meta["generation"])}
    assert (calls[-1].query, calls[-1].params) == (Q.set_meta(), {"key": "model.align", "value": "m1"})
    driver.meta["model.align"] = "m2"  # another process switched models meanwhile
    mark = driver.mark()
    with pytest.raises(ModelError, match="now m2, not m1"):
        store.write_model_vectors("align", "m1", [VectorWrite("Product", "txt_emb", ids[:1], txt[:1])], switch=False)
    assert [c.query for c in driver.calls[mark:]] == [Q.get_meta()]
    assert not driver.transactions[driver.calls[mark].tx].committed


# -- vector search ---------------------------------------------------------------------------------
def _unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def _products(n, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    return {f"p{i:03d}": _unit(rng.normal(size=dim)) for i in range(n)}


def _serve_vectors(driver, prop, vectors, with_index=True):
    """Answer the count, exact top-k, get_vectors and index queries from a dict id -> vector, as
    Neo4j would (exact top-k: the server's ranking over all or $ids, float32 arithmetic)."""
    driver.answer(Q.count_with_vector(prop), [{"n": len(vectors)}])
    driver.answer(Q.ids_with_vector(prop), [{"id": i} for i in sorted(vectors)])
    driver.answer(Q.get_vectors("Product", prop), lambda p: [{"id": i, "v": vectors[i].tolist()}
                                                              for i in p["ids"] if i in vectors])

    def exact(p):
        q = np.asarray(p["vector"], dtype=np.float32)
        ids = sorted(vectors) if "ids" not in p else [i for i in p["ids"] if i in vectors]
        inner = prop in ("fused_vec", "gnn_vec")
        score = {i: float(vectors[i] @ q) / (1.0 if inner else float(np.linalg.norm(vectors[i]) * np.linalg.norm(q)))
                 for i in ids}
        best = sorted(score, key=lambda i: (-score[i], i))[:p["k"]]
        return [{"id": i, "score": score[i]} for i in best]

    driver.answer(Q.exact_top_k(prop, False), exact)
    driver.answer(Q.exact_top_k(prop, True), exact)

    def index(p):
        """A cosine vector index, as Neo4j's: the top-k by cosine, scored (1 + cos) / 2, ids only."""
        q = np.asarray(p["vector"], dtype=np.float32)
        cos = {i: float(v @ q / np.linalg.norm(v) / np.linalg.norm(q)) for i, v in vectors.items()}
        best = sorted(cos, key=lambda i: -cos[i])[:p["k"]]
        return [{"id": i, "score": (1 + cos[i]) / 2} for i in best]

    if with_index:
        driver.answer(Q.query_vector_index("Product", prop), index)
        driver.answer(Q.search_vector_index("Product", prop), index)


def _expected(vectors, query, k, ids=None, inner=False):
    ids = sorted(vectors) if ids is None else ids
    score = {i: float(vectors[i] @ query) if inner else
             float(vectors[i] @ query / np.linalg.norm(vectors[i]) / np.linalg.norm(query)) for i in ids}
    return sorted(score.items(), key=lambda t: (-t[1], t[0]))[:k]


def test_small_graphs_are_scored_exactly_with_cosine(store, driver):
    vectors = _products(30)
    _serve_vectors(driver, "text_vec", vectors)
    query = -vectors["p007"]  # the best matches have negative cosine: scores must stay in [-1, 1]
    mark = driver.mark()
    hits = store.vector_search("text_vec", query, 5)
    sent = driver.queries(mark)
    assert [q for q, _ in sent] == [Q.count_with_vector("text_vec"), Q.exact_top_k("text_vec", False),
                                    Q.get_vectors("Product", "text_vec")]
    # The server ranks; k + 10 rows come back and only their vectors are read, to score them here.
    assert sent[1][1]["k"] == 15 and sent[1][1]["zero"] == [0.0] * 8
    assert sent[1][1]["qq"] == pytest.approx(float(query @ query))
    assert len(sent[2][1]["ids"]) == 15
    expected = _expected(vectors, query, 5)
    assert [i for i, _ in hits] == [i for i, _ in expected]
    np.testing.assert_allclose([s for _, s in hits], [s for _, s in expected], rtol=1e-5)
    assert min(s for _, s in store.vector_search("text_vec", query, 30)) == pytest.approx(-1.0, abs=1e-5)
    # A zero query has cosine 0 with everything (the server's cosine would refuse it): nothing is sent.
    mark = driver.mark()
    assert store.vector_search("text_vec", np.zeros(8), 2) == [("p000", 0.0), ("p001", 0.0)]
    assert Q.exact_top_k("text_vec", False) not in [q for q, _ in driver.queries(mark)]


def test_large_graphs_use_the_vector_index_and_return_cosine_not_its_score(driver):
    store = open_store(driver, exact_max=10, overfetch=4)
    vectors = _products(100)
    _serve_vectors(driver, "text_vec", vectors)
    query = vectors["p042"] + 0.3 * _products(1, seed=9)["p000"]
    mark = driver.mark()
    hits = store.vector_search("text_vec", query, 5)
    index_calls = [(q, p) for q, p in driver.queries(mark) if "queryNodes" in q]
    assert index_calls[0][0] == ("CALL db.index.vector.queryNodes($index, $k, $vector) YIELD node, score "
                                 "RETURN node.id AS id, score")  # no vectors over the wire
    assert index_calls[0][1]["index"] == "sg_product_text_vec" and index_calls[0][1]["k"] == 20
    assert np.allclose(index_calls[0][1]["vector"], query)
    expected = _expected(vectors, query, 5)
    assert [i for i, _ in hits] == [i for i, _ in expected]
    np.testing.assert_allclose([s for _, s in hits], [s for _, s in expected], rtol=1e-5)
    # Only the final k vectors are read back, to score them exactly.
    reads = [p["ids"] for q, p in driver.queries(mark) if q == Q.get_vectors("Product", "text_vec")]
    assert reads == [[i for i, _ in expected]]
    assert cosine_from_index_score((1 + expected[0][1]) / 2) == pytest.approx(expected[0][1], abs=1e-9)


def test_search_clause_on_servers_that_have_it():
    driver = FakeDriver(version="2026.02.0", existing=True, dims=SMALL_DIMS)
    store = open_store(driver, exact_max=0)
    vectors = _products(50)
    _serve_vectors(driver, "text_vec", vectors)
    mark = driver.mark()
    hits = store.vector_search("text_vec", vectors["p003"], 3)
    sent = [q for q, _ in driver.queries(mark)]
    assert ("CYPHER 25 MATCH (n:Product) SEARCH n IN (VECTOR INDEX sg_product_text_vec FOR $vector LIMIT $k) "
            "SCORE AS score RETURN n.id AS id, score") in sent
    assert hits[0] == ("p003", pytest.approx(1.0, abs=1e-5))
    store = open_store(driver, exact_max=0, use_search_clause=False)
    mark = driver.mark()
    store.vector_search("text_vec", vectors["p003"], 3)
    assert any("queryNodes" in q for q, _ in driver.queries(mark))


def test_selective_filter_prefilters_by_cypher_then_scores_exactly(driver):
    store = open_store(driver, exact_max=10)
    vectors = _products(100)
    _serve_vectors(driver, "fused_vec" if False else "text_vec", vectors)
    from shopgraph.graph.filters import candidate_query

    text, bound = candidate_query(Filters(brand="rare"), None, None)
    driver.answer(text, [{"id": "p090"}, {"id": "p091"}])
    mark = driver.mark()
    hits = store.vector_search("text_vec", vectors["p005"], 5, filters=Filters(brand="rare"))
    assert [i for i, _ in hits] == [i for i, _ in _expected(vectors, vectors["p005"], 5, ["p090", "p091"])]
    sent = driver.queries(mark)
    assert sent[0] == (text, bound) and sent[0][1] == {"_f_brands": ["rare"]}
    assert sent[1][0] == Q.exact_top_k("text_vec", True) and sent[1][1]["ids"] == ["p090", "p091"]
    assert not any("queryNodes" in q for q, _ in sent)


def test_broad_filter_overfetches_until_k_pass(driver):
    store = open_store(driver, exact_max=10, overfetch=2)
    vectors = _products(400)
    _serve_vectors(driver, "text_vec", vectors)
    allowed = sorted(vectors)[::20]  # 20 candidates, 5% of the graph
    where = "p.price < $cap"
    from shopgraph.graph.filters import candidate_query

    text, _ = candidate_query(None, where, {"cap": 5})
    driver.answer(text, [{"id": i} for i in allowed])
    query = vectors["p123"]
    mark = driver.mark()
    hits = store.vector_search("text_vec", query, 4, where=where, params={"cap": 5})
    fetches = [p["k"] for q, p in driver.queries(mark) if "queryNodes" in q]
    assert fetches[0] == 14 and all(b == min(a * 4, 400) for a, b in zip(fetches, fetches[1:]))
    assert [i for i, _ in hits] == [i for i, _ in _expected(vectors, query, 4, allowed)]


def test_index_that_returns_too_few_falls_back_to_exact(driver):
    store = open_store(driver, exact_max=5)
    vectors = _products(40)
    _serve_vectors(driver, "text_vec", vectors, with_index=False)
    driver.answer(Q.query_vector_index("Product", "text_vec"), [])  # e.g. an index still populating
    hits = store.vector_search("text_vec", vectors["p001"], 3)
    assert [i for i, _ in hits] == [i for i, _ in _expected(vectors, vectors["p001"], 3)]


@pytest.mark.parametrize("prop", ["fused_vec", "gnn_vec"])
def test_inner_product_search_is_exact_on_a_large_graph_with_varied_norms(driver, prop):
    """Neo4j indexes rank by cosine only; over-fetching by cosine and re-ranking by inner product
    missed most of the true top 10 when norms vary. These properties are scored exactly."""
    store = open_store(driver)  # exact_max 2000 < 2500 products
    rng = np.random.default_rng(3)
    dim = SMALL_DIMS.of(prop)
    norms = rng.lognormal(0.0, 0.8, size=2500)
    vectors = {f"p{i:04d}": (_unit(rng.normal(size=dim)) * n).astype(np.float32) for i, n in enumerate(norms)}
    _serve_vectors(driver, prop, vectors)  # an index, if asked, answers with the cosine top-k
    for seed in range(3):
        query = rng.normal(size=dim).astype(np.float32)
        mark = driver.mark()
        hits = store.vector_search(prop, query, 10)
        expected = _expected(vectors, query, 10, inner=True)
        assert [i for i, _ in hits] == [i for i, _ in expected]
        np.testing.assert_allclose([s for _, s in hits], [s for _, s in expected], rtol=1e-5)
        assert not any("queryNodes" in q for q, _ in driver.queries(mark))
    # With a filter: only the candidates' vectors are read and scored.
    from shopgraph.graph.filters import candidate_query

    allowed = sorted(vectors)[::2]
    text, _ = candidate_query(Filters(platform="shop_a"), None, None)
    driver.answer(text, [{"id": i} for i in allowed])
    mark = driver.mark()
    hits = store.vector_search(prop, query, 10, filters=Filters(platform="shop_a"))
    assert [i for i, _ in hits] == [i for i, _ in _expected(vectors, query, 10, allowed, inner=True)]
    ranked = [p for q, p in driver.queries(mark) if q == Q.exact_top_k(prop, True)]
    assert [p["ids"] for p in ranked] == [allowed]  # the candidates go to the server, not their vectors here
    read = [i for q, p in driver.queries(mark) if q == Q.get_vectors("Product", prop) for i in p["ids"]]
    assert len(read) == 20


def test_vector_search_checks_its_arguments(store):
    with pytest.raises(SchemaError):
        store.vector_search("title", np.zeros(3), 1)
    with pytest.raises(SchemaError, match="width"):
        store.vector_search("text_vec", np.zeros(3), 1)
    assert store.vector_search("text_vec", np.ones(8), 0) == []


def test_fulltext_search_escapes_lucene_syntax(store, driver):
    driver.answer(Q.fulltext_search(), [{"id": "a", "score": 2.5}])
    assert store.fulltext_search("sm-g991b (black) AND title:x", 3) == [("a", 2.5)]
    assert driver.queries()[-1] == (
        "CALL db.index.fulltext.queryNodes($index, $query) YIELD node, score "
        "RETURN node.id AS id, score ORDER BY score DESC, id LIMIT $k",
        {"index": "sg_product_fulltext", "query": r"sm\-g991b \(black\) and title\:x", "k": 3})
    assert lucene_terms('a "b" c*') == r'a \"b\" c\*'


# -- passthrough Cypher ----------------------------------------------------------------------------
def test_cypher_reads_in_read_transactions_and_refuses_writes(store, driver):
    query = "MATCH (p:Product) WHERE p.price > $min RETURN p.id AS id ORDER BY id"
    driver.answer(query, [{"id": "b"}])
    assert store.cypher(query, {"min": 100}) == [{"id": "b"}]
    assert (driver.calls[-1].params, driver.calls[-1].mode) == ({"min": 100}, "READ")
    for bad in ("MATCH (p:Product) SET p.price = 0", "CREATE (:Brand {name: 'x'})", "MATCH (p) DETACH DELETE p",
                "MATCH (p) RETURN p; MATCH (b) DELETE b", "CALL apoc.periodic.iterate('a', 'b', {})"):
        with pytest.raises(ReadOnlyError):
            store.cypher(bad)
    mark = driver.mark()
    store.cypher("MATCH (p:Product {id: $id}) SET p.price = 1.5", {"id": "a"}, allow_write=True)
    calls = driver.calls[mark:]
    # the query, then in the same transaction a new generation recorded as "any product may have changed"
    assert [c.query for c in calls] == ["MATCH (p:Product {id: $id}) SET p.price = 1.5", Q.bump_generation(),
                                        Q.set_meta()]
    assert calls[2].params["key"] == "any_product_changed"
    assert {c.mode for c in calls} == {"WRITE"} and len({c.tx for c in calls}) == 1


# -- retries and errors ----------------------------------------------------------------------------
def test_transient_errors_are_retried_with_exponential_back_off(driver):
    sleeps: list[float] = []
    store = open_store(driver, sleeps=sleeps)
    driver.answer("MATCH (n:Brand) RETURN count(n) AS n", [{"n": 7}])
    driver.failures = [transient(), unavailable("connection reset"), None]
    assert store.count_nodes("Brand") == 7
    assert sleeps == [0.2, 0.4]
    assert [t.committed for t in driver.transactions[-3:]] == [False, False, True]


def test_a_whole_batch_is_retried_as_one_unit(store, driver):
    mark = driver.mark()
    driver.failures = [None, None, transient()]  # the third statement of the first attempt fails
    store.write(catalog_batch([product("1")]))
    attempts = {c.tx for c in driver.calls[mark:]}
    assert len(attempts) == 2 and driver.transactions[-1].committed and not driver.transactions[-2].committed
    assert driver.queries(mark)[0] == driver.queries(mark)[3]  # the second attempt starts over


def test_back_off_is_capped_and_gives_up_with_one_error(driver):
    sleeps: list[float] = []
    store = open_store(driver, sleeps=sleeps, max_retries=6, retry_max_seconds=1.0)
    driver.failures = [transient("lock timeout")] * 6
    with pytest.raises(StoreError, match="Neo4j query failed: lock timeout"):
        store.count_nodes("Brand")
    assert sleeps == [0.2, 0.4, 0.8, 1.0, 1.0]


def test_a_commit_whose_outcome_is_unknown_is_not_retried(driver):
    """IncompleteCommit is a ServiceUnavailable, but the server may have committed: running a user's
    CREATE again could apply it twice."""
    sleeps: list[float] = []
    store = open_store(driver, sleeps=sleeps)
    driver.commit_failures = [incomplete_commit()]
    mark = driver.mark()
    query = "CREATE (:Brand {name: $name})"
    with pytest.raises(StoreError, match="may or may not have been applied") as caught:
        store.cypher(query, {"name": "x"}, allow_write=True)
    assert "\n" not in str(caught.value) and PASSWORD not in str(caught.value)
    assert [q for q, _ in driver.queries(mark)].count(query) == 1 and sleeps == []
    # A connection lost before the commit is still retried (nothing was applied).
    driver.failures = [unavailable("connection reset")]
    mark = driver.mark()
    store.cypher(query, {"name": "y"}, allow_write=True)
    assert [q for q, _ in driver.queries(mark)].count(query) == 2 and sleeps == [0.2]


def test_cypher_timeout_goes_to_the_transaction_and_comes_back_as_query_timeout(driver):
    sleeps: list[float] = []
    store = open_store(driver, sleeps=sleeps)
    query = "MATCH (p:Product) RETURN count(p) AS n"
    driver.answer(query, [{"n": 3}])
    assert store.cypher(query, timeout=2.5) == [{"n": 3}]
    assert driver.transactions[-1].timeout == 2.5 and driver.transactions[-1].mode == "READ"
    store.cypher("MATCH (p:Product {id: $id}) SET p.price = 1.0", {"id": "a"}, allow_write=True, timeout=4)
    assert driver.transactions[-1].timeout == 4 and driver.transactions[-1].committed
    store.count_nodes("Brand")
    assert driver.transactions[-1].timeout is None  # the store's own queries: the server's limit
    driver.failures = [timed_out()]
    with pytest.raises(QueryTimeoutError, match=r"^query stopped at its time limit of 0.5 s$"):
        store.cypher(query, timeout=0.5)
    driver.failures = [timed_out("Neo.ClientError.Transaction.TransactionTimedOut")]
    with pytest.raises(QueryTimeoutError, match="Neo4j stopped the query at its time limit"):
        store.cypher(query)
    assert sleeps == []  # a timeout is not retried
    for bad in (0, -1.0):
        with pytest.raises(BadArgumentError, match="timeout must be a positive number of seconds"):
            store.cypher(query, timeout=bad)


def test_errors_that_are_not_transient_are_not_retried(store, driver):
    import neo4j

    sleeps: list[float] = []
    store = open_store(driver, sleeps=sleeps)
    driver.failures = [neo4j.exceptions.CypherSyntaxError("Invalid input 'RETRUN'\nline 2")]
    with pytest.raises(StoreError, match=r"^Neo4j query failed: Invalid input 'RETRUN'$"):
        store.cypher("MATCH (n) RETRUN n")
    assert sleeps == []


def test_unreachable_server_is_one_clear_error_without_the_password(caplog):
    driver = FakeDriver()
    driver.connect_failures = [unavailable(f"Couldn't connect to db.example:7687 (pw {PASSWORD})")] * 5
    sleeps: list[float] = []
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreConnectionError) as caught:
        open_store(driver, sleeps=sleeps)
    message = str(caught.value)
    assert message.startswith("cannot reach Neo4j at bolt://db.example:7687 (database 'graph', user 'shop')")
    assert "\n" not in message and PASSWORD not in message and "***" in message
    assert PASSWORD not in caplog.text and len(sleeps) == 4
    assert not driver.calls  # nothing was sent


def test_bad_credentials_are_one_clear_error_and_not_retried(caplog):
    driver = FakeDriver()
    driver.connect_failures = [auth_error()]
    sleeps: list[float] = []
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreConnectionError) as caught:
        open_store(driver, sleeps=sleeps)
    assert str(caught.value) == ("Neo4j at bolt://db.example:7687 (database 'graph', user 'shop') refused the "
                                 "credentials; check NEO4J_USERNAME and NEO4J_PASSWORD")
    assert sleeps == [] and PASSWORD not in caplog.text


def test_missing_database_is_named():
    import neo4j

    driver = FakeDriver()
    error = neo4j.exceptions.ClientError("Database does not exist. Database name: 'graph'.")
    error._neo4j_code = "Neo.ClientError.Database.DatabaseNotFound"
    driver.failures = [error]
    with pytest.raises(StoreConnectionError, match="has no database 'graph'; check NEO4J_DATABASE"):
        open_store(driver)


def test_real_driver_to_a_closed_port_gives_the_same_one_line_error():
    """The official driver itself (no stand-in) against a port nothing listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Neo4jSettings(f"bolt://127.0.0.1:{port}", "neo4j", PASSWORD, "neo4j")
    with pytest.raises(StoreConnectionError) as caught:
        Neo4jStore.open(settings, config=Neo4jConfig(max_retries=2, retry_initial_seconds=0.01,
                                                     connection_timeout=2.0))
    assert str(caught.value).startswith(f"cannot reach Neo4j at bolt://127.0.0.1:{port}")
    assert PASSWORD not in str(caught.value) and "\n" not in str(caught.value)


# -- settings --------------------------------------------------------------------------------------
def test_settings_from_uri_and_environment():
    env = {"NEO4J_URI": "neo4j+s://abc.databases.neo4j.io", "NEO4J_USERNAME": "alice", "NEO4J_PASSWORD": PASSWORD,
           "NEO4J_DATABASE": "shop"}
    s = Neo4jSettings.resolve("neo4j", environ=env)
    assert (s.uri, s.username, s.password, s.database) == ("neo4j+s://abc.databases.neo4j.io", "alice", PASSWORD, "shop")
    assert PASSWORD not in repr(s) and PASSWORD not in s.display
    s = Neo4jSettings.resolve(f"bolt://bob:{PASSWORD}@localhost:7688", environ={})
    assert (s.uri, s.username, s.password, s.database) == ("bolt://localhost:7688", "bob", PASSWORD, "neo4j")
    assert safe_uri(f"bolt://bob:{PASSWORD}@localhost:7688") == "bolt://localhost:7688"
    assert s.scrub(f"failed for bolt://bob:{PASSWORD}@localhost") == "failed for bolt://bob:***@localhost"
    with pytest.raises(ConfigError, match="no Neo4j URI"):
        Neo4jSettings.resolve("neo4j", environ={})
    with pytest.raises(ConfigError, match="not a Neo4j URI"):
        Neo4jSettings.resolve("http://localhost:7474", environ={})
    assert is_neo4j_target("neo4j://h:7687") and is_neo4j_target("bolt+s://h") and is_neo4j_target("neo4j")
    assert not is_neo4j_target("shopgraph.db") and not is_neo4j_target("./neo4j.db")


