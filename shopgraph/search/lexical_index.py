"""BM25 over product fields, with exact identifier lookup: SQLite FTS5 in a folder beside the database.

Why FTS5: it is in Python's standard library, updates and deletes one document at a time inside a
transaction (the graph changes batch by batch), survives SIGKILL at any point (SQLite's write-ahead
log), lets readers search while one writer writes, and weights fields at query time.
bench/lexical_engines.py (docs/benchmarks.md) measured the same quality with tantivy on the same terms
but tantivy answers much faster (p50 0.3 ms against 18 ms on 17k products): phase 2 decides whether
this class moves onto tantivy; its interface does not depend on the engine.

What is indexed: the terms of `shopgraph.search.analysis` (words, compact model numbers, character
unigrams + bigrams for scripts without spaces) in five fields, `FIELDS`. The engine's own tokenizer
only splits those terms on spaces. Exact lookup keys are `identifier_key` of every identifier and the
model numbers found in the title, identifiers and attributes.

Layout of the folder: ``manifest.json`` names the current data file ``lexical-<token>.sqlite``; the
file's ``meta`` table holds the format and analyzer versions, the settings that change the content,
the id of the database it mirrors and its revision (committed in the same transaction as the
documents, so revision and contents never disagree). `LexicalIndex.replace` builds a whole new file
and publishes it by replacing the manifest (os.replace), so a rebuild is atomic; a file name is never
reused, so a reader still holding an old file is never confused with the new one (SQLite's own
warning about files renamed under open connections).

Identity (the same rules as the vector index): `open(directory, database_id=...)` refuses a folder
whose saved database id, format, analyzer version or content settings differ, with
LexicalIndexUnavailable; the caller then rebuilds with `replace`. Nothing is served from an index
of another database.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any, Collection, Iterable, Mapping, Sequence

from shopgraph.config import LexicalIndexConfig
from shopgraph.errors import BadArgumentError, ShopGraphError
from shopgraph.search.analysis import ANALYZER_VERSION, analyze, identifier_key, model_numbers, terms

log = logging.getLogger(__name__)

FORMAT = "shopgraph-lexical"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FIELDS = ("title", "brand", "identifiers", "attributes", "description")
_TOKENIZER = "unicode61 remove_diacritics 2 categories 'L* N* Co M*'"  # marks: Devanagari vowel signs
_MAX_QUERY_TERMS = 64  # a pasted paragraph as a query: its first terms are enough
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS docs (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE)",
    f"CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5({', '.join(FIELDS)}, tokenize=\"{_TOKENIZER}\")",
    "CREATE TABLE IF NOT EXISTS idents (key TEXT NOT NULL, doc INTEGER NOT NULL, PRIMARY KEY (key, doc))"
    " WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS idents_doc ON idents (doc)",
)

Doc = Mapping[str, Any]  # field name -> str, list of str, or (attributes) mapping key -> value


class LexicalIndexUnavailable(ShopGraphError):
    """A saved lexical index is missing, unreadable or mirrors another database: rebuild it."""


def _field_text(value: Any) -> str:
    """A field value as text: strings as they are, lists joined, mappings as "key value" pairs."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return " ; ".join(f"{k} {v}" for k, v in value.items() if v is not None)
    if isinstance(value, (list, tuple, set, frozenset)):
        return " ; ".join(_field_text(v) for v in value)
    return str(value)


def _identifier_values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [str(v) for v in value.values() if v is not None]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def lookup_keys(doc: Doc) -> set[str]:
    """Exact-lookup keys of one document: each identifier's normal form, and the compact model
    numbers in its title, identifiers and attributes."""
    keys = {identifier_key(v) for v in _identifier_values(doc.get("identifiers"))}
    for name in ("title", "identifiers", "attributes"):
        keys.update(model_numbers(_field_text(doc.get(name))))
    keys.discard("")
    return keys


def fts_query(text: str, unigrams: bool) -> str | None:
    """An FTS5 expression OR-ing the distinct terms of a query, each quoted (so no query text is
    ever read as FTS5 syntax); None when the query has no terms."""
    distinct = list(dict.fromkeys(terms(text, unigrams=unigrams)))[:_MAX_QUERY_TERMS]
    if not distinct:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in distinct)


class LexicalIndex:
    """BM25 search over products' fields plus exact identifier lookup; ids are strings.

    Open with `open` (a folder), `replace` (build a new version of a folder) or `memory`.
    One instance may be shared between threads (a lock serialises its use of the connection);
    several processes may read one folder while one process writes it.
    """

    def __init__(self, conn: sqlite3.Connection, config: LexicalIndexConfig, path: Path | None,
                 read_only: bool):
        self._conn = conn
        self.config = config
        self.path = path  # the data file (None: in memory)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._weights = tuple(float(getattr(config, f"{f}_weight")) for f in FIELDS)

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def memory(cls, config: LexicalIndexConfig = LexicalIndexConfig(),
               database_id: str | None = None) -> "LexicalIndex":
        """An empty index in memory (tests, benchmarks, throwaway use)."""
        conn = _connect(":memory:", read_only=False)
        _init(conn, config, database_id)
        return cls(conn, config, None, read_only=False)

    @classmethod
    def open(cls, directory: str | os.PathLike, *, database_id: str | None,
             config: LexicalIndexConfig = LexicalIndexConfig(), create: bool = True,
             read_only: bool = False) -> "LexicalIndex":
        """The index saved in `directory`, checked against `database_id` (None: not checked).

        A folder without an index is created empty when `create` (and not read_only); otherwise,
        and when the saved index is of another database, format or content setting,
        LexicalIndexUnavailable is raised: rebuild it with `replace`."""
        root = Path(directory)
        for attempt in range(3):  # a rebuild may publish a new file between reading the manifest and opening it
            name = _current_file(root)
            if name is None:
                if not create or read_only:
                    raise LexicalIndexUnavailable(f"no lexical index in {root}")
                return cls.replace(root, database_id=database_id, config=config)
            path = root / name
            try:
                conn = _connect(path, read_only=read_only)
            except sqlite3.OperationalError as e:
                if attempt < 2 and not path.exists():
                    continue
                raise LexicalIndexUnavailable(f"cannot open lexical index {path}: {e}") from e
            try:
                _check(conn, config, database_id, path)
            except BaseException:
                conn.close()
                raise
            return cls(conn, config, path, read_only)
        raise LexicalIndexUnavailable(f"lexical index in {root} keeps changing while being opened")

    @classmethod
    def replace(cls, directory: str | os.PathLike, *, database_id: str | None,
                docs: Iterable[tuple[Sequence[str], Sequence[Doc]]] = (), revision: int | str | None = None,
                config: LexicalIndexConfig = LexicalIndexConfig()) -> "LexicalIndex":
        """Build a new version of the index in `directory` from batches of (ids, docs), then publish it
        atomically (readers see the old version or the new one, never a mix) and return it open.
        Older data files are removed after the switch."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        name = f"lexical-{uuid.uuid4().hex[:16]}.sqlite"
        path = root / name
        conn = _connect(path, read_only=False)
        try:
            _init(conn, config, database_id)
            index = cls(conn, config, path, read_only=False)
            for ids, batch in docs:
                index.upsert(ids, batch)
            index.set_revision(revision)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except BaseException:
            conn.close()
            for leftover in root.glob(name + "*"):
                leftover.unlink(missing_ok=True)
            raise
        _publish(root, name)
        _remove_old(root, keep=name)
        log.info("built lexical index %s (%d documents, revision %r)", path, len(index), revision)
        return index

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "LexicalIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- identity --------------------------------------------------------------------------------
    @property
    def database_id(self) -> str | None:
        return _meta(self._conn).get("database_id")

    @property
    def revision(self) -> int | str | None:
        """Which write generation of the database this index reflects (set by the caller)."""
        return _meta(self._conn).get("revision")

    def set_revision(self, revision: int | str | None) -> None:
        if revision is not None and (isinstance(revision, bool) or not isinstance(revision, (int, str))):
            raise BadArgumentError(f"lexical index revision must be an int or str, got {revision!r}")
        with self._lock, self._conn:
            _set_meta(self._conn, revision=revision)

    # -- contents --------------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT count(*) FROM docs").fetchone()[0]

    def __contains__(self, item: object) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM docs WHERE id = ?", (item,)).fetchone() is not None

    def ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT id FROM docs ORDER BY rowid")]

    def upsert(self, ids: Sequence[str], docs: Sequence[Doc], revision: int | str | None = None) -> None:
        """Add or replace documents, in one transaction (with the revision, when given).

        ids: n strings; docs: n mappings from field names in FIELDS to text (a list of strings or,
        for attributes, a mapping key -> value, is joined). Unknown field names are refused."""
        ids, docs = list(ids), list(docs)
        if len(ids) != len(docs):
            raise BadArgumentError(f"upsert got {len(ids)} ids and {len(docs)} documents")
        if not all(isinstance(i, str) for i in ids):
            raise BadArgumentError("lexical index ids must be strings")
        unknown = {k for d in docs for k in d} - set(FIELDS)
        if unknown:
            raise BadArgumentError(f"unknown lexical index fields {sorted(unknown)}; fields are {', '.join(FIELDS)}")
        unigrams = self.config.cjk_unigrams
        rows = [(i, [analyze(_field_text(d.get(f)), unigrams=unigrams) for f in FIELDS], lookup_keys(d))
                for i, d in zip(ids, docs)]
        self._check_writable()
        with self._lock, self._conn:
            for doc_id, fields, keys in rows:
                rowid = self._delete(doc_id)
                if rowid is None:
                    rowid = self._conn.execute("INSERT INTO docs (id) VALUES (?)", (doc_id,)).lastrowid
                else:
                    self._conn.execute("INSERT INTO docs (rowid, id) VALUES (?, ?)", (rowid, doc_id))
                self._conn.execute(f"INSERT INTO fts (rowid, {', '.join(FIELDS)}) VALUES (?{', ?' * len(FIELDS)})",
                                   (rowid, *fields))
                self._conn.executemany("INSERT INTO idents (key, doc) VALUES (?, ?)", [(k, rowid) for k in keys])
            if revision is not None:
                _set_meta(self._conn, revision=revision)

    def remove(self, ids: Iterable[str], revision: int | str | None = None) -> int:
        """Remove documents (unknown ids are ignored); returns how many were removed."""
        self._check_writable()
        removed = 0
        with self._lock, self._conn:
            for doc_id in ids:
                removed += self._delete(doc_id) is not None
            if revision is not None:
                _set_meta(self._conn, revision=revision)
        return removed

    def _delete(self, doc_id: str) -> int | None:
        row = self._conn.execute("SELECT rowid FROM docs WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            return None
        rowid = row[0]
        self._conn.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
        self._conn.execute("DELETE FROM idents WHERE doc = ?", (rowid,))
        self._conn.execute("DELETE FROM docs WHERE rowid = ?", (rowid,))
        return rowid

    def _check_writable(self) -> None:
        if self.read_only:
            raise BadArgumentError("this lexical index was opened read-only")

    # -- search ----------------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, allowed: Collection[str] | None = None) -> list[tuple[str, float]]:
        """Top k documents by BM25 (field-weighted), best first: [(id, score)], score > 0, larger is
        better. Terms are OR-ed: a document needs one of them. allowed: only these ids (None: all)."""
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise BadArgumentError(f"k must be a positive integer, got {k!r}")
        expression = fts_query(query, self.config.cjk_unigrams)
        if expression is None or (allowed is not None and not allowed):
            return []
        rank = f"bm25(fts, {', '.join('?' * len(FIELDS))})"
        sql = f"SELECT d.id, -{rank} FROM fts JOIN docs d ON d.rowid = fts.rowid WHERE fts MATCH ?"
        params: list[Any] = [*self._weights, expression]
        if allowed is not None:
            sql += " AND d.id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(list(allowed)))
        sql += f" ORDER BY {rank} LIMIT ?"
        params += [*self._weights, k]
        with self._lock:
            return [(i, float(s)) for i, s in self._conn.execute(sql, params)]

    def lookup(self, query: str, limit: int = 100) -> list[tuple[str, int]]:
        """Documents carrying an identifier or model number of the query, exactly (after
        normalisation: "WM-330S" == "wm330s" == "WM 330 S").

        The whole query is tried first as one identifier; only when no document carries it are the
        model numbers inside the query tried ("sony wm-330s walkman" -> wm330s). Returns
        [(id, keys matched)], most keys first (1 for a whole-query match)."""
        whole = identifier_key(query)
        if whole:
            found = self._lookup_keys([whole], limit)
            if found:
                return found
        inner = [k for k in model_numbers(query) if k != whole]
        return self._lookup_keys(inner, limit) if inner else []

    def _lookup_keys(self, keys: list[str], limit: int) -> list[tuple[str, int]]:
        sql = ("SELECT d.id, count(*) AS n FROM idents i JOIN docs d ON d.rowid = i.doc "
               "WHERE i.key IN (SELECT value FROM json_each(?)) GROUP BY d.rowid ORDER BY n DESC, d.rowid LIMIT ?")
        with self._lock:
            return [(i, int(n)) for i, n in self._conn.execute(sql, (json.dumps(keys), limit))]

    def stats(self) -> dict:
        """documents, bytes of the data file (0 in memory)."""
        size = 0
        if self.path is not None:
            size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))
        return {"documents": len(self), "bytes": size}


# -- files and metadata ------------------------------------------------------------------------------
def _connect(path: str | Path, read_only: bool) -> sqlite3.Connection:
    if read_only:
        conn = sqlite3.connect(f"file:{Path(path).as_posix()}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")  # readers beside a writer; atomic commits survive SIGKILL
        conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def _content_settings(config: LexicalIndexConfig) -> dict:
    """What changes the terms stored: an index with other values must be rebuilt, not served."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "analyzer_version": ANALYZER_VERSION,
            "cjk_unigrams": bool(config.cjk_unigrams)}


def _init(conn: sqlite3.Connection, config: LexicalIndexConfig, database_id: str | None) -> None:
    with conn:
        for statement in _SCHEMA:
            conn.execute(statement)
        _set_meta(conn, **_content_settings(config), database_id=database_id, revision=None)


def _meta(conn: sqlite3.Connection) -> dict:
    try:
        return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    except (sqlite3.DatabaseError, ValueError) as e:
        raise LexicalIndexUnavailable(f"lexical index metadata is unreadable: {e}") from e


def _set_meta(conn: sqlite3.Connection, **values: Any) -> None:
    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                     [(k, json.dumps(v)) for k, v in values.items()])


def _check(conn: sqlite3.Connection, config: LexicalIndexConfig, database_id: str | None, path: Path) -> None:
    meta = _meta(conn)
    for key, want in _content_settings(config).items():
        if meta.get(key) != want:
            raise LexicalIndexUnavailable(f"lexical index {path} has {key}={meta.get(key)!r}, expected {want!r}")
    if database_id is not None and meta.get("database_id") != database_id:
        raise LexicalIndexUnavailable(f"lexical index {path} mirrors database {meta.get('database_id')!r}, "
                                      f"not {database_id!r}")


def _current_file(root: Path) -> str | None:
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LexicalIndexUnavailable(f"cannot read {root / MANIFEST}: {e}") from e
    name = manifest.get("file") if isinstance(manifest, dict) else None
    if manifest.get("format") != FORMAT or not isinstance(name, str) or "/" in name or not name.startswith("lexical-"):
        raise LexicalIndexUnavailable(f"{root / MANIFEST} is not a shopgraph lexical index manifest")
    return name


def _publish(root: Path, name: str) -> None:
    """Point the manifest at `name`: write a temporary file, fsync it, os.replace it, fsync the folder."""
    staging = root / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
    with open(staging, "w", encoding="utf-8") as f:
        json.dump({"format": FORMAT, "format_version": FORMAT_VERSION, "file": name}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(staging, root / MANIFEST)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_old(root: Path, keep: str) -> None:
    """Delete data files other than the current one (their names are never reused, so a reader
    still holding one keeps reading its own copy until it closes)."""
    for old in root.glob("lexical-*.sqlite*"):
        if not old.name.startswith(keep):
            old.unlink(missing_ok=True)
