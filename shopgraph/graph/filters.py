"""Turn structured Filters and a user `where` pattern into a read-only Cypher candidate query.

The result binds `p` to Product and returns `p.id AS id`. Values go in parameters whose names start with
"_" (`_f_brands`, ...; the stores add `_q`, `_k`): that name space is reserved, and a caller's own
parameter named "_..." is refused, so no filter value can ever replace a caller's value or the reverse.
"""

from __future__ import annotations

from typing import Any, Mapping

from shopgraph.errors import BadArgumentError
from shopgraph.graph.cypher_guard import ensure_read_only
from shopgraph.graph.store import Filters
from shopgraph.records import CATEGORY_SEPARATOR


RESERVED_PREFIX = "_"


def _as_tuple(value: str | tuple[str, ...] | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def candidate_query(filters: Filters | None, where: str | None,
                    params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """(Cypher, parameters) returning the ids of the products that pass every condition.

    `where` is either a pattern that starts with "(" and binds p, optionally followed by its own
    WHERE ("(p)-[:OF_BRAND]->(b:Brand) WHERE b.name = $brand"), or a boolean expression over p
    ("p.price < 50").
    """
    filters = filters or Filters()
    bound = dict(params or {})
    reserved = sorted(str(name) for name in bound if str(name).startswith(RESERVED_PREFIX))
    if reserved:
        raise BadArgumentError(f"parameter ${reserved[0]}: names starting with {RESERVED_PREFIX!r} are reserved "
                               f"for shopgraph's own filters; rename it")
    matches = ["MATCH (p:Product)"]
    conditions: list[str] = []
    if filters.brand is not None:
        from shopgraph.ingest.normalise import normalise_brand

        brands = [normalise_brand(b) or b for b in _as_tuple(filters.brand)]
        matches.append("MATCH (p)-[:OF_BRAND]->(fb:Brand)")
        conditions.append("fb.name IN $_f_brands")
        bound["_f_brands"] = brands
    if filters.category is not None:
        matches.append("MATCH (p)-[:IN_CATEGORY]->(fc:Category)")
        conditions.append("(fc.path = $_f_category OR fc.path STARTS WITH $_f_category_prefix)")
        bound["_f_category"] = filters.category
        bound["_f_category_prefix"] = filters.category + CATEGORY_SEPARATOR
    if filters.platform is not None:
        conditions.append("p.platform IN $_f_platforms")
        bound["_f_platforms"] = _as_tuple(filters.platform)
    if filters.currency is not None:
        conditions.append("p.currency = $_f_currency")
        bound["_f_currency"] = filters.currency
    if filters.price_min is not None:
        conditions.append("p.price >= $_f_price_min")
        bound["_f_price_min"] = float(filters.price_min)
    if filters.price_max is not None:
        conditions.append("p.price <= $_f_price_max")
        bound["_f_price_max"] = float(filters.price_max)
    if filters.price_min is not None and filters.price_max is not None and filters.price_min > filters.price_max:
        raise BadArgumentError("price_min is greater than price_max")

    query = "\n".join(matches)
    if conditions:
        query += "\nWHERE " + " AND ".join(conditions)
    if where:
        where = where.strip()
        ensure_read_only(where, fragment=True)
        if where.startswith("("):
            query += f"\nMATCH {where}"
        else:
            query += f"\nWITH p WHERE {where}" if conditions or len(matches) > 1 else f"\nWHERE {where}"
    query += "\nRETURN DISTINCT p.id AS id"
    return query, bound


def price_currencies(store, filters: Filters) -> list[str | None]:
    """The currencies (sorted, None for a price without one) of the priced products that `filters`
    allows, leaving its price bounds and currency aside: what a price bound would compare."""
    from dataclasses import replace

    query, bound = candidate_query(replace(filters, price_min=None, price_max=None, currency=None), None, None)
    head, _, _ = query.rpartition("\nRETURN DISTINCT p.id AS id")
    rows = store.cypher(head + "\nWITH DISTINCT p WHERE p.price IS NOT NULL RETURN DISTINCT p.currency AS currency",
                        bound)
    return sorted({r["currency"] for r in rows}, key=lambda c: (c is not None, c or ""))
