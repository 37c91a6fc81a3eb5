"""Results as Arrow tables and DataFrames: typed columns, ids as strings, nothing rounded or dropped."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pytest

from shopgraph.queries.frames import CypherRows, MatchResults, ReviewQueue, SearchResults, records_table
from shopgraph.queries.results import Product, SearchResult


def hit(id_: str, score: float, price: float | None) -> SearchResult:
    return SearchResult(Product(id=id_, platform="shop_a", source_id=id_.split(":")[1], title=f"T {id_}",
                                price=price, currency="EUR"), score, {"text": score * 0.7, "lexical": score * 0.3},
                        ("text", "lexical"))


def test_search_results_table_is_typed_and_exact():
    hits = SearchResults([hit("shop_a:00123", 0.7512345678901234, 399.99), hit("shop_a:7", 0.5, None)])
    table = hits.to_arrow()
    assert table.schema.field("id").type == pa.string()
    assert table.schema.field("price").type == pa.float64()
    assert table.schema.field("rank").type == pa.int64()
    assert table.schema.field("matched_by").type == pa.list_(pa.string())
    assert table.column("source_id").to_pylist() == ["00123", "7"]  # leading zeros kept: ids are strings
    assert table.column("price").to_pylist() == [399.99, None]
    assert table.column("score").to_pylist()[0] == 0.7512345678901234
    frame = hits.to_pandas()
    assert str(frame["id"].dtype) == "string" and str(frame["rank"].dtype) == "Int64"
    assert frame["price"].iloc[0] == 399.99 and math.isnan(frame["price"].iloc[1])
    assert list(frame["matched_by"].iloc[0]) == ["text", "lexical"]
    assert "<table" in hits._repr_html_() and "shop_a:00123" in hits._repr_html_()


def test_html_escapes_cells():
    bad = SearchResults([SearchResult(Product(id="x:1", platform="x", source_id="1", title="<script>alert(1)</script>"),
                                      0.5)])
    assert "<script>" not in bad._repr_html_() and "&lt;script&gt;" in bad._repr_html_()


def test_empty_results_keep_their_columns():
    table = SearchResults().to_arrow()
    assert table.num_rows == 0 and "id" in table.column_names and table.schema.field("score").type == pa.float64()


def test_cypher_rows_infer_types_and_keep_unmixable_values_as_text():
    rows = CypherRows([{"id": "a:1", "n": 3, "price": 399.99, "flag": True, "v": [0.5, 0.25], "mixed": 1},
                       {"id": "a:2", "n": None, "price": None, "flag": None, "v": None, "mixed": "two"}])
    table = rows.to_arrow()
    assert table.schema.field("n").type == pa.int64()
    assert table.schema.field("v").type == pa.list_(pa.float64())
    assert table.column("mixed").to_pylist() == ["1", "two"]
    assert json.loads(table.schema.metadata[b"shopgraph.raw_columns"]) == ["mixed"]
    frame = rows.to_pandas()
    assert str(frame["n"].dtype) == "Int64" and frame["n"].isna().tolist() == [False, True]
    assert str(frame["flag"].dtype) == "boolean"


def test_nested_values_become_structs():
    table = records_table([{"node": {"_ID": {"offset": 1, "table": 0}, "name": "x"}}])
    assert pa.types.is_struct(table.schema.field("node").type)


@pytest.mark.parametrize("cls", [MatchResults, ReviewQueue])
def test_match_and_review_tables_carry_evidence_as_json_and_words(cls):
    evidence = [{"group": "codes", "effect": 0.41, "values": {"code_match": 1.0}, "says": "for: same model number"}]
    rows = cls([{"src": "a:1", "dst": "b:2", "score": 0.9, "status": "review", "src_title": "x", "dst_title": "y",
                 "evidence": evidence}])
    table = rows.to_arrow()
    assert json.loads(table.column("evidence")[0].as_py()) == evidence
    assert table.column("says")[0].as_py() == "for: same model number (+0.41)"
    assert rows.to_pandas()["score"].iloc[0] == 0.9


# -- on the real demo graph -------------------------------------------------------------------------
def test_api_results_convert(graph, demo_graph):
    a_id, _ = demo_graph.truth[0]
    hits = graph.search(text=graph.product(a_id).title, k=5)
    assert isinstance(hits, SearchResults) and hits.to_pandas()["id"].iloc[0] == a_id
    assert isinstance(graph.similar(a_id, k=3), SearchResults)
    frame = graph.cypher("MATCH (p:Product) RETURN p.id AS id, p.price AS price, p.image_missing AS flag "
                         "ORDER BY id LIMIT 5", as_frame=True)
    assert list(frame.columns) == ["id", "price", "flag"] and str(frame["id"].dtype) == "string"
    assert str(frame["flag"].dtype) == "boolean"
    page = graph.neighbourhood(a_id, similar_k=3)
    table = page.to_arrow()
    assert set(table.column("relation").to_pylist()) >= {"similar"}
    assert "<table" in page._repr_html_()


def test_a_result_with_no_positive_share_is_still_carried_by_its_best_channel():
    from shopgraph.queries.results import carried_by

    # score-aware fusion: below every channel's mean (negative shares), or one exact hit among equals (0)
    assert carried_by({"bm25": -0.4, "vector": -1.2}) == ("bm25",)
    assert carried_by({"exact": 0.0}) == ("exact",)
    assert carried_by({"bm25": 0.9, "vector": -0.3}) == ("bm25",)
    assert carried_by({}) == ()
