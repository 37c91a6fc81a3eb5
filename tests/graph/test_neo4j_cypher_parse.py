"""Every Cypher text the Neo4j store can send parses as Neo4j Cypher, by a real parser: graphglot's
`neo4j` dialect (pure Python, pip `graphglot`; it parses the whole openCypher TCK plus Neo4j's
extensions). Its grammar lacks three Neo4j 5 constructs this store uses; those texts are checked in
two parts instead (see test_texts_beyond_the_parser):

- CREATE VECTOR INDEX ... OPTIONS {...} and CREATE FULLTEXT INDEX ... ON EACH [...]: the same
  statement as a range index (which it parses) + the OPTIONS map as an expression;
- the SEARCH subclause (Cypher 25): the query without it, + the subclause against its documented form.

The texts come from the module itself (neo4j_cypher.every_statement: every builder over the whole
schema), from a run of the store against the recording driver, and from the Cypher literals that
the rest of shopgraph passes to store.cypher() (which must run unchanged on Neo4j).
"""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest

from shopgraph.graph import neo4j_cypher as Q
from shopgraph.graph.filters import candidate_query
from shopgraph.graph.store import Filters
from tests.helpers import REPO

graphglot = pytest.importorskip("graphglot", reason="graphglot (the Cypher parser) is not installed")
from graphglot.dialect import Dialect  # noqa: E402

NEO4J = Dialect.get_or_raise("neo4j")
# graphglot rejects a parameter named like a keyword ($limit); Neo4j accepts it (parameter names are
# symbolic names, keywords included), so such names are renamed before parsing.
_KEYWORD_PARAMS = re.compile(r"\$(limit|skip|match|order|return)\b", re.I)

SEARCH_SUBCLAUSE = re.compile(
    r" SEARCH (?P<var>[a-z]+) IN \(VECTOR INDEX (?P<index>sg_[a-z]+_[a-z_]+) FOR \$vector LIMIT \$k\) "
    r"SCORE AS score")
VECTOR_INDEX = re.compile(
    r"CREATE VECTOR INDEX (?P<name>sg_\w+) IF NOT EXISTS FOR \(n:(?P<label>\w+)\) ON n\.(?P<prop>\w+) "
    r"OPTIONS (?P<options>\{indexConfig: \{`vector\.dimensions`: \d+, `vector\.similarity_function`: 'cosine'\}\})$")
FULLTEXT_INDEX = re.compile(
    r"CREATE FULLTEXT INDEX (?P<name>sg_\w+) IF NOT EXISTS FOR \(n:(?P<label>\w+)\) ON EACH \[(?P<props>[^\]]+)\]$")


def parse(text: str) -> None:
    NEO4J.parse(_KEYWORD_PARAMS.sub(lambda m: f"$p_{m.group(1)}", text))


def check(text: str) -> None:
    """Parse text, or its two parts when it uses a construct beyond graphglot's grammar."""
    if text.startswith("CREATE VECTOR INDEX"):
        m = VECTOR_INDEX.match(text)
        assert m, text
        parse(f"CREATE INDEX {m['name']} IF NOT EXISTS FOR (n:{m['label']}) ON (n.{m['prop']})")
        parse(f"RETURN {m['options']} AS options")
    elif text.startswith("CREATE FULLTEXT INDEX"):
        m = FULLTEXT_INDEX.match(text)
        assert m, text
        parse(f"CREATE INDEX {m['name']} IF NOT EXISTS FOR (n:{m['label']}) ON ({m['props']})")
    elif text.startswith("CYPHER 25 "):
        body = text[len("CYPHER 25 "):]
        m = SEARCH_SUBCLAUSE.search(body)
        assert m, text
        assert m["index"] in Q.own_index_names()
        parse(body[:m.start()] + body[m.end():].replace(", score", ", 1.0 AS score"))
    else:
        parse(text)


def test_the_parser_rejects_broken_cypher():
    """The parser is a real one: broken texts like those a builder bug would make are refused."""
    for broken in ("UNWIND $rows r MERGE (n:Product {id: r.id})", "MATCH (n:Product RETURN n",
                   "MATCH (n) RETURN n.id AS", "CREATE CONSTRAINT FOR (n:Product) REQUIRE n.id UNIQUE",
                   "UNWIND $rows AS r MERGE (n:Product {id: r.id}) SET n.title = , n.price = r.price",
                   "MATCH (a:Product)-[e:OF_BRAND]->(:Brand) WHERE a.id IN $ids DELETE"):
        with pytest.raises(Exception):
            NEO4J.parse(broken)


def test_texts_beyond_the_parser_are_really_beyond_it():
    """If graphglot learns these constructs, parse them whole (and drop the two-part check)."""
    for text in (Q.create_vector_index("Product", "text_vec", 384), Q.create_fulltext_index(),
                 Q.search_vector_index("Product", "text_vec")):
        with pytest.raises(Exception):
            NEO4J.parse(text)


def test_every_builder_is_covered():
    covered = {name for name, _, _ in Q.every_statement()}
    assert covered == set(Q.builders())
    public = {n for n, f in vars(Q).items() if callable(f) and getattr(f, "__module__", "") == Q.__name__
              and not n.startswith("_") and isinstance(Q.__dict__[n], type(check))}
    helpers = {"statement", "every_statement", "builders", "vector_index_name", "constraint_name",
               "own_index_names", "own_constraint_names"}
    assert public - helpers == set(Q.builders()), "a Cypher builder is not registered with @statement"


@pytest.mark.parametrize("name, args, text", Q.every_statement(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_statement_parses(name, args, text):
    check(text)


def test_everything_a_store_session_sent_parses():
    """Drive the store through every operation against the recording driver, parse what it sent."""
    from shopgraph.config import Neo4jConfig
    from shopgraph.graph.neo4j_connect import Neo4jSettings
    from shopgraph.graph.neo4j_store import Neo4jStore
    from shopgraph.graph.store import GraphBatch
    from tests.contract.conftest import SMALL_DIMS
    from tests.contract.test_store_contract import catalog_batch, product
    from tests.graph.neo4j_fake import FakeDriver

    driver = FakeDriver(version="2026.01.0")
    store = Neo4jStore.open(Neo4jSettings("bolt://localhost:7687", password="x"), driver=driver, dims=SMALL_DIMS,
                            config=Neo4jConfig(exact_max=0))
    store.write(catalog_batch([product("1"), product("2", brand=None)]))
    store.write(GraphBatch(nodes={"User": [{"id": "u"}]}, relationships={"INTERACTED": [
        {"src": "u", "dst": "shop_a:1", "kind": "view", "value": 1.0, "timestamp": 3}]}))
    store.set_vectors("Product", "gnn_vec", ["shop_a:1"], np.ones((1, 128)))
    store.get_nodes("Product", ["shop_a:1"])
    store.get_vectors("Product", "text_vec", ["shop_a:1"])
    store.product_hashes(["shop_a:1"])
    store.stats()
    list(store.iter_nodes("Category", ["path", "depth"]))
    store.relationship_pairs("INTERACTED", ["kind", "value", "timestamp"])
    driver.answer(Q.count_with_vector("fused_vec"), [{"n": 100}])
    store.vector_search("fused_vec", np.ones(SMALL_DIMS.fused), 3)
    store.vector_search("fused_vec", np.ones(SMALL_DIMS.fused), 3, filters=Filters(brand="acme", category="Audio",
                                                                                  platform="shop_a", price_max=9))
    store.vector_search("fused_vec", np.ones(SMALL_DIMS.fused), 3, exact=True)
    store.fulltext_search("backpack", 3)
    store.delete_nodes("Product", ["shop_a:2"])
    store.cypher("MATCH (p:Product) RETURN p.id AS id")
    store.clear(drop_schema=True)
    sent = {q for q, _ in driver.queries()}
    assert len(sent) > 40
    for text in sent:
        check(text)


def _cypher_literals() -> list[tuple[str, str]]:
    """(file:line, text) of every constant string passed as the query to a .cypher(...) call."""
    found = []
    for path in sorted((REPO / "shopgraph").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "cypher" \
                    and node.args:
                arg = node.args[0]
                try:
                    text = ast.literal_eval(arg)
                except ValueError:
                    continue  # a variable (user text, or one of a tuple of literals: see below)
                found.append((f"{path.relative_to(REPO)}:{node.lineno}", text))
            # Query texts kept in tuples / assignments before being passed (matching's graph_labels).
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("MATCH (") \
                    and "RETURN" in node.value and "neo4j_cypher" not in str(path) and "embedded" not in str(path):
                found.append((f"{path.relative_to(REPO)}:{node.lineno}", node.value))
    unique: dict[str, str] = {}
    for where, text in found:
        unique.setdefault(text, where)  # a text seen both as a call argument and as a constant
    return [(where, text) for text, where in unique.items()]


CALLER_QUERIES = _cypher_literals()


def test_callers_queries_were_found():
    files = {where.split(":")[0] for where, _ in CALLER_QUERIES}
    assert {"shopgraph/matching/pipeline.py", "shopgraph/matching/listings.py", "shopgraph/queries/api.py",
            "shopgraph/gnn/training.py", "shopgraph/demo/run.py"} <= files


@pytest.mark.parametrize("where, text", CALLER_QUERIES, ids=[w for w, _ in CALLER_QUERIES])
def test_callers_cypher_is_neo4j_cypher(where, text):
    parse(text)


@pytest.mark.parametrize("filters, where", [
    (Filters(brand="acme"), None),
    (Filters(brand=("a", "b"), category="Audio", platform=("x",), price_min=1, price_max=5), None),
    (None, "(p)-[:OF_BRAND]->(b:Brand) WHERE b.name = $brand"),
    (Filters(platform="shop_a"), "p.price < $cap"),
    (None, "p.price < $cap"),
    (Filters(category="Audio"), "(p)-[:IN_CATEGORY]->(c:Category) WHERE c.path = $category AND p.price IS NOT NULL"),
])
def test_candidate_queries_are_neo4j_cypher(filters, where):
    text, _ = candidate_query(filters, where, {"brand": "x", "cap": 1, "category": "y"})
    parse(text)
