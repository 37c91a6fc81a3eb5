"""GraphStore.cypher(max_rows=n): at most n rows are read from the database and turned into dicts;
the result says whether there were more (truncated), on the embedded store and on Neo4j."""

from __future__ import annotations

import pytest

from shopgraph.graph.embedded import EmbeddedStore
from tests.graph.test_neo4j_store import open_store


@pytest.fixture
def embedded(tmp_path):
    store = EmbeddedStore.open(tmp_path / "g.db")
    yield store
    store.close()


def test_embedded_stops_reading_after_max_rows(embedded):
    rows = embedded.cypher("UNWIND range(1, 2000000) AS i RETURN i", max_rows=5)
    assert [r["i"] for r in rows] == [1, 2, 3, 4, 5] and rows.truncated
    exact = embedded.cypher("UNWIND range(1, 5) AS i RETURN i", max_rows=5)
    assert len(exact) == 5 and not exact.truncated
    assert len(embedded.cypher("UNWIND range(1, 7) AS i RETURN i")) == 7  # no cap by default


def test_neo4j_stops_reading_after_max_rows(driver):
    store = open_store(driver)
    pulled = []

    def many(params):
        for i in range(1000):
            pulled.append(i)
            yield {"i": i}

    driver.answer("UNWIND range(1, 1000) AS i RETURN i", many)
    rows = store.cypher("UNWIND range(1, 1000) AS i RETURN i", max_rows=3)
    assert [r["i"] for r in rows] == [0, 1, 2] and rows.truncated
    assert len(pulled) <= 4  # the records after max_rows + 1 were never read
    driver.answer("RETURN 1 AS one", [{"one": 1}])
    one = store.cypher("RETURN 1 AS one", max_rows=3)
    assert one == [{"one": 1}] and not one.truncated


@pytest.fixture
def driver():
    from tests.contract.conftest import SMALL_DIMS
    from tests.graph.neo4j_fake import FakeDriver

    return FakeDriver(existing=True, dims=SMALL_DIMS)
