"""ShopGraph.search is hybrid: identifier lookup, BM25 and vector channels fused; results say which
channels carried them and how strongly they match; no close match; paging, price sort, facets."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shopgraph.config import Config, IndexConfig, SearchConfig
from shopgraph.errors import BadArgumentError, ConfigError
from shopgraph.graph.embedded import EmbeddedStore
from shopgraph.graph.store import Filters
from shopgraph.queries.api import ShopGraph
from shopgraph.search.analysis import identifier_key, model_numbers
from shopgraph.search.confidence import STRENGTHS
from tests.contract.conftest import SMALL_DIMS
from tests.contract.test_store_contract import catalog_batch, product


def _carriers(graph, key: str) -> set[str]:
    rows = graph.cypher("MATCH (p:Product) RETURN p.id AS id, p.title AS title")
    return {r["id"] for r in rows if key in model_numbers(r["title"])}


def _model_number_on_both_shops(graph) -> str:
    """A model number written in the titles of listings on both platforms (the demo's matches)."""
    rows = graph.cypher("MATCH (p:Product) RETURN p.id AS id, p.platform AS platform, p.title AS title ORDER BY id")
    shops: dict[str, set[str]] = {}
    for r in rows:
        for key in model_numbers(r["title"]):
            shops.setdefault(key, set()).add(r["platform"])
    return next(key for key, where in sorted(shops.items()) if len(where) > 1)


def test_a_query_that_is_an_identifier_puts_its_listings_first_in_any_spelling(graph):
    key = _model_number_on_both_shops(graph)
    carriers = _carriers(graph, key)
    for query in (key, key.upper(), f"{key[:2]}-{key[2:]}"):
        hits = graph.search(query, k=10)
        assert hits.kind == "identifier"
        first = [h.product.id for h in hits[:len(carriers)]]
        assert set(first) == carriers, query
        assert all(h.strength == "exact" and "exact" in h.matched_by for h in hits[:len(carriers)])
    assert graph._encoder is None  # an identifier query loads no model


def test_every_result_says_its_channels_and_strength(graph):
    title = graph.cypher("MATCH (p:Product) RETURN p.title AS t ORDER BY p.id LIMIT 1")[0]["t"]
    hits = graph.search(title, k=8)
    assert hits and not hits.no_close_match
    assert hits[0].strength in ("exact", "strong")
    for hit in hits:
        assert hit.matched_by and set(hit.matched_by) <= set(hit.channels)
        assert hit.score == pytest.approx(sum(hit.channels.values()), abs=1e-4)
        assert hit.strength in STRENGTHS and 0.0 <= hit.relevance <= 1.0
    assert {"bm25", "vector"} <= {c for h in hits for c in h.channels}


def test_nonsense_reports_no_close_match(graph):
    hits = graph.search("zzzzqqq", k=5)
    assert hits.no_close_match and hits.total == 0
    assert all(h.strength == "weak" for h in hits)


def test_paging_price_sort_and_facets_over_every_candidate(graph):
    everything = graph.search("headphones", k=50)
    assert everything.total >= 4 and not everything.no_close_match
    page = graph.search("headphones", k=3, offset=2)
    assert [h.product.id for h in page] == [h.product.id for h in everything[2:5]]
    assert page.offset == 2 and page.total == everything.total
    assert sum(n for _, n in page.facets["platform"]) == page.total  # not only the 3 shown
    cheap = graph.search("headphones", k=everything.total, sort="price_asc")
    prices = [h.product.price for h in cheap if h.product.price is not None]
    assert prices == sorted(prices) and len(cheap) == everything.total
    assert all(h.strength != "weak" for h in cheap)
    dear = graph.search("headphones", k=3, sort="price_desc")
    assert dear[0].product.price == max(prices)
    only_b = graph.search("headphones", k=20, filters=Filters(platform="shop_b"))
    assert only_b and {h.product.platform for h in only_b} == {"shop_b"}
    with pytest.raises(BadArgumentError, match="sort must be one of"):
        graph.search("headphones", sort="cheapest")
    with pytest.raises(BadArgumentError, match="offset must be"):
        graph.search("headphones", offset=-1)


def test_vector_modes_still_rank_by_vectors(graph):
    hits = graph.search("headphones", k=3, rank_by="fused")
    assert len(hits) == 3 and hits.kind is None
    assert set(hits[0].channels) == {"text", "image", "lexical"}


def _small_graph(tmp_path, config=None) -> ShopGraph:
    store = EmbeddedStore.open(tmp_path / "g.db", dims=SMALL_DIMS, index_config=IndexConfig(min_ann_size=0))
    graph = ShopGraph(store, config, store_path=tmp_path / "g.db")
    graph.store.write(catalog_batch([
        product("1", title="连衣裙 女 夏季 碎花", brand=None), product("2", title="飞利浦 电动剃须刀 S5000", brand=None),
        product("3", title="蛋挞 早餐", brand=None), product("4", title="Sony WM-330S Walkman", brand="sony", platform="shop_b")]))
    return graph


def test_chinese_and_identifier_queries_need_no_model(tmp_path):
    with _small_graph(tmp_path) as graph:
        hits = graph.search("连衣裙", k=3)
        assert hits.kind == "other_script" and hits[0].product.id == "shop_a:1"
        assert hits[0].strength == "strong" and not hits.no_close_match
        assert graph.search("飞利浦 剃须刀", k=3)[0].product.id == "shop_a:2"
        assert graph.search("wm330s", k=3)[0].product.id == "shop_b:4"
        assert graph._encoder is None  # the small graph's vectors are not any model's: none was loaded


def test_weights_are_configurable_and_checked(tmp_path):
    config = Config(search=SearchConfig(other_script_weights="bm25=2 colour=1"))
    with _small_graph(tmp_path, config) as graph:
        with pytest.raises(ConfigError, match="search.other_script_weights"):
            graph.search("连衣裙")
    assert identifier_key("WM-330S") == "wm330s"
    config = Config(search=SearchConfig(other_script_fusion="combsum"))
    (tmp_path / "fusion").mkdir()
    with _small_graph(tmp_path / "fusion", config) as graph:
        with pytest.raises(ConfigError, match="search.other_script_fusion"):
            graph.search("连衣裙")


def test_results_show_a_product_as_it_is_after_a_write(tmp_path):
    # hydrated candidates are kept per graph version (hydrate.ProductCache): a write must not leave a
    # search showing the product as it was
    with _small_graph(tmp_path) as graph:
        first = graph.search("连衣裙", k=1)[0].product
        assert first.title == "连衣裙 女 夏季 碎花" and graph.search("连衣裙", k=1)[0].product == first
        graph.cypher("MATCH (p:Product {id: 'shop_a:1'}) SET p.title = '连衣裙 长款', p.price = 9.5", allow_write=True)
        again = graph.search("连衣裙", k=1)[0].product
        assert (again.title, again.price) == ("连衣裙 长款", 9.5)
        graph.store.write(catalog_batch([product("1", title="连衣裙 短款", brand=None)]))
        assert graph.search("连衣裙", k=1)[0].product.title == "连衣裙 短款"


def test_a_repeated_search_reads_no_product_again(tmp_path, monkeypatch):
    # ShopGraph.search hydrates through its ProductCache: the same query on an unchanged graph finds
    # every candidate there instead of reading it from the store again
    with _small_graph(tmp_path) as graph:
        graph.search("连衣裙", k=3)
        read = graph.store.get_nodes
        calls = []
        monkeypatch.setattr(graph.store, "get_nodes", lambda label, *a, **kw: calls.append(label) or read(label, *a, **kw))
        assert graph.search("连衣裙", k=3)
        assert "Product" not in calls


@pytest.mark.parametrize("agrees", [True, False])
def test_a_learned_channel_that_disagrees_with_every_other_channel_is_left_out_of_the_fusion(graph, monkeypatch,
                                                                                           agrees):
    # training must not push down what the untrained channels found: the learned channel joins the
    # fusion only when its best candidate is among the first search.learned_agreement of another channel
    from shopgraph.search import hybrid

    query = "wireless headphones with long battery"
    before = hybrid.hybrid_search(graph, query, None, filters=None, where=None, params=None, rank_by="hybrid",
                                  depth=50)
    found = {i for ids in before.rankings.values() for i in ids[:1]}
    outsider = next(r["id"] for r in graph.cypher("MATCH (p:Product) RETURN p.id AS id ORDER BY id")
                    if r["id"] not in found)
    best = before.rankings["vector"][0] if agrees else outsider
    learned = [(best, 0.99)] + [(i, 0.5) for i in before.rankings["bm25"][:5] if i != best]
    monkeypatch.setattr(ShopGraph, "aligner", property(lambda self: object()))
    monkeypatch.setattr(hybrid, "_learned_channel", lambda *a, **k: learned)
    after = hybrid.hybrid_search(graph, query, None, filters=None, where=None, params=None, rank_by="hybrid",
                                 depth=50)
    assert after.rankings["learned"] == [i for i, _ in learned]  # it ran either way
    assert after.learned_held is not agrees
    carried = {c for h in after.hits for c in h.contributions}
    assert ("learned" in carried) is agrees
    if not agrees:  # left out: the ranking is the untrained one
        assert [h.id for h in after.hits] == [h.id for h in before.hits]
    shipped = graph.config
    graph.config = replace(shipped, search=replace(shipped.search, learned_agreement=0))
    try:
        unguarded = hybrid.hybrid_search(graph, query, None, filters=None, where=None, params=None,
                                         rank_by="hybrid", depth=50)
    finally:
        graph.config = shipped
    assert not unguarded.learned_held and "learned" in {c for h in unguarded.hits for c in h.contributions}
