"""Every Cypher text the Neo4j store sends, in one place.

Values always travel as parameters ($rows, $ids, $key, ...). Label, relationship and property names
cannot be parameters in Cypher, so each builder checks them against the schema (shopgraph.graph.schema)
before they reach the text; index and constraint names are derived from those checked names.

Each builder is registered with `@statement(examples)`: `examples(dims)` yields the argument tuples
that cover the whole schema, so `every_statement(dims)` lists every text this module can produce
(tests parse all of them with a real Cypher parser).

Neo4j 5 notes that shaped the texts:
- MERGE cannot match on a null property: the store refuses relationship rows without their key
  properties and groups the rest by which other properties they carry.
- `CALL db.index.vector.queryNodes` needs Neo4j 5.11+; the SEARCH clause needs Neo4j 2026.01+ and
  Cypher 25, hence the `CYPHER 25` prefix on that one text.
- Vector index scores for cosine are (1 + cos) / 2. Index queries return ids and scores only (no
  vectors over the wire); the store reads the final k vectors to score them exactly.
- Relationship upserts count rows (WITH DISTINCT r), not relationships: MERGE matches every existing
  relationship with the same key, which would otherwise over-count and hide a row that found no node.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

from shopgraph.graph import schema as S
from shopgraph.graph.vector_sync import INNER_PRODUCT_PROPERTIES

_REGISTRY: dict[str, tuple[Callable[..., str], Callable[[S.VectorDims], Iterator[tuple]]]] = {}

FULLTEXT_INDEX = "sg_product_fulltext"
FULLTEXT_PROPERTIES = ("title", "description", "brand")
# Range indexes beside the uniqueness constraints: filters by platform.
RANGE_INDEXES = (("Product", "platform"),)
# Indexes an earlier version made and this one no longer does; clear(drop_schema=True) drops them too.
RETIRED_INDEXES = ("sg_product_rev",)


def statement(examples: Callable[[S.VectorDims], Iterator[tuple]]):
    """Register a builder with the argument tuples that cover the schema."""

    def register(builder: Callable[..., str]) -> Callable[..., str]:
        _REGISTRY[builder.__name__] = (builder, examples)
        return builder

    return register


def every_statement(dims: S.VectorDims | None = None) -> list[tuple[str, tuple, str]]:
    """[(builder name, arguments, Cypher text)] for every builder and every schema name it takes."""
    dims = dims or S.VectorDims()
    out = []
    for name, (builder, examples) in _REGISTRY.items():
        for args in examples(dims):
            out.append((name, args, builder(*args)))
    return out


def builders() -> list[str]:
    return list(_REGISTRY)


# -- names -------------------------------------------------------------------------------------
def _node(label: str) -> S.NodeType:
    return S.node_type(label)


def _props(label: str, names: Sequence[str]) -> list[str]:
    S.check_properties(label, names)
    return list(names)


def _vector_prop(label: str, prop: str) -> str:
    S.check_vector_property(prop)
    S.check_properties(label, [prop])
    return prop


def vector_index_name(label: str, prop: str) -> str:
    """sg_product_text_vec, sg_user_gnn_vec, ..."""
    return f"sg_{label.lower()}_{_vector_prop(label, prop)}"


def constraint_name(label: str) -> str:
    return f"sg_{label.lower()}_{_node(label).key}_unique"


# -- example argument generators (the whole schema) ---------------------------------------------
def _labels(dims):
    for label in S.NODE_TYPES:
        yield (label,)


def _rels(dims):
    for rel in S.REL_TYPES:
        yield (rel,)


def _vector_pairs(dims):
    for label, node in S.NODE_TYPES.items():
        for prop, kind in node.properties.items():
            if kind == S.VECTOR:
                yield label, prop


def _vector_index_args(dims):
    for label, prop in _vector_pairs(dims):
        yield label, prop, dims.of(prop)


def _product_vectors(dims):
    for prop in S.VECTOR_PROPERTIES:
        yield (prop,)


def _label_columns(dims):
    for label, node in S.NODE_TYPES.items():
        plain = tuple(p for p, t in node.properties.items() if t != S.VECTOR)
        yield label, plain
        yield label, (node.key,)  # a row that carries its key only


def _rel_upserts(dims):
    for name, rel in S.REL_TYPES.items():
        yield name, rel.key, tuple(p for p in rel.properties if p not in rel.key)
        yield name, rel.key, ()


def _rel_props(dims):
    for name, rel in S.REL_TYPES.items():
        yield name, tuple(rel.properties)
        yield name, ()


def _none(dims):
    yield ()


def _bools(dims):
    yield (True,)
    yield (False,)


def _pages(dims):
    for label, columns in _label_columns(dims):
        yield label, columns, True
        yield label, columns, False


def _range_indexes(dims):
    yield from RANGE_INDEXES


# -- server and schema ---------------------------------------------------------------------------
@statement(_none)
def server_components() -> str:
    return "CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition"


@statement(_labels)
def create_constraint(label: str) -> str:
    key = _node(label).key
    return f"CREATE CONSTRAINT {constraint_name(label)} IF NOT EXISTS FOR (n:{label}) REQUIRE n.{key} IS UNIQUE"


def range_index_name(label: str, prop: str) -> str:
    _props(label, [prop])
    return f"sg_{label.lower()}_{prop}"


def vector_index_names() -> list[str]:
    """The name of the vector index every vector property would have (used or not)."""
    return [vector_index_name(label, prop) for label, prop in _vector_pairs(None)]


@statement(_none)
def show_indexes() -> str:
    """Every index (constraints' own indexes included, under the constraint's name) with its options
    (a vector index's width), so only what is missing or different is created."""
    return "SHOW INDEXES YIELD name, type, options RETURN name, type, options"


@statement(_range_indexes)
def create_range_index(label: str, prop: str) -> str:
    return f"CREATE INDEX {range_index_name(label, prop)} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})"


@statement(_vector_index_args)
def create_vector_index(label: str, prop: str, dim: int) -> str:
    # The width comes from VectorDims (an int, checked here), never from user text.
    dim = int(dim)
    if not 1 <= dim <= 4096:
        raise S.SchemaError(f"Neo4j vector indexes take 1 to 4096 dimensions, {prop} has {dim}")
    return (f"CREATE VECTOR INDEX {vector_index_name(label, prop)} IF NOT EXISTS FOR (n:{label}) ON n.{prop} "
            f"OPTIONS {{indexConfig: {{`vector.dimensions`: {dim}, `vector.similarity_function`: 'cosine'}}}}")


@statement(_none)
def create_fulltext_index() -> str:
    on = ", ".join(f"n.{p}" for p in _props("Product", FULLTEXT_PROPERTIES))
    return f"CREATE FULLTEXT INDEX {FULLTEXT_INDEX} IF NOT EXISTS FOR (n:Product) ON EACH [{on}]"


@statement(_none)
def await_indexes() -> str:
    return "CALL db.awaitIndexes($seconds)"


def drop_index(name: str) -> str:
    _check_own_name(name)
    return f"DROP INDEX {name} IF EXISTS"


def drop_constraint(name: str) -> str:
    _check_own_name(name)
    return f"DROP CONSTRAINT {name} IF EXISTS"


def _check_own_name(name: str) -> None:
    if name not in own_index_names() and name not in own_constraint_names():
        raise S.SchemaError(f"not a shopgraph index or constraint name: {name!r}")


def own_index_names() -> list[str]:
    """Every index this store creates or may have created (derived from the schema, so no SHOW
    query is needed): a vector index name for every vector property, whether or not it is in use."""
    names = vector_index_names() + [range_index_name(label, prop) for label, prop in RANGE_INDEXES]
    return names + list(RETIRED_INDEXES) + [FULLTEXT_INDEX]


def own_constraint_names() -> list[str]:
    return [constraint_name(label) for label in S.NODE_TYPES]


statement(lambda dims: ((name,) for name in own_index_names()))(drop_index)
statement(lambda dims: ((name,) for name in own_constraint_names()))(drop_constraint)


@statement(_labels)
def delete_label_batch(label: str) -> str:
    """Delete up to $batch nodes of a label (clear() loops until none is left)."""
    _node(label)
    return f"MATCH (n:{label}) WITH n LIMIT $batch DETACH DELETE n RETURN count(*) AS deleted"


# -- meta ---------------------------------------------------------------------------------------
@statement(_none)
def get_meta() -> str:
    return "MATCH (m:Meta {key: $key}) RETURN m.value AS value"


@statement(_none)
def get_metas() -> str:
    return "MATCH (m:Meta) WHERE m.key IN $keys RETURN m.key AS key, m.value AS value"


@statement(_none)
def set_meta() -> str:
    return "MERGE (m:Meta {key: $key}) SET m.value = $value"


@statement(_none)
def all_meta() -> str:
    return "MATCH (m:Meta) RETURN m.key AS key, m.value AS value ORDER BY key"


@statement(_none)
def bump_generation() -> str:
    """The next write generation, stored as text in Meta like the embedded store's."""
    return ("MERGE (m:Meta {key: $key}) "
            "SET m.value = toString(coalesce(toInteger(m.value), 0) + 1) RETURN toInteger(m.value) AS generation")


# -- writes -------------------------------------------------------------------------------------
@statement(_label_columns)
def upsert_nodes(label: str, columns: Sequence[str]) -> str:
    """MERGE rows by key and set exactly the columns given (null removes a property, as in Neo4j)."""
    node = _node(label)
    settable = [c for c in _props(label, columns) if c != node.key]
    text = f"UNWIND $rows AS r MERGE (n:{label} {{{node.key}: r.{node.key}}})"
    if settable:
        text += " SET " + ", ".join(f"n.{c} = r.{c}" for c in settable)
    return text + " RETURN count(n) AS written"


@statement(_rels)
def delete_outgoing(rel: str) -> str:
    spec = S.rel_type(rel)
    key = _node(spec.src).key
    return f"MATCH (a:{spec.src})-[e:{rel}]->(:{spec.dst}) WHERE a.{key} IN $ids DELETE e"


@statement(_rel_upserts)
def upsert_relationships(rel: str, merge_keys: Sequence[str], settable: Sequence[str]) -> str:
    """MERGE (src)-[rel {merge_keys}]->(dst) and set `settable`; returns how many rows found both
    ends (rows, not relationships: several old relationships may match one row), so the store can
    refuse a batch that names a missing node (the embedded store's COPY fails on one too)."""
    spec = S.rel_type(rel)
    S.check_rel_properties(rel, list(merge_keys) + list(settable))
    src_key, dst_key = _node(spec.src).key, _node(spec.dst).key
    keys = ", ".join(f"{k}: r.{k}" for k in merge_keys)
    text = (f"UNWIND $rows AS r MATCH (a:{spec.src} {{{src_key}: r.src}}) MATCH (b:{spec.dst} {{{dst_key}: r.dst}}) "
            f"MERGE (a)-[e:{rel}{' {' + keys + '}' if keys else ''}]->(b)")
    if settable:
        text += " SET " + ", ".join(f"e.{p} = r.{p}" for p in settable)
    return text + " WITH DISTINCT r RETURN count(r) AS written"


@statement(_labels)
def count_existing(label: str) -> str:
    key = _node(label).key
    return f"MATCH (n:{label}) WHERE n.{key} IN $ids RETURN count(n) AS n"


@statement(_labels)
def delete_nodes(label: str) -> str:
    key = _node(label).key
    return f"MATCH (n:{label}) WHERE n.{key} IN $ids DETACH DELETE n"


@statement(_none)
def decided_products() -> str:
    """Which of $ids exist, and whether a SAME_AS / DIFFERENT_FROM names each (retire_products)."""
    return ("MATCH (p:Product) WHERE p.id IN $ids "
            "RETURN p.id AS id, EXISTS { MATCH (p)-[:SAME_AS|DIFFERENT_FROM]-(:Product) } AS decided")


@statement(_none)
def retire_tombstones() -> str:
    """Products $ids become tombstones: every relationship but the decisions removed, vectors and
    content_hash null, gone = true, rev = $generation."""
    nulls = ", ".join(f"p.{prop} = null" for prop in S.VECTOR_PROPERTIES)
    return (f"MATCH (p:Product) WHERE p.id IN $ids "
            f"OPTIONAL MATCH (p)-[r]-() WHERE NOT type(r) IN {list(S.DECISIONS)!r} DELETE r "
            f"WITH DISTINCT p SET p.gone = true, p.content_hash = null, p.rev = $generation, {nulls}")


@statement(_vector_pairs)
def set_vectors(label: str, prop: str) -> str:
    """Write one vector property back; Product rows also get the write generation in rev."""
    key = _node(label).key
    _vector_prop(label, prop)
    stamp = ", n.rev = $generation" if label == "Product" else ""
    return f"UNWIND $rows AS r MATCH (n:{label} {{{key}: r.id}}) SET n.{prop} = r.v{stamp} RETURN count(n) AS written"


# -- reads --------------------------------------------------------------------------------------
@statement(_label_columns)
def get_nodes(label: str, columns: Sequence[str]) -> str:
    key = _node(label).key
    returns = "".join(f", n.{c} AS {c}" for c in _props(label, columns))
    return f"MATCH (n:{label}) WHERE n.{key} IN $ids RETURN n.{key} AS _key{returns}"


@statement(_vector_pairs)
def get_vectors(label: str, prop: str) -> str:
    key = _node(label).key
    _vector_prop(label, prop)
    return f"MATCH (n:{label}) WHERE n.{key} IN $ids AND n.{prop} IS NOT NULL RETURN n.{key} AS id, n.{prop} AS v"


@statement(_none)
def product_hashes() -> str:
    return "MATCH (p:Product) WHERE p.id IN $ids AND p.content_hash IS NOT NULL RETURN p.id AS id, p.content_hash AS hash"


@statement(_labels)
def count_nodes(label: str) -> str:
    _node(label)
    return f"MATCH (n:{label}) RETURN count(n) AS n"


@statement(_rels)
def count_relationships(rel: str) -> str:
    spec = S.rel_type(rel)
    return f"MATCH (:{spec.src})-[e:{rel}]->(:{spec.dst}) RETURN count(e) AS n"


@statement(_pages)
def node_page(label: str, columns: Sequence[str], first: bool) -> str:
    """One page of nodes in key order: keyset paging ($after = the last key seen), $n rows."""
    key = _node(label).key
    returns = "".join(f", n.{c} AS {c}" for c in _props(label, columns))
    where = "" if first else f" WHERE n.{key} > $after"
    return f"MATCH (n:{label}){where} RETURN n.{key} AS _key{returns} ORDER BY n.{key} LIMIT $n"


@statement(_rel_props)
def relationship_pairs(rel: str, properties: Sequence[str]) -> str:
    spec = S.rel_type(rel)
    S.check_rel_properties(rel, properties)
    src_key, dst_key = _node(spec.src).key, _node(spec.dst).key
    extra = "".join(f", e.{p} AS {p}" for p in properties)
    return f"MATCH (a:{spec.src})-[e:{rel}]->(b:{spec.dst}) RETURN a.{src_key} AS src, b.{dst_key} AS dst{extra}"


@statement(_product_vectors)
def count_with_vector(prop: str) -> str:
    _vector_prop("Product", prop)
    return f"MATCH (p:Product) WHERE p.{prop} IS NOT NULL RETURN count(p) AS n"


@statement(_product_vectors)
def ids_with_vector(prop: str) -> str:
    _vector_prop("Product", prop)
    return f"MATCH (p:Product) WHERE p.{prop} IS NOT NULL RETURN p.id AS id"


@statement(lambda dims: ((prop, filtered) for (prop,) in _product_vectors(dims) for filtered in (True, False)))
def exact_top_k(prop: str, filtered: bool) -> str:
    """Exact top-$k scored in the server, so no vector crosses the wire: every product with the
    vector ($ids only when filtered). Neo4j 5 has no inner-product function, but its euclidean
    similarity 1 / (1 + d^2) gives d^2, and against $zero (a zero vector) the squared norm, so
    a.b = (|a|^2 + |q|^2 - d^2) / 2 ($qq = |q|^2); cosine divides that by |a| |q| (0 for a zero
    vector, as in numpy; vector.similarity.cosine refuses zero vectors). The server computes in
    float32: the store re-scores the returned rows exactly."""
    _vector_prop("Product", prop)
    inner = prop in INNER_PRODUCT_PROPERTIES
    where = f"p.{prop} IS NOT NULL" + (" AND p.id IN $ids" if filtered else "")
    score = "dot" if inner else "CASE WHEN pp > 0.0 THEN dot / sqrt(pp * $qq) ELSE 0.0 END"
    return (f"MATCH (p:Product) WHERE {where} "
            f"WITH p.id AS id, 1.0 / vector.similarity.euclidean(p.{prop}, $zero) - 1.0 AS pp, "
            f"1.0 / vector.similarity.euclidean(p.{prop}, $vector) - 1.0 AS dd "
            f"WITH id, pp, (pp + $qq - dd) / 2.0 AS dot "
            f"RETURN id, {score} AS score ORDER BY score DESC, id LIMIT $k")


# -- vector and full-text search -----------------------------------------------------------------
@statement(_vector_pairs)
def query_vector_index(label: str, prop: str) -> str:
    """Approximate top-$k by the property's vector index (its name is the $index parameter)."""
    key = _node(label).key
    _vector_prop(label, prop)
    return (f"CALL db.index.vector.queryNodes($index, $k, $vector) YIELD node, score "
            f"RETURN node.{key} AS id, score")


@statement(_vector_pairs)
def search_vector_index(label: str, prop: str) -> str:
    """The same with the SEARCH clause (Neo4j 2026.01+, Cypher 25)."""
    key = _node(label).key
    index = vector_index_name(label, prop)
    return (f"CYPHER 25 MATCH (n:{label}) SEARCH n IN (VECTOR INDEX {index} FOR $vector LIMIT $k) SCORE AS score "
            f"RETURN n.{key} AS id, score")


@statement(_none)
def fulltext_search() -> str:
    return ("CALL db.index.fulltext.queryNodes($index, $query) YIELD node, score "
            "RETURN node.id AS id, score ORDER BY score DESC, id LIMIT $k")
