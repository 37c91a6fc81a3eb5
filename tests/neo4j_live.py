"""The live Neo4j the tests run against: $NEO4J_URI when it is set (an external server), otherwise a
local Neo4j Community started from the jars `make neo4j-jars` caches (tools/neo4j_local.py), once per
test session, on the first test that asks for it (tests/conftest.py: neo4j_server, neo4j_env,
neo4j_empty). Where neither can be had, those tests skip with one line saying why.

Community has one user database, so tests share it: a test that needs an empty graph asks for
neo4j_empty, which deletes every node first (indexes stay: the store re-checks them on open).
The live tests empty the database they are given: point NEO4J_URI only at a scratch server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Neo4jTarget:
    uri: str
    username: str
    password: str = field(repr=False)
    database: str
    version: str = ""  # the local server's (empty for an external one)

    @property
    def auth(self) -> tuple[str, str]:
        return self.username, self.password

    def environment(self) -> dict[str, str]:
        return {"NEO4J_URI": self.uri, "NEO4J_USERNAME": self.username, "NEO4J_PASSWORD": self.password,
                "NEO4J_DATABASE": self.database}


def external_target() -> Neo4jTarget | None:
    """The server $NEO4J_URI names (with $NEO4J_USERNAME, $NEO4J_PASSWORD, $NEO4J_DATABASE)."""
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        return None
    return Neo4jTarget(uri, os.environ.get("NEO4J_USERNAME") or "neo4j", os.environ.get("NEO4J_PASSWORD") or "",
                       os.environ.get("NEO4J_DATABASE") or "neo4j")


def skip_reason() -> str | None:
    """One line when no live Neo4j can be had here, else None."""
    if os.environ.get("NEO4J_URI"):
        return None
    from tools.neo4j_local import unavailable_reason

    reason = unavailable_reason()
    return f"no live Neo4j: NEO4J_URI is not set and {reason}" if reason else None


def empty(target: Neo4jTarget, *, drop_schema: bool = False) -> None:
    from tools.neo4j_local import wipe

    wipe(target.uri, target.auth, target.database, drop_schema=drop_schema)
