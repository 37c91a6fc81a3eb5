"""Query results as Arrow tables and pandas DataFrames (and HTML in notebooks).

Every result list of the API (search hits, Cypher rows, match proposals, the review queue, a product's
neighbourhood) becomes one table with typed columns: ids and text as strings, prices and scores as
float64, counts as int64, flags as bool, lists (matched_by, vectors) as Arrow lists. pandas gets the
nullable dtypes (Int64, boolean, string), so a missing price is <NA> and an integer column with a gap
stays integer.

Cypher rows have no declared schema: each column's type is inferred from its values. A column whose
values cannot share one Arrow type (an int in one row, a string in the next) becomes strings, each
value written as JSON text (counted in the table's metadata as `shopgraph.raw_columns`): kept, never
dropped.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

# Imported lazily by the functions below: pyarrow and pandas are heavy, and `import shopgraph`
# (a CLI search) must not pay for them.


def _plain(value: Any) -> Any:
    """A value Arrow can hold: numpy scalars and arrays as Python values, driver temporal types
    (neo4j.time) as native datetimes, anything else unchanged."""
    if hasattr(value, "to_native"):
        return value.to_native()
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def column_array(values: Sequence[Any], type=None):
    """One Arrow array from Python values: of `type` when given, else inferred; values that share no
    type become JSON text (returns (array, raw) with raw True then)."""
    import pyarrow as pa

    plain = [_plain(v) for v in values]
    if type is not None:
        return pa.array(plain, type=type), False
    try:
        array = pa.array(plain)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError, ValueError):
        return pa.array([_json_text(v) for v in plain], type=pa.string()), True
    if pa.types.is_null(array.type):
        array = pa.array(plain, type=pa.string())  # a column of nulls only: text, so it can be written anywhere
    return array, False


def records_table(rows: Iterable[dict], columns: Sequence[str] | None = None, types: dict | None = None):
    """An Arrow table from dict rows: one column per key (in first-seen order, or `columns`), typed by
    `types` (name -> pyarrow type) or inferred."""
    import pyarrow as pa

    rows = list(rows)
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    arrays, raw = [], []
    for name in columns:
        array, was_raw = column_array([row.get(name) for row in rows], (types or {}).get(name))
        arrays.append(array)
        if was_raw:
            raw.append(name)
    table = pa.table(arrays, names=list(columns)) if columns else pa.table({})
    if raw:
        table = table.replace_schema_metadata({"shopgraph.raw_columns": json.dumps(raw)})
    return table


def to_pandas(table):
    """An Arrow table as a DataFrame with nullable dtypes: int64 -> Int64, bool -> boolean, string ->
    string (missing values <NA>, integers never turned into floats)."""
    import pandas as pd
    import pyarrow as pa

    mapping = {pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int32Dtype(), pa.bool_(): pd.BooleanDtype(),
               pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}
    return table.to_pandas(types_mapper=mapping.get)


def html(table, max_rows: int = 50) -> str:
    """A notebook's HTML view of a table (pandas escapes every cell)."""
    frame = to_pandas(table.slice(0, max_rows))
    more = f"<p>{table.num_rows - max_rows:,} more rows</p>" if table.num_rows > max_rows else ""
    return frame.to_html(index=False, escape=True, na_rep="") + more


class TableList(list):
    """A list of results that also converts itself: to_arrow(), to_pandas(), and an HTML view in
    notebooks. Subclasses say how: table_rows() (rows and declared column types), or to_arrow()."""

    def table_rows(self) -> tuple[list[dict], dict] | None:
        """(rows as dicts, {column: pyarrow type}) of the flat table, when the columns are declared;
        None when they are inferred from the values (to_arrow then builds the table itself). The CLI's
        text table renders these rows directly: building Arrow arrays from Python values imports
        pandas (0.35 s), which a one-off search process should not pay."""
        return None

    def to_arrow(self):
        table = self.table_rows()
        if table is None:
            raise NotImplementedError
        rows, types = table
        return records_table(rows, list(types), types)

    def records(self) -> list:
        """The results as JSON-ready values (their own shape, which may nest)."""
        return list(self)

    def to_pandas(self):
        return to_pandas(self.to_arrow())

    def _repr_html_(self) -> str:
        return html(self.to_arrow())


# -- product columns, shared by every table that lists products ------------------------------------------
PRODUCT_FIELDS = ("id", "platform", "source_id", "title", "description", "price", "currency", "brand",
                  "category", "image_ref", "image_missing")


def product_types(prefix: str = "") -> dict:
    import pyarrow as pa

    types = {f"{prefix}{name}": pa.string() for name in PRODUCT_FIELDS}
    types[f"{prefix}price"] = pa.float64()
    types[f"{prefix}image_missing"] = pa.bool_()
    return types


def product_columns(product, prefix: str = "") -> dict:
    """A Product's fields as {prefix + name: value} (None for a missing product)."""
    return {f"{prefix}{name}": getattr(product, name) if product is not None else None for name in PRODUCT_FIELDS}


class SearchResults(TableList):
    """Search hits (SearchResult), best first. Table columns: rank, score, the product's fields,
    score_<channel> per channel, matched_by (list of channel names), strength, relevance.

    Besides the hits: no_close_match (no result is an exact or strong match: the query probably
    has no good answer here), kind (the query kind the hybrid weights came from; None for the
    vector modes), total (fused candidates found, of which these are one page; None: not counted),
    offset (rank - 1 of the first hit), facets ({"brand"|"platform"|"category": [[value, count]]}
    over every candidate, or None)."""

    def __init__(self, hits=(), *, no_close_match: bool = False, kind: str | None = None,
                 total: int | None = None, offset: int = 0, facets: dict | None = None):
        super().__init__(hits)
        self.no_close_match = no_close_match
        self.kind = kind
        self.total = total
        self.offset = offset
        self.facets = facets

    def records(self) -> list:
        return [hit.to_dict() for hit in self]

    def table_rows(self) -> tuple[list[dict], dict]:
        import pyarrow as pa

        channels = list(dict.fromkeys(c for hit in self for c in hit.channels)) or ["text", "image", "lexical"]
        rows = [{"rank": rank, "score": hit.score, **product_columns(hit.product),
                 **{f"score_{c}": hit.channels.get(c) for c in channels}, "matched_by": list(hit.matched_by),
                 "strength": hit.strength, "relevance": hit.relevance}
                for rank, hit in enumerate(self, self.offset + 1)]
        types = {"rank": pa.int64(), "score": pa.float64(), **product_types(),
                 **{f"score_{c}": pa.float64() for c in channels}, "matched_by": pa.list_(pa.string()),
                 "strength": pa.string(), "relevance": pa.float64()}
        return rows, types


def _evidence_types():
    import pyarrow as pa

    return {"src": pa.string(), "dst": pa.string(), "score": pa.float64(), "status": pa.string(),
            "evidence": pa.string()}


class MatchResults(TableList):
    """Proposed matches [{src, dst, score, status, evidence}] (ShopGraph.match, match_platforms).
    Table columns: src, dst, score, status, evidence (the JSON list of feature groups), says (the
    evidence in plain words)."""

    def table_rows(self) -> tuple[list[dict], dict]:
        import pyarrow as pa

        return [_match_row(m) for m in self], {**_evidence_types(), "says": pa.string()}


class ReviewQueue(TableList):
    """Matches waiting for review [{src, dst, score, src_title, dst_title, evidence}]. Table columns:
    src, dst, score, src_title, dst_title, evidence (JSON), says (plain words)."""

    def table_rows(self) -> tuple[list[dict], dict]:
        import pyarrow as pa

        types = {"src": pa.string(), "dst": pa.string(), "score": pa.float64(), "src_title": pa.string(),
                 "dst_title": pa.string(), "evidence": pa.string(), "says": pa.string()}
        return [_match_row(m) for m in self], types


def evidence_words(evidence: list) -> str:
    """Evidence in plain words, strongest first, e.g. "for: same model number (+0.41); ..."."""
    parts = []
    for item in evidence or []:
        # Edges written before evidence carried plain words have only the feature values.
        says = item.get("says") or f"{item.get('group')}: " + ", ".join(
            f"{k}={v + 0.0:g}" if isinstance(v, (int, float)) else f"{k}={v}"
            for k, v in list((item.get("values") or {}).items())[:3])
        parts.append(f"{says} ({item.get('effect', 0.0):+.2f})")
    return "; ".join(parts)


def _match_row(m: dict) -> dict:
    return {**m, "evidence": json.dumps(m.get("evidence") or [], ensure_ascii=False),
            "says": evidence_words(m.get("evidence") or [])}


def neighbourhood_table(page):
    """A product page (Neighbourhood) as one table: one row per linked product, with `relation`
    (same_as, different_from, also_bought, similar), the product's fields, status, score, method,
    weight (ALSO_BOUGHT) and evidence (JSON)."""
    import pyarrow as pa

    rows = []
    for relation, items in (("same_as", page.same_as), ("different_from", page.different_from)):
        rows += [{"relation": relation, **product_columns(x.product), "status": x.status, "score": x.score,
                  "method": x.method, "weight": None, "evidence": json.dumps(x.evidence, ensure_ascii=False)}
                 for x in items]
    rows += [{"relation": "also_bought", **product_columns(b["product"]), "weight": b["weight"]}
             for b in page.also_bought]
    rows += [{"relation": "similar", **product_columns(h.product), "score": h.score} for h in page.similar]
    types = {"relation": pa.string(), **product_types(), "status": pa.string(), "score": pa.float64(),
             "method": pa.string(), "weight": pa.float64(), "evidence": pa.string()}
    return records_table(rows, list(types), types)


class CypherRows(TableList):
    """The rows of a Cypher query (dicts, one key per RETURN column). truncated: there were more rows
    than max_rows. Table columns: the returned names, types inferred from the values."""

    truncated: bool = False

    @classmethod
    def of(cls, rows) -> "CypherRows":
        out = cls(rows)
        out.truncated = bool(getattr(rows, "truncated", False))
        return out

    def to_arrow(self):
        return records_table(self)
