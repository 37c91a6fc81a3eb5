"""What is in a graph: labels, relationship types, their properties with types, widths and how many
carry them, attribute keys with counts, platforms with product counts. The same on every store.

Driven by the schema (schema.NODE_TYPES, REL_TYPES): a label or relationship type added there is
described without a change here. Attribute keys: every data label and relationship type with a
property named `key` (an attribute's name, e.g. a future `(:Attribute {key, value})`) is counted per
distinct key. The embedded store's Cypher dialect has no `CALL db.labels()`; this works on both.

One Cypher query per label and per relationship type (count and non-null count of every property in
one pass), plus one per platform list and per keyed element.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from shopgraph.graph import schema as S


@dataclass(frozen=True)
class PropertyInfo:
    """One property: type (STRING, DOUBLE, INT64, BOOL, VECTOR), width (a vector's float count, else
    None), filled (how many nodes or relationships carry a value), max_chars (longest STRING value)."""

    name: str
    type: str
    filled: int
    width: int | None = None
    max_chars: int | None = None


@dataclass(frozen=True)
class LabelInfo:
    label: str
    key: str
    count: int
    properties: list[PropertyInfo]


@dataclass(frozen=True)
class RelInfo:
    type: str
    src: str
    dst: str
    count: int
    properties: list[PropertyInfo]


@dataclass
class GraphSchema:
    """ShopGraph.schema(): version, labels, relationships, platforms [{name, products}], attribute
    keys [{element, key, count}] (element: the label or type holding the key)."""

    version: str | None
    labels: list[LabelInfo] = field(default_factory=list)
    relationships: list[RelInfo] = field(default_factory=list)
    platforms: list[dict] = field(default_factory=list)
    attribute_keys: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def render(self) -> str:
        """The schema as plain text, one block per section."""
        lines = [f"schema version {self.version or '?'}", "", "labels"]
        for node in self.labels:
            lines.append(f"  {node.label} (key {node.key}): {node.count:,}")
            lines += [f"    {_prop_line(p)}" for p in node.properties]
        lines += ["", "relationship types"]
        for rel in self.relationships:
            lines.append(f"  (:{rel.src})-[:{rel.type}]->(:{rel.dst}): {rel.count:,}")
            lines += [f"    {_prop_line(p)}" for p in rel.properties]
        lines += ["", "platforms"]
        lines += [f"  {p['name']}: {p['products']:,} products" for p in self.platforms] or ["  (none)"]
        if self.attribute_keys:
            lines += ["", "attribute keys"]
            lines += [f"  {a['element']}.{a['key']}: {a['count']:,}" for a in self.attribute_keys]
        return "\n".join(lines)


def _prop_line(p: PropertyInfo) -> str:
    kind = f"{p.type}[{p.width}]" if p.width else p.type
    extra = f", longest {p.max_chars:,} chars" if p.max_chars else ""
    return f"{p.name:<16} {kind:<14} {p.filled:>10,} filled{extra}"


def _width(store, label: str, prop: str) -> int | None:
    if label == "Product" and prop in S.VECTOR_PROPERTIES:
        return store.dims.of(prop)
    if prop == "gnn_vec":
        return store.dims.gnn
    return None


def _property_counts(store, match: str, var: str, properties: dict[str, str]) -> tuple[int, dict, dict]:
    """(rows, non-null count per property, longest text per STRING property) in one query."""
    returns = [f"count(*) AS n"]
    for i, name in enumerate(properties):
        returns.append(f"count({var}.{name}) AS f{i}")
        if properties[name] == S.STRING:
            returns.append(f"max(size({var}.{name})) AS m{i}")
    row = store.cypher(f"{match} RETURN {', '.join(returns)}")[0]
    filled = {name: int(row[f"f{i}"]) for i, name in enumerate(properties)}
    longest = {name: row.get(f"m{i}") for i, name in enumerate(properties) if properties[name] == S.STRING}
    return int(row["n"]), filled, longest


def _properties(store, label: str, props: dict[str, str], filled: dict, longest: dict) -> list[PropertyInfo]:
    return [PropertyInfo(name, kind, filled[name], _width(store, label, name) if kind == S.VECTOR else None,
                         int(longest[name]) if longest.get(name) is not None else None)
            for name, kind in props.items()]


def keyed_elements(node_types=None, rel_types=None) -> list[tuple[str, str]]:
    """(kind, name) of every data label ("node") and relationship type ("rel") that has a property
    named `key`: their distinct keys are attribute keys. A label whose nodes also hold a `value`
    (Identifier: key = scheme:value) names values, not attributes, and is left out: counting its keys
    would list every GTIN."""
    node_types = S.NODE_TYPES if node_types is None else node_types
    rel_types = S.REL_TYPES if rel_types is None else rel_types
    out = [("node", label) for label, node in node_types.items()
           if label != "Meta" and "key" in node.properties and "value" not in node.properties]
    out += [("rel", name) for name, rel in rel_types.items() if "key" in rel.properties]
    return out


def key_count_query(kind: str, name: str, rel_types=None) -> str:
    """Cypher counting each distinct `key` of a keyed label (the relationships that reach its nodes,
    or the nodes when none do) or relationship type."""
    rel_types = S.REL_TYPES if rel_types is None else rel_types
    if kind == "rel":
        rel = rel_types[name]
        return f"MATCH (:{rel.src})-[r:{name}]->(:{rel.dst}) RETURN r.key AS key, count(r) AS n ORDER BY n DESC, key"
    incoming = [t for t, rel in rel_types.items() if rel.dst == name]
    if not incoming:
        return f"MATCH (a:{name}) RETURN a.key AS key, count(a) AS n ORDER BY n DESC, key"
    rel = rel_types[incoming[0]]
    return (f"MATCH (:{rel.src})-[r:{incoming[0]}]->(a:{name}) RETURN a.key AS key, count(r) AS n "
            f"ORDER BY n DESC, key")


def describe(store) -> GraphSchema:
    """The schema of the graph in store, with counts (see the module docstring)."""
    out = GraphSchema(version=store.get_meta("schema_version"))
    for label in S.DATA_LABELS:
        node = S.node_type(label)
        count, filled, longest = _property_counts(store, f"MATCH (n:{label})", "n", node.properties)
        if label == "Product":  # a derived fused_vec is null to Cypher (graph/derived_fused.py)
            filled["fused_vec"] = store.count_with_vector("fused_vec")
        out.labels.append(LabelInfo(label, node.key, count, _properties(store, label, node.properties, filled, longest)))
    for name, rel in S.REL_TYPES.items():
        count, filled, longest = _property_counts(store, f"MATCH (:{rel.src})-[r:{name}]->(:{rel.dst})", "r",
                                                  rel.properties)
        out.relationships.append(RelInfo(name, rel.src, rel.dst, count,
                                         _properties(store, name, rel.properties, filled, longest)))
    out.platforms = platform_counts(store)
    for kind, name in keyed_elements():
        out.attribute_keys += [{"element": name, "key": r["key"], "count": int(r["n"])}
                               for r in store.cypher(key_count_query(kind, name))]
    return out


def platform_counts(store) -> list[dict]:
    """[{name, products}] for every platform, most products first (platforms without products too)."""
    rows = store.cypher("MATCH (s:Platform) OPTIONAL MATCH (p:Product)-[:LISTED_ON]->(s) "
                        "RETURN s.name AS name, count(p) AS products ORDER BY products DESC, name")
    return [{"name": r["name"], "products": int(r["products"])} for r in rows]
