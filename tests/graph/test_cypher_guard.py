import pytest

from shopgraph.errors import ReadOnlyError
from shopgraph.graph.cypher_guard import ensure_read_only, write_reason


@pytest.mark.parametrize("query", [
    "MATCH (p:Product) RETURN p.title",
    "MATCH (p:Product) WHERE p.title = 'CREATE a SET' RETURN p",   # keywords inside strings are data
    "MATCH (p:Product) // DELETE everything\nRETURN count(p)",       # and inside comments
    "MATCH (p:Product) RETURN p.`set` AS x",
    "CALL show_tables() RETURN *",
    "MATCH (p:Product) RETURN p;",
])
def test_reads_pass(query):
    assert write_reason(query) is None
    ensure_read_only(query)


@pytest.mark.parametrize("query, word", [
    ("MATCH (p:Product) SET p.price = 0", "SET"),
    ("create (:Brand {name: 'x'})", "CREATE"),
    ("MATCH (p) DETACH DELETE p", "DETACH"),
    ("MERGE (b:Brand {name: $n})", "MERGE"),
    ("COPY Product FROM 'x.csv'", "COPY"),
    ("LOAD EXTENSION vector", "LOAD"),
    ("MATCH (p) RETURN p; MATCH (b) RETURN b", "several statements"),
    ("CALL some_writer() RETURN *", "procedure"),
    ("MATCH (p) /* hide */ REMOVE p.price", "REMOVE"),
])
def test_writes_are_refused_with_reason(query, word):
    assert word in write_reason(query)
    with pytest.raises(ReadOnlyError, match="query refused"):
        ensure_read_only(query)
