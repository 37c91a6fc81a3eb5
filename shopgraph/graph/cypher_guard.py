"""Decide whether a Cypher text only reads, before it reaches a database.

Only values travel as parameters, but a passthrough query is user text. Unless writes are explicitly
allowed, a query must pass three allow/deny checks, all made on the text outside string literals and
comments:

- it starts with a reading clause: MATCH, OPTIONAL MATCH, UNWIND, WITH, RETURN, CALL, SHOW (of indexes,
  constraints, functions or procedures), or EXPLAIN / PROFILE followed by one of those;
- every CALL, wherever it is (subqueries included), names an allow-listed read-only procedure, plain
  or back-quoted, followed by "(" (so `CALL $x`, `CALL {...}` and LadybugDB's `CALL name=value`
  setting form are refused);
- no clause that writes or manages the database appears anywhere.

A clause word is only a clause where a clause can stand: the same word in a name's position is a name
(_in_name_position): an alias (`RETURN x AS comment`), a property (`p.set`, `p . set`, `{set: 1}`,
`n {.delete}`), a label or relationship type (`(:Comment)`, `[:SET]`), a parameter (`$set`), a
variable in a pattern or list (`(comment)`, `(comment:Product)`, `[delete]`, `f(set, x)`). No clause
of Cypher or LadybugDB is ever written in those positions, so this loosens nothing a write could use.
Where it is ambiguous (`RETURN comment` at the end, `WHERE set IS NULL`) the guard stays conservative:
back-quote the name (`RETURN `comment``).
"""

from __future__ import annotations

import re

from shopgraph.errors import ReadOnlyError

WRITE_KEYWORDS = frozenset({
    # data and schema writes (Cypher, GQL's INSERT, LadybugDB's COPY / LOAD / COMMENT ON)
    "CREATE", "MERGE", "INSERT", "SET", "DELETE", "DETACH", "REMOVE", "DROP", "ALTER", "COPY", "LOAD",
    "FOREACH", "TRUNCATE", "RENAME", "COMMENT",
    # database, extension and transaction management (LadybugDB)
    "INSTALL", "UNINSTALL", "UPDATE", "ATTACH", "EXPORT", "IMPORT", "CHECKPOINT", "ANALYZE", "BEGIN",
    "COMMIT", "ROLLBACK", "USE",
    # Neo4j administration: privileges, databases and servers, other users' transactions
    "GRANT", "REVOKE", "DENY", "START", "STOP", "TERMINATE", "ENABLE", "DEALLOCATE", "REALLOCATE",
})

# CALL is allowed only for procedures that read the catalog, settings or an index: anything else
# (apoc.*, db.create.*, dbms.* writes, LadybugDB's read_csv / read_parquet table functions that open
# files, a CALL { } subquery, a setting) is refused.
READ_ONLY_PROCEDURES = frozenset({
    "show_tables", "table_info", "show_connection", "current_setting", "db_version",
    "show_functions", "show_indexes", "show_warnings", "show_attached_databases",
    "db.labels", "db.relationshiptypes", "db.propertykeys", "db.schema.visualization",
    "db.index.vector.querynodes", "db.index.fulltext.querynodes",
})

# The clauses a read-only query may start with (EXPLAIN / PROFILE may precede any of them once).
FIRST_CLAUSES = frozenset({"MATCH", "OPTIONAL", "UNWIND", "WITH", "RETURN", "CALL", "SHOW"})
# Neo4j's SHOW commands that only list the schema: the words that may follow SHOW, then the noun.
SHOW_MODIFIERS = frozenset({"ALL", "RANGE", "TEXT", "POINT", "LOOKUP", "VECTOR", "FULLTEXT", "UNIQUE",
                            "UNIQUENESS", "EXISTENCE", "EXIST", "KEY", "NODE", "RELATIONSHIP", "REL",
                            "PROPERTY", "BUILT", "IN", "BUILTIN", "USER", "DEFINED"})
SHOW_NOUNS = frozenset({"INDEX", "INDEXES", "CONSTRAINT", "CONSTRAINTS", "FUNCTION", "FUNCTIONS",
                        "PROCEDURE", "PROCEDURES"})

_TOKEN = re.compile(
    r"""
    (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")   # string literals
  | (?P<quoted>`[^`]*`)                              # back-quoted names
  | (?P<comment>//[^\n]*|/\*.*?\*/)                  # comments
  | (?P<param>\$(?:[A-Za-z_][A-Za-z0-9_]*|`[^`]*`|[0-9]+))  # parameters: names, not clauses
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)                # keywords, names, dotted procedure names
  | (?P<space>\s+)
  | (?P<semicolon>;)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def _tokens(query: str) -> list[tuple[str, str]]:
    """(kind, text) of every significant token: no whitespace, no comments."""
    return [(m.lastgroup, m.group()) for m in _TOKEN.finditer(query) if m.lastgroup not in ("space", "comment")]


# A word directly before one of these is a name, never a clause: no clause is followed by them.
_NAME_FOLLOWERS = frozenset({":", ",", ")", "]", "}", "=", "<", ">"})
# ... and a word directly after one of these is a name (a property, label or type).
_NAME_LEADERS = frozenset({".", ":"})


def _in_name_position(tokens: list[tuple[str, str]], i: int) -> bool:
    """Whether the word at tokens[i] stands where only a name can: after AS, `.` or `:`, or before
    `:`, `,`, `)`, `]`, `}` or a comparison (see the module docstring)."""
    if i > 0:
        kind, text = tokens[i - 1]
        if kind == "word" and text.upper() == "AS":
            return True
        # `.` after a digit would be a number's point (`1.`, not Cypher anyway): not a property access.
        if text in _NAME_LEADERS and not (text == "." and i > 1 and tokens[i - 2][1].isdigit()):
            return True
    return i + 1 < len(tokens) and tokens[i + 1][1] in _NAME_FOLLOWERS


def _start_reason(tokens: list[tuple[str, str]]) -> str | None:
    """Why the query does not start with a reading clause, or None."""
    if not tokens:
        return "the query is empty"
    words = [text.upper() if kind == "word" else None for kind, text in tokens]
    i = 1 if words[0] in ("EXPLAIN", "PROFILE") else 0
    first = words[i] if i < len(words) else None
    if first not in FIRST_CLAUSES:
        return (f"a read-only query must start with MATCH, OPTIONAL MATCH, UNWIND, WITH, RETURN, CALL or SHOW, "
                f"not {tokens[i][1] if i < len(tokens) else 'nothing'!r}")
    if first == "OPTIONAL" and (i + 1 >= len(words) or words[i + 1] != "MATCH"):
        return "a read-only query must start with OPTIONAL MATCH, not OPTIONAL alone"
    if first == "SHOW":
        j = i + 1
        while j < len(words) and words[j] in SHOW_MODIFIERS:
            j += 1
        if j >= len(words) or words[j] not in SHOW_NOUNS:
            return "only SHOW of indexes, constraints, functions or procedures is read-only here"
    return None


def _call_reason(tokens: list[tuple[str, str]], at: int) -> str | None:
    """Why the CALL at tokens[at] is not a call of an allow-listed procedure, or None."""
    after = tokens[at + 1] if at + 1 < len(tokens) else ("other", "")
    kind, text = after
    if kind not in ("word", "quoted"):
        return f"CALL {text!r} is not a call of a procedure known to be read-only"
    name = text.strip("`") if kind == "quoted" else text
    if name.lower() not in READ_ONLY_PROCEDURES:
        return f"procedure {name!r} is not known to be read-only"
    if at + 2 >= len(tokens) or tokens[at + 2][1] != "(":
        return f"procedure {name!r} must be called with ( )"
    return None


def write_reason(query: str, *, fragment: bool = False) -> str | None:
    """Why the query would write or manage the database, or None if it only reads.

    fragment: the text is a part of a query the code base builds around it (a WHERE expression or a
    pattern), so it need not start with a clause; every other check applies."""
    tokens = _tokens(query)
    semicolons = [i for i, (kind, _) in enumerate(tokens) if kind == "semicolon"]
    if semicolons and semicolons != [len(tokens) - 1]:
        return "several statements in one query"
    if semicolons:
        tokens = tokens[:-1]
    for i, (kind, text) in enumerate(tokens):
        if kind != "word" or _in_name_position(tokens, i):
            continue
        upper = text.upper()
        if upper in WRITE_KEYWORDS:
            return f"{upper} writes to the graph"
        if upper == "CALL":
            reason = _call_reason(tokens, i)
            if reason is not None:
                return reason
    return None if fragment else _start_reason(tokens)


def ensure_read_only(query: str, *, fragment: bool = False) -> None:
    """Raise ReadOnlyError with a one-line reason unless the query only reads (see write_reason)."""
    reason = write_reason(query, fragment=fragment)
    if reason is not None:
        raise ReadOnlyError(f"query refused: {reason} (pass allow_write=True / --write to allow writes)")
