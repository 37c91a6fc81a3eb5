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
    "CALL db.labels() YIELD label RETURN label",
    "MATCH (p:Product) RETURN p.start AS start_price, p.`stop` AS x",  # property names are not clauses
    "SHOW INDEXES YIELD name RETURN name",
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
    # Neo4j administration and writes outside the plain clauses
    ("TERMINATE TRANSACTIONS 'neo4j-transaction-42'", "TERMINATE"),
    ("STOP DATABASE neo4j", "STOP"),
    ("START DATABASE neo4j", "START"),
    ("ENABLE SERVER '25a7efc7'", "ENABLE"),
    ("DEALLOCATE DATABASES FROM SERVER 'a'", "DEALLOCATE"),
    ("REALLOCATE DATABASES", "REALLOCATE"),
    ("CREATE DATABASE other", "CREATE"),
    ("DROP USER alice", "DROP"),
    ("ALTER USER alice SET PASSWORD 'x'", "ALTER"),
    ("CREATE ROLE reader", "CREATE"),
    ("RENAME ROLE reader TO writer", "RENAME"),
    ("GRANT ROLE admin TO alice", "GRANT"),
    ("DENY READ {*} ON GRAPH * TO bob", "DENY"),
    ("REVOKE ROLE admin FROM alice", "REVOKE"),
    ("LOAD CSV FROM 'file:///x.csv' AS row RETURN row", "LOAD"),
    ("INSERT (:Brand {name: 'x'})", "INSERT"),
    ("UNWIND range(1, 3) AS i CALL { WITH i MATCH (p) RETURN p } IN TRANSACTIONS RETURN 1", "procedure"),
    ("CALL apoc.create.node(['Brand'], {name: 'x'}) YIELD node RETURN node", "procedure"),
    ("CALL apoc.periodic.iterate('MATCH (p) RETURN p', 'DETACH DELETE p', {})", "procedure"),
    ("MATCH (p:Product) CALL db.create.setNodeVectorProperty(p, 'text_vec', [1.0])", "procedure"),
    ("CALL dbms.setConfigValue('db.logs.query.enabled', 'OFF')", "procedure"),
    ("CALL `apoc.create.node`(['Brand'], {}) YIELD node RETURN node", "procedure"),
    ("CALL db.labels() YIELD label CALL apoc.refactor.rename.label(label, 'X') RETURN 1", "procedure"),
])
def test_writes_are_refused_with_reason(query, word):
    assert word in write_reason(query)
    with pytest.raises(ReadOnlyError, match="query refused"):
        ensure_read_only(query)


# Bypasses a reviewer found: back-quoted or parameter names after CALL, clauses outside the old deny list,
# and queries that start with anything but a reading clause.
@pytest.mark.parametrize("query, word", [
    ("CALL `threads`=1", "procedure"),
    ("CALL `checkpoint_threshold`=1", "procedure"),
    ("CALL threads=1", "procedure"),
    ("CALL `read_csv_serial`($show_tables) RETURN *", "procedure"),
    ("CALL read_parquet($show_tables) RETURN *", "procedure"),
    ("CALL $show_tables() RETURN *", "procedure"),
    ("CALL /* x */ `read_parquet`('x') RETURN *", "procedure"),
    ("CALL show_tables=1", "procedure"),
    ("MATCH (p) WHERE EXISTS { CALL `read_csv_serial`('x') RETURN 1 } RETURN p", "procedure"),
    ("COMMENT ON TABLE Brand IS 'x'", "COMMENT"),
    ("ANALYZE", "ANALYZE"),
    ("UPDATE vector", "UPDATE"),
    ("MATCH (p) RETURN p UNION CALL `threads`=1", "procedure"),
    ("SHOW USERS", "SHOW"),
    ("EXPLAIN EXPLAIN MATCH (p) RETURN p", "start"),
    ("FOO BAR", "start"),
    ("OPTIONAL RETURN 1", "start"),
    ("", "empty"),
])
def test_bypasses_are_refused(query, word):
    reason = write_reason(query)
    assert reason is not None and word.lower() in reason.lower(), reason


@pytest.mark.parametrize("query", [
    "OPTIONAL MATCH (p:Product) RETURN p",
    "UNWIND range(1, 3) AS i RETURN i",
    "WITH 1 AS x RETURN x",
    "RETURN $set AS s, $create AS c",        # parameter names are not clauses
    "EXPLAIN MATCH (p) RETURN p",
    "PROFILE MATCH (p) RETURN p",
    "// a comment first\nMATCH (p) RETURN p",
    "CALL `show_tables`() RETURN *",
    "CALL table_info('Product') RETURN *",
    "MATCH (p) CALL db.index.vector.queryNodes('idx', 3, $v) YIELD node RETURN node",
])
def test_more_reads_pass(query):
    assert write_reason(query) is None


def test_a_where_fragment_is_checked_for_writes_but_not_for_its_start():
    assert write_reason("p.price < 50", fragment=True) is None
    assert "SET" in write_reason("p.price < 50 SET p.x = 1", fragment=True)
    assert "procedure" in write_reason("(p) CALL `threads`=1", fragment=True)


# Clause words used as names: aliases, properties, map keys, labels, types and pattern variables are
# names, not clauses (issue 19: `RETURN x AS comment` was refused). Every write keyword and CALL, in
# every name position.
NAME_POSITIONS = [
    "MATCH (p:Product) RETURN p.title AS {w}",
    "MATCH (p:Product) WITH p.title AS {w} RETURN {w}.x",
    "UNWIND [1, 2] AS {w} RETURN 1",
    "CALL db.labels() YIELD label AS {w} RETURN 1",
    "MATCH (p:Product) RETURN p . {w}",
    "MATCH (p:Product) RETURN {{{w}: p.title}} AS m",
    "MATCH (p:Product) RETURN p {{.{w}, .title}}",
    "MATCH (p:{w}) RETURN count(p)",
    "MATCH (a)-[r:{w}]->(b) RETURN count(r)",
    "MATCH ({w}:Product) RETURN count({w})",
    "MATCH ({w}) RETURN 1",
    "MATCH (p:Product) WHERE p.price > 1 RETURN [{w}, 1]",
    "MATCH (p:Product) RETURN coalesce({w}, p.title)",
    "MATCH (p:Product) WHERE {w} = 1 RETURN p",
]
NAME_WORDS = sorted(__import__("shopgraph.graph.cypher_guard", fromlist=["x"]).WRITE_KEYWORDS | {"CALL"})


@pytest.mark.parametrize("template", NAME_POSITIONS)
@pytest.mark.parametrize("word", ["comment", "Comment", *NAME_WORDS])
def test_clause_words_as_names_pass(template, word):
    query = template.format(w=word)
    assert write_reason(query) is None, query


@pytest.mark.parametrize("query, word", [
    ("MATCH (p:Product) RETURN p.title AS comment SET p.price = 0", "SET"),
    ("MATCH (n) WITH n AS delete DELETE n", "DELETE"),
    ("MATCH (n) WITH n AS x DETACH DELETE x", "DETACH"),
    ("MATCH (n:Set) SET n:Label", "SET"),
    ("MATCH (n) REMOVE n:Label", "REMOVE"),
    ("MATCH (n) RETURN 1. DELETE n", "DELETE"),
    ("MATCH (a) WITH a AS create CREATE (b)", "CREATE"),
    ("RETURN 1 AS x COMMENT ON TABLE Product IS 'x'", "COMMENT"),
    ("RETURN 1 AS call CALL apoc.do.it()", "procedure"),
    ("MATCH (n) RETURN comment", "COMMENT"),  # ambiguous at the end: stays refused (back-quote it)
])
def test_clauses_next_to_names_are_still_refused(query, word):
    assert word in (write_reason(query) or ""), query
