"""One product's graph neighbourhood: its brand, category path, listings of the same product on other
platforms (SAME_AS, with status and evidence), known non-matches (DIFFERENT_FROM), products bought with
it, how many users interacted with it, and its nearest products by vector.

Plain Cypher with parameters through the store, so it runs on any GraphStore.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from shopgraph.queries.results import Product, SearchResult
from shopgraph.records import CATEGORY_SEPARATOR

# The other end of a product's SAME_AS / DIFFERENT_FROM edges, whichever way they point.
_SAME_AS = (
    "MATCH (p:Product {id: $id})-[e:SAME_AS]-(q:Product) "
    "RETURN q.id AS id, e.score AS score, e.status AS status, e.method AS method, "
    "e.model_version AS model_version, e.evidence AS evidence ORDER BY id")
_DIFFERENT = (
    "MATCH (p:Product {id: $id})-[e:DIFFERENT_FROM]-(q:Product) "
    "RETURN q.id AS id, e.method AS method ORDER BY id")
_ALSO_BOUGHT = (
    "MATCH (p:Product {id: $id})-[e:ALSO_BOUGHT]-(q:Product) "
    "RETURN q.id AS id, max(e.weight) AS weight ORDER BY weight DESC, id LIMIT $limit")
_BRAND = "MATCH (p:Product {id: $id})-[:OF_BRAND]->(b:Brand) RETURN b.name AS name, b.display_name AS display_name"
_CATEGORY = "MATCH (p:Product {id: $id})-[:IN_CATEGORY]->(c:Category) RETURN c.path AS path"
_USERS = "MATCH (u:User)-[:INTERACTED]->(p:Product {id: $id}) RETURN count(DISTINCT u) AS n"


@dataclass(frozen=True)
class Listing:
    """A product linked to the page's product by SAME_AS (status: label, matched, review, accepted)
    or DIFFERENT_FROM (status "different"); evidence: [{group, effect, values}] when a model proposed it."""

    product: Product
    status: str
    score: float | None = None
    method: str | None = None
    evidence: list = field(default_factory=list)


@dataclass(frozen=True)
class Neighbourhood:
    """What a product page shows. category_path: the levels from the top ("Home", "Kitchen", ...)."""

    product: Product
    brand: dict | None
    category_path: list[str]
    same_as: list[Listing]
    different_from: list[Listing]
    also_bought: list[dict]           # [{"product": Product, "weight": float}]
    users: int
    similar: list[SearchResult]

    def to_arrow(self):
        """One row per linked product (relation: same_as, different_from, also_bought, similar);
        see frames.neighbourhood_table."""
        from shopgraph.queries.frames import neighbourhood_table

        return neighbourhood_table(self)

    def to_pandas(self):
        from shopgraph.queries.frames import to_pandas

        return to_pandas(self.to_arrow())

    def _repr_html_(self) -> str:
        from html import escape

        from shopgraph.queries.frames import html

        head = f"<p><b>{escape(self.product.title)}</b> ({escape(self.product.id)})</p>"
        return head + html(self.to_arrow())


def _evidence(raw) -> list:
    if not raw:
        return []
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return []  # evidence is informative only: an unreadable one is left out, not an error
    return value if isinstance(value, list) else []


def neighbourhood(graph, product_id: str, *, similar_k: int = 8, also_bought_k: int = 10) -> Neighbourhood:
    """The neighbourhood of product_id in graph (a ShopGraph); BadArgumentError for an unknown id."""
    product = graph.product(product_id)
    store = graph.store
    brand = store.cypher(_BRAND, {"id": product_id})
    category = store.cypher(_CATEGORY, {"id": product_id})
    # Edges may point either way (or both): one row per other product.
    same = list({r["id"]: r for r in store.cypher(_SAME_AS, {"id": product_id})}.values())
    different = list({r["id"]: r for r in store.cypher(_DIFFERENT, {"id": product_id})}.values())
    bought = store.cypher(_ALSO_BOUGHT, {"id": product_id, "limit": int(also_bought_k)})
    users = store.cypher(_USERS, {"id": product_id})
    others = {row["id"] for row in same + different + bought}
    products = {row["id"]: Product.from_row(row) for row in store.get_nodes("Product", sorted(others))}
    path = category[0]["path"].split(CATEGORY_SEPARATOR) if category and category[0]["path"] else []
    return Neighbourhood(
        product=product,
        brand=brand[0] if brand else None,
        category_path=path,
        same_as=[Listing(products[r["id"]], r["status"] or "matched", r["score"], r["method"], _evidence(r["evidence"]))
                 for r in same if r["id"] in products],
        different_from=[Listing(products[r["id"]], "different", None, r["method"])
                        for r in different if r["id"] in products],
        also_bought=[{"product": products[r["id"]], "weight": r["weight"]} for r in bought if r["id"] in products],
        users=int(users[0]["n"]) if users else 0,
        similar=graph.similar(product_id, k=similar_k) if similar_k > 0 else [],
    )
