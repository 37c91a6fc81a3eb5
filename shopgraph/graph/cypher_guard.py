"""Decide whether a Cypher text only reads, before it reaches a database.

Only values travel as parameters, but a passthrough query is user text: unless writes are explicitly
allowed, a query is refused when any clause that writes (or manages the database) appears outside string
literals and comments. This is deliberately conservative: a read query that happens to name a property
`set` must back-quote it.
"""

from __future__ import annotations

import re

from shopgraph.errors import ReadOnlyError

WRITE_KEYWORDS = frozenset({
    # data and schema writes (Cypher, GQL's INSERT, LadybugDB's COPY / LOAD)
    "CREATE", "MERGE", "INSERT", "SET", "DELETE", "DETACH", "REMOVE", "DROP", "ALTER", "COPY", "LOAD",
    "FOREACH", "TRUNCATE", "RENAME",
    # database, extension and transaction management (LadybugDB)
    "INSTALL", "UNINSTALL", "ATTACH", "EXPORT", "IMPORT", "CHECKPOINT", "BEGIN", "COMMIT", "ROLLBACK",
    "USE",
    # Neo4j administration: privileges, databases and servers, other users' transactions
    "GRANT", "REVOKE", "DENY", "START", "STOP", "TERMINATE", "ENABLE", "DEALLOCATE", "REALLOCATE",
})

# CALL is allowed only for procedures that read the catalog, settings or an index: anything else
# (apoc.*, db.create.*, dbms.* writes, a CALL { } subquery, CALL { } IN TRANSACTIONS) is refused.
READ_ONLY_PROCEDURES = frozenset({
    "show_tables", "table_info", "show_connection", "current_setting", "db_version",
    "show_functions", "show_indexes", "show_warnings", "show_attached_databases",
    "db.labels", "db.relationshiptypes", "db.propertykeys", "db.schema.visualization",
    "db.index.vector.querynodes", "db.index.fulltext.querynodes",
})

_TOKEN = re.compile(
    r"""
    (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")   # string literals
  | (?P<quoted>`[^`]*`)                              # back-quoted names
  | (?P<comment>//[^\n]*|/\*.*?\*/)                  # comments
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)                # keywords, names, dotted procedure names
  | (?P<semicolon>;)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def write_reason(query: str) -> str | None:
    """Why the query would write or manage the database, or None if it only reads."""
    words: list[str] = []
    statements = 1
    for match in _TOKEN.finditer(query):
        kind = match.lastgroup
        if kind == "word":
            words.append(match.group())
        elif kind == "semicolon":
            statements += 1
    if statements > 1 and query.strip().rstrip(";").count(";") > 0:
        return "several statements in one query"
    for i, word in enumerate(words):
        upper = word.upper()
        if upper in WRITE_KEYWORDS:
            return f"{upper} writes to the graph"
        if upper == "CALL" and i + 1 < len(words):
            procedure = words[i + 1].lower()
            if procedure not in READ_ONLY_PROCEDURES:
                return f"procedure {words[i + 1]!r} is not known to be read-only"
    return None


def ensure_read_only(query: str) -> None:
    """Raise ReadOnlyError with a one-line reason unless the query only reads."""
    reason = write_reason(query)
    if reason is not None:
        raise ReadOnlyError(f"query refused: {reason} (pass allow_write=True / --write to allow writes)")
