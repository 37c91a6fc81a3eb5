"""`shopgraph demo`: ingest two platforms (generated, or a real dataset) and show the three kinds of query.

Prints an ingest summary, a text search, an image search and a Cypher + vector query with results.
"""

from __future__ import annotations

import csv
import random
import time
from pathlib import Path
from typing import Callable

from shopgraph.config import Config
from shopgraph.graph.store import Filters
from shopgraph.queries.api import ShopGraph
from shopgraph.queries.format import print_rows, results_table


def _section(say: Callable[[str], None], title: str) -> None:
    say("")
    say(f"== {title} " + "=" * max(0, 76 - len(title)))


def run_demo(out: Path, data: Path | None = None, layout: str | None = None, n_products: int = 240,
             config: Config | None = None, db: Path | None = None, say: Callable[[str], None] = print) -> dict:
    """Run the demo; returns what it showed (for tests): summary, and the hits of each query."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    config = config or Config()
    if data is None:
        db = db or out / "demo.db"
        shown = _generated_demo(out, n_products, config, db, say)
    else:
        db = db or out / f"{data.name}.db"
        shown = _dataset_demo(data, layout, config, db, say)
    say("")
    say(f"demo finished in {time.perf_counter() - started:.0f} s; the graph is in {db}")
    say(f"try: shopgraph search --db {db} \"{shown['text_query']}\"   or   shopgraph serve --db {db}  (the web page)")
    return shown


def _ingest_summary(graph: ShopGraph, summary, say) -> None:
    _section(say, "ingest")
    say(summary.render())
    _section(say, "graph")
    for name, count in graph.stats().items():
        say(f"{name:<16}{count:>10,}")


def _demo_labels(graph: ShopGraph, catalog) -> tuple[int, int]:
    """Half of the catalog's known matches (truth.csv) as SAME_AS labels and half of its near misses
    as DIFFERENT_FROM, so `shopgraph match --train` has labels and the other half is left to find."""
    from shopgraph.ingest.pipeline import ingest_same_as

    def pairs(path: Path) -> list[tuple[str, str]]:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))[1:]
        return [(f"shop_a:{row[0]}", f"shop_b:{row[1]}") for row in rows[::2]]

    version = "demo:truth"
    return (ingest_same_as(graph.store, pairs(catalog.truth_path), "label", version),
            ingest_same_as(graph.store, pairs(catalog.near_miss_path), "label", version, different=True))


def _generated_demo(out: Path, n_products: int, config: Config, db: Path, say) -> dict:
    from shopgraph.demo.catalog import generate_demo_catalog
    from shopgraph.ingest.interactions import load_interaction_mapping
    from shopgraph.ingest.pipeline import IngestSummary

    say(f"generating a two-shop catalog of {n_products} products (some listed on both shops) in {out / 'catalog'} ...")
    catalog = generate_demo_catalog(out / "catalog", n_products=n_products)
    with ShopGraph.open(db, config=config) as graph:
        summary = IngestSummary()
        for data_path, mapping_path in catalog.sources:
            say(f"ingesting {data_path} ...")
            summary.merge(graph.ingest(data_path, mapping_path, progress=True))
        summary.merge(graph.ingest_interactions(catalog.interactions_path,
                                                load_interaction_mapping(catalog.interactions_mapping_path),
                                                progress=True))
        summary.same_as_written, summary.different_written = _demo_labels(graph, catalog)
        _ingest_summary(graph, summary, say)

        with open(catalog.truth_path, newline="", encoding="utf-8") as f:
            first_pair = list(csv.reader(f))[1]  # row 0 is the header
        a_sku, b_id = first_pair[:2]
        a = graph.product(f"shop_a:{a_sku}")
        b = graph.product(f"shop_b:{b_id}")
        text_query = " ".join(a.title.lower().split()[:4]).strip(",;:-() ")
        return _show_queries(graph, text_query, b, say, image_platform="shop_a")


def _dataset_demo(data: Path, layout: str | None, config: Config, db: Path, say) -> dict:
    with ShopGraph.open(db, config=config) as graph:
        say(f"ingesting {data} ...")
        summary = graph.ingest_dataset(data, layout, progress=True)
        _ingest_summary(graph, summary, say)
        rows = graph.cypher("MATCH (p:Product) WHERE p.image_missing = false RETURN p.id AS id ORDER BY id")
        if not rows:
            rows = graph.cypher("MATCH (p:Product) RETURN p.id AS id ORDER BY id")
        rng = random.Random(0)
        text_source = graph.product(rng.choice(rows)["id"])
        image_source = graph.product(rng.choice(rows)["id"])
        text_query = " ".join(text_source.title.split()[:5]).strip(",;:-() ")
        return _show_queries(graph, text_query, image_source, say, image_platform=None)


def _show_queries(graph: ShopGraph, text_query: str, image_product, say, image_platform: str | None) -> dict:
    """Text search, image search (restricted to image_platform when given: "which listing of that
    shop is this photo?"), Cypher + vector, and a plain Cypher aggregate."""
    shown = {"text_query": text_query}
    _section(say, f"text search: \"{text_query}\"")
    hits = graph.search(text=text_query, k=5)
    say(results_table(hits))
    shown["text_hits"] = hits

    if image_product.image_ref and not image_product.image_missing:
        where = f" among {image_platform} listings" if image_platform else ""
        _section(say, f"image search{where}: the photo of {image_product.id} ({image_product.title[:40]})")
        filters = Filters(platform=image_platform) if image_platform else None
        hits = graph.search(image=graph.image_file(image_product), k=5, filters=filters)
        say(results_table(hits))
        shown["image_hits"] = hits
        shown["image_query"] = image_product.id

    # Cypher + vector: the graph narrows the candidates, the vector ranks them.
    top = graph.cypher("MATCH (p:Product)-[:IN_CATEGORY]->(c:Category) RETURN c.path AS category, count(p) AS n "
                       "ORDER BY n DESC, category LIMIT 1")
    if top:
        category = top[0]["category"]
        where = "(p)-[:IN_CATEGORY]->(c:Category) WHERE c.path = $category AND p.price IS NOT NULL"
        _section(say, f"Cypher + vector: \"{text_query}\" within category \"{category}\"")
        say(f"where: {where}")
        query_vector = graph.encoder.encode_query(text=text_query, image=None)["fused"]
        hits = graph.vector_search(query_vector, k=5, where=where, params={"category": category})
        say(results_table(hits))
        shown["cypher_vector_hits"] = hits

    _section(say, "Cypher: brands listed on more than one platform")
    rows = graph.cypher(
        "MATCH (b:Brand)<-[:OF_BRAND]-(p:Product)-[:LISTED_ON]->(s:Platform) "
        "WITH b, count(DISTINCT s) AS platforms, count(p) AS products WHERE platforms > 1 "
        "RETURN b.display_name AS brand, platforms, products ORDER BY products DESC LIMIT 5")
    print_rows(rows, out=_Writer(say))
    shown["brand_rows"] = rows
    return shown


class _Writer:
    """Adapts a say(str) callable to the file-like object print() expects."""

    def __init__(self, say):
        self._say = say
        self._buffer = ""

    def write(self, text: str) -> None:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._say(line)

    def flush(self) -> None:
        pass
