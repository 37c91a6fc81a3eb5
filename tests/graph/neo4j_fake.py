"""A stand-in for the neo4j driver (sessions, explicit transactions, results) that records every
query with its parameters and answers from a responder. The real driver's exception classes are
used, so error translation is tested against what the driver really raises.

    driver = FakeDriver(version="5.26.0")
    driver.answer("MATCH (n:Product) RETURN count(n) AS n", [{"n": 3}])
    store = Neo4jStore.open(Neo4jSettings("bolt://localhost:7687", password="pw"), driver=driver)
    driver.queries()  # [(query, params), ...] in order

Relationship upserts are answered as Neo4j would: `missing` names nodes that are not in the graph
(rows naming one find no ends), `parallel[(src, dst)]` is how many relationships of the merged kind
already join that pair (MERGE matches all of them), and the count follows the RETURN clause sent:
`count(e)` counts matched relationships, `WITH DISTINCT r ... count(r)` rows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import neo4j

from shopgraph.graph import neo4j_cypher as Q
from shopgraph.graph.schema import VectorDims


@dataclass
class Call:
    query: str
    params: dict
    tx: int
    mode: str
    database: str


class FakeRecord(dict):
    def data(self) -> dict:
        return dict(self)


class FakeResult:
    """Rows read lazily, as the real driver streams records: data() reads them all, iterating reads
    one record at a time."""

    def __init__(self, rows):
        self._rows = iter(rows)

    def keys(self) -> list[str]:
        """The first row's keys (peeked, then put back; an empty result has none)."""
        first = next(self._rows, None)
        if first is None:
            return []
        self._rows = itertools.chain([first], self._rows)
        return list(first)

    def data(self) -> list[dict]:
        return [dict(r) for r in self._rows]

    def __iter__(self):
        return (FakeRecord(r) for r in self._rows)


class FakeTransaction:
    def __init__(self, driver: "FakeDriver", number: int, mode: str, database: str):
        self.driver, self.number, self.mode, self.database = driver, number, mode, database
        self.committed = False
        self.closed = False

    def run(self, query: str, parameters: dict | None = None) -> FakeResult:
        params = dict(parameters or {})
        self.driver.calls.append(Call(query, params, self.number, self.mode, self.database))
        if self.driver.failures:
            error = self.driver.failures.pop(0)
            if error is not None:
                raise error
        return FakeResult(self.driver.respond(query, params))

    def commit(self) -> None:
        if self.driver.commit_failures:
            error = self.driver.commit_failures.pop(0)
            if error is not None:
                self.closed = True
                raise error
        self.committed = True
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True  # an uncommitted transaction is rolled back on close


class FakeSession:
    def __init__(self, driver: "FakeDriver", database: str, mode: str):
        self.driver, self.database, self.mode = driver, database, mode

    def begin_transaction(self, timeout: float | None = None) -> FakeTransaction:
        tx = FakeTransaction(self.driver, len(self.driver.transactions), self.mode, self.database)
        tx.timeout = timeout
        self.driver.transactions.append(tx)
        return tx

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


class FakeDriver:
    """failures: exceptions raised by the next tx.run calls, in order (None = succeed)."""

    def __init__(self, version: str = "5.26.0", dims: VectorDims | None = None, existing: bool = False):
        self.version = version
        self.calls: list[Call] = []
        self.transactions: list[FakeTransaction] = []
        self.failures: list[BaseException | None] = []
        self.commit_failures: list[BaseException | None] = []  # raised by the next commits, in order
        self.missing: set[str] = set()
        self.parallel: dict[tuple[str, str], int] = {}
        self.connect_failures: list[BaseException] = []
        self.closed = False
        self.answers: dict[str, Any] = {}
        self.meta: dict[str, str] = {}
        if existing:
            d = dims or VectorDims()
            self.meta = {"schema_version": "4", "generation": "0", "dim_text": str(d.text),
                         "dim_image": str(d.image), "dim_lexical": str(d.lexical),
                         "dim_aligned": str(d.aligned), "dim_gnn": str(d.gnn)}

    # -- driver API ----------------------------------------------------------------------------
    def session(self, database: str, default_access_mode: str) -> FakeSession:
        return FakeSession(self, database, default_access_mode)

    def verify_connectivity(self) -> None:
        if self.connect_failures:
            raise self.connect_failures.pop(0)

    def close(self) -> None:
        self.closed = True

    # -- scripting -----------------------------------------------------------------------------
    def answer(self, query: str, rows: list[dict] | Callable[[dict], list[dict]]) -> None:
        self.answers[query] = rows

    def respond(self, query: str, params: dict) -> list[dict]:
        if query in self.answers:
            rows = self.answers[query]
            return rows(params) if callable(rows) else rows
        # A small model of Meta, so opening and generations behave; everything else answers
        # what a write or a count would on an empty graph.
        if query == Q.server_components():
            return [{"name": "Neo4j Kernel", "versions": [self.version], "edition": "community"}]
        if query == Q.get_meta():
            return [{"value": self.meta[params["key"]]}] if params["key"] in self.meta else []
        if query == Q.set_meta():
            self.meta[params["key"]] = params["value"]
            return []
        if query == Q.all_meta():
            return [{"key": k, "value": v} for k, v in sorted(self.meta.items())]
        if query == Q.bump_generation():
            self.meta["generation"] = str(int(self.meta.get("generation", "0")) + 1)
            return [{"generation": int(self.meta["generation"])}]
        if "RETURN count(" in query and "written" not in query and "deleted" not in query:
            return [{"n": 0}]
        if query.startswith("UNWIND $rows AS r MATCH (a:") and "MERGE (a)-[e:" in query:
            found = [r for r in params["rows"] if r["src"] not in self.missing and r["dst"] not in self.missing]
            if query.endswith("RETURN count(e) AS written"):
                return [{"written": sum(max(1, self.parallel.get((r["src"], r["dst"]), 0)) for r in found)}]
            assert query.endswith("WITH DISTINCT r RETURN count(r) AS written"), query
            return [{"written": len(found)}]
        if query.endswith("AS written"):
            return [{"written": len(params.get("rows", []))}]
        if query.endswith("AS deleted"):
            return [{"deleted": 0}]
        return []

    def queries(self, since: int = 0) -> list[tuple[str, dict]]:
        return [(c.query, c.params) for c in self.calls[since:]]

    def mark(self) -> int:
        """The current position in calls (to look at what one operation sent)."""
        return len(self.calls)


def transient(message: str = "deadlock detected") -> neo4j.exceptions.TransientError:
    return neo4j.exceptions.TransientError(message)


def unavailable(message: str = "Couldn't connect to localhost:7687") -> neo4j.exceptions.ServiceUnavailable:
    return neo4j.exceptions.ServiceUnavailable(message)


def incomplete_commit(message: str = "Failed to read from defunct connection") -> neo4j.exceptions.IncompleteCommit:
    return neo4j.exceptions.IncompleteCommit(message)


def timed_out(code: str = "Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration") -> neo4j.exceptions.Neo4jError:
    """What the driver raises when the server stops a transaction past its timeout (built by the
    driver's own decoder of a server failure message, so the class and code are the real ones)."""
    return neo4j.exceptions.Neo4jError._hydrate_neo4j(
        code=code, message="The transaction has been terminated. Retry your operation in a new transaction.")


def auth_error(message: str = "The client is unauthorized due to authentication failure.") -> neo4j.exceptions.AuthError:
    return neo4j.exceptions.AuthError(message)
