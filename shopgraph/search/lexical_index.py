"""BM25 over product fields, with exact identifier lookup: a tantivy index in a folder beside the database.

Chosen by bench/lexical_engines.py (docs/benchmarks.md): on the same terms tantivy, SQLite FTS5 and
bm25s rank alike, and tantivy answers far faster (top-k pruning instead of scoring every document that
shares a term), updates a batch fastest and is the smallest on disk; bm25s cannot update at all.

What is indexed: the terms of `shopgraph.search.analysis` (words, compact model numbers, character
unigrams + bigrams for scripts without spaces) in five fields, `FIELDS`, split on spaces only
(tantivy's "whitespace" tokenizer). Field weights are query-time boosts. Exact lookup keys (the
`idents` field) are `identifier_key` of every identifier and the model numbers found in the title,
identifiers and attributes.

Durability and readers: every `upsert` / `remove` is one tantivy commit, which publishes new segments by
atomically replacing the index's meta.json: a process killed at any point leaves the last commit.
The index's own metadata (format and analyzer versions, content settings, the id of the database it
mirrors and its revision) is a stored document rewritten in the same commit as the batch, so revision
and contents never disagree. One process writes (tantivy's writer lock; a second writer gets
LexicalIndexLocked); any number read, each reload picking up the last commit.

Layout of the folder: ``manifest.json`` names the current version directory ``lexical-<token>/``.
`LexicalIndex.replace` builds a whole new version and publishes it by replacing the manifest
(os.replace), so a rebuild is atomic; a version name is never reused.

Identity (the same rules as the vector index): `open(directory, database_id=...)` refuses a folder whose
saved database id, format, analyzer version or content settings differ, with LexicalIndexUnavailable;
the caller rebuilds with `replace`. Nothing is served from an index of another database.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence  # isinstance on typing's is slower
from pathlib import Path
from typing import Any

from shopgraph.config import LexicalIndexConfig
from shopgraph.errors import BadArgumentError, MissingDependencyError, ShopGraphError, StoreLockedError
from shopgraph.search.analysis import ANALYZER_VERSION, analyze, identifier_key, model_numbers, terms

log = logging.getLogger(__name__)

FORMAT = "shopgraph-lexical"
FORMAT_VERSION = 2  # 1 was an SQLite FTS5 file
MANIFEST = "manifest.json"
FIELDS = ("title", "brand", "identifiers", "attributes", "description")
_MAX_QUERY_TERMS = 64  # a pasted paragraph as a query: its first terms are enough
_WRITER_HEAP = 32_000_000  # bytes of tantivy's indexing buffer (one thread); a commit flushes it
_ROLE_DOC, _ROLE_META = "doc", "meta"

Doc = Mapping[str, Any]  # field name -> str, list of str, or (attributes) mapping key -> value


class LexicalIndexUnavailable(ShopGraphError):
    """A saved lexical index is missing, unreadable or mirrors another database: rebuild it."""


class LexicalIndexLocked(StoreLockedError):
    """Another process (or index object) is writing this lexical index."""


def _tantivy():
    try:
        import tantivy
    except ImportError as e:  # pragma: no cover - tantivy is a core dependency
        raise MissingDependencyError("the lexical index needs tantivy; reinstall shopgraph "
                                     "(pip install -e . -c constraints.txt)") from e
    return tantivy


def _schema():
    tantivy = _tantivy()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("role", tokenizer_name="raw")
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("idents", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("meta", stored=True, tokenizer_name="raw", index_option="basic")
    for name in FIELDS:
        builder.add_text_field(name, tokenizer_name="whitespace")
    return builder.build()


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


def _content_settings(config: LexicalIndexConfig) -> dict:
    """What changes the terms stored: an index with other values must be rebuilt, not served."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "analyzer_version": ANALYZER_VERSION,
            "cjk_unigrams": bool(config.cjk_unigrams)}


class LexicalIndex:
    """BM25 search over products' fields plus exact identifier lookup; ids are strings.

    Open with `open` (a folder), `replace` (build a new version of a folder) or `memory`.
    One instance may be shared between threads (a lock serialises writes and reads of its state);
    several processes may read one folder while one process writes it.
    """

    def __init__(self, index, config: LexicalIndexConfig, path: Path | None, read_only: bool):
        self._tantivy = _tantivy()
        self._index = index
        self._schema = index.schema
        self.config = config
        self.path = path  # the version directory (None: in memory)
        self.read_only = read_only
        self._writer = None
        self._lock = threading.RLock()
        self._boosts = [(f, float(getattr(config, f"{f}_weight"))) for f in FIELDS]
        self._boosts = [(f, w) for f, w in self._boosts if w > 0]

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def memory(cls, config: LexicalIndexConfig = LexicalIndexConfig(),
               database_id: str | None = None) -> "LexicalIndex":
        """An empty index in memory (tests, benchmarks, throwaway use)."""
        index = cls(_tantivy().Index(_schema()), config, None, read_only=False)
        index._commit_meta({**_content_settings(config), "database_id": database_id, "revision": None})
        return index

    @classmethod
    def open(cls, directory: str | os.PathLike, *, database_id: str | None,
             config: LexicalIndexConfig = LexicalIndexConfig(), create: bool = True,
             read_only: bool = False) -> "LexicalIndex":
        """The index saved in `directory`, checked against `database_id` (None: not checked).

        A folder without an index is created empty when `create` (and not read_only); otherwise,
        and when the saved index is of another database, format or content setting,
        LexicalIndexUnavailable is raised: rebuild it with `replace`."""
        root = Path(directory)
        for attempt in range(3):  # a rebuild may publish a new version between reading the manifest and opening it
            name = _current_version(root)
            if name is None:
                if not create or read_only:
                    raise LexicalIndexUnavailable(f"no lexical index in {root}")
                return cls.replace(root, database_id=database_id, config=config)
            path = root / name
            try:
                index = cls(_tantivy().Index.open(str(path)), config, path, read_only)
            except ValueError as e:
                if attempt < 2 and not path.exists():
                    continue
                raise LexicalIndexUnavailable(f"cannot open lexical index {path}: {e}") from e
            index._check(database_id)
            return index
        raise LexicalIndexUnavailable(f"lexical index in {root} keeps changing while being opened")

    @classmethod
    def replace(cls, directory: str | os.PathLike, *, database_id: str | None,
                docs: Iterable[tuple[Sequence[str], Sequence[Doc]]] = (), revision: int | str | None = None,
                config: LexicalIndexConfig = LexicalIndexConfig(), epoch: str | None = None) -> "LexicalIndex":
        """Build a new version of the index in `directory` from batches of (ids, docs), then publish it
        atomically (readers see the old version or the new one, never a mix) and return it open.
        Older versions are removed after the switch. epoch: the write epoch of `revision`
        (shopgraph/graph/mirror_state.py), saved beside it."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        name = f"lexical-{uuid.uuid4().hex[:16]}"
        path = root / name
        path.mkdir()
        try:
            index = cls(_tantivy().Index(_schema(), path=str(path)), config, path, read_only=False)
            meta = {**_content_settings(config), "database_id": database_id, "revision": None}
            for ids, batch in docs:
                index._write(list(ids), list(batch), (), meta)
            index._commit_meta({**meta, "revision": _checked_revision(revision), "epoch": _checked_epoch(epoch)})
            index._writer.wait_merging_threads()  # the merges finish before the version is published
            index._writer = None
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        _publish(root, name)
        _remove_old(root, keep=name)
        log.info("built lexical index %s (%d documents, revision %r)", path, len(index), revision)
        return index

    def close(self) -> None:
        """Release the writer lock (if this instance wrote); the files stay."""
        with self._lock:
            if self._writer is not None:
                self._writer.wait_merging_threads()
                self._writer = None

    def __enter__(self) -> "LexicalIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- identity --------------------------------------------------------------------------------
    def meta(self) -> dict:
        """The saved metadata: format, versions, content settings, database_id, revision."""
        searcher = self._searcher()
        hits = searcher.search(self._term("role", _ROLE_META), 1).hits
        if not hits:
            raise LexicalIndexUnavailable(f"lexical index {self.path} has no metadata")
        try:
            return json.loads(searcher.doc(hits[0][1])["meta"][0])
        except (ValueError, KeyError, IndexError) as e:
            raise LexicalIndexUnavailable(f"lexical index {self.path} metadata is unreadable: {e}") from e

    @property
    def database_id(self) -> str | None:
        return self.meta().get("database_id")

    @property
    def revision(self) -> int | str | None:
        """Which write generation of the database this index reflects (set by the caller)."""
        return self.meta().get("revision")

    @property
    def epoch(self) -> str | None:
        """The write epoch of that generation (shopgraph/graph/mirror_state.py; None: not recorded)."""
        return self.meta().get("epoch")

    def set_revision(self, revision: int | str | None, epoch: str | None = None) -> None:
        """Record the generation this index now reflects and its write epoch, in one commit."""
        self._check_writable()
        with self._lock:
            self._commit_meta({**self.meta(), "revision": _checked_revision(revision), "epoch": _checked_epoch(epoch)})

    def _check(self, database_id: str | None) -> None:
        meta = self.meta()
        for key, want in _content_settings(self.config).items():
            if meta.get(key) != want:
                raise LexicalIndexUnavailable(f"lexical index {self.path} has {key}={meta.get(key)!r}, "
                                              f"expected {want!r}")
        if database_id is not None and meta.get("database_id") != database_id:
            raise LexicalIndexUnavailable(f"lexical index {self.path} mirrors database "
                                          f"{meta.get('database_id')!r}, not {database_id!r}")

    # -- contents --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._searcher().search(self._term("role", _ROLE_DOC), 1, count=True).count

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str):
            return False
        return bool(self._searcher().search(self._term("id", item), 1).hits)

    def ids(self) -> list[str]:
        """Every document id (in no particular order)."""
        searcher = self._searcher()
        n = searcher.search(self._term("role", _ROLE_DOC), 1, count=True).count
        if not n:
            return []
        return [searcher.doc(a)["id"][0] for _, a in searcher.search(self._term("role", _ROLE_DOC), n).hits]

    def upsert(self, ids: Sequence[str], docs: Sequence[Doc], revision: int | str | None = None) -> None:
        """Add or replace documents, in one commit (with the revision, when given).

        ids: n strings; docs: n mappings from field names in FIELDS to text (a list of strings or,
        for attributes, a mapping key -> value, is joined). Unknown field names are refused.
        A repeated id within one call: the last wins."""
        ids, docs = list(ids), list(docs)
        if len(ids) != len(docs):
            raise BadArgumentError(f"upsert got {len(ids)} ids and {len(docs)} documents")
        if not all(isinstance(i, str) for i in ids):
            raise BadArgumentError("lexical index ids must be strings")
        unknown = {k for d in docs for k in d} - set(FIELDS)
        if unknown:
            raise BadArgumentError(f"unknown lexical index fields {sorted(unknown)}; fields are {', '.join(FIELDS)}")
        self._check_writable()
        with self._lock:
            meta = self.meta()
            if revision is not None:
                meta["revision"] = _checked_revision(revision)
            self._write(ids, docs, (), meta)

    def remove(self, ids: Iterable[str], revision: int | str | None = None) -> int:
        """Remove documents (unknown ids are ignored) in one commit; returns how many were removed."""
        self._check_writable()
        ids = [i for i in dict.fromkeys(ids) if isinstance(i, str)]
        with self._lock:
            present = [i for i in ids if i in self]
            meta = self.meta()
            if revision is not None:
                meta["revision"] = _checked_revision(revision)
            self._write([], [], present, meta)
        return len(present)

    def _write(self, ids: list[str], docs: list[Doc], removed: Sequence[str], meta: dict) -> None:
        """Delete `removed` and every id in `ids`, add `docs`, rewrite the metadata: one commit."""
        tantivy, unigrams = self._tantivy, self.config.cjk_unigrams
        last = {i: d for i, d in zip(ids, docs)}  # the last document of a repeated id wins
        built = []
        for doc_id, doc in last.items():
            fields = {f: analyze(_field_text(doc.get(f)), unigrams=unigrams) for f in FIELDS}
            document = tantivy.Document(role=_ROLE_DOC, id=doc_id, **fields)
            for key in sorted(lookup_keys(doc)):
                document.add_text("idents", key)
            built.append(document)
        writer = self._get_writer()
        try:
            for doc_id in [*removed, *last]:
                writer.delete_documents_by_term("id", doc_id)
            for document in built:
                writer.add_document(document)
            self._put_meta(writer, meta)
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        self._index.reload()

    def _commit_meta(self, meta: dict) -> None:
        writer = self._get_writer()
        self._put_meta(writer, meta)
        writer.commit()
        self._index.reload()

    def _put_meta(self, writer, meta: dict) -> None:
        writer.delete_documents_by_term("role", _ROLE_META)
        writer.add_document(self._tantivy.Document(role=_ROLE_META, meta=json.dumps(meta)))

    def _get_writer(self):
        if self._writer is None:
            try:
                self._writer = self._index.writer(heap_size=_WRITER_HEAP, num_threads=1)
            except ValueError as e:  # tantivy: "Failed to acquire Lockfile: LockBusy"
                raise LexicalIndexLocked(f"lexical index {self.path} is being written by another process "
                                         f"({e})") from None
        return self._writer

    def _check_writable(self) -> None:
        if self.read_only:
            raise BadArgumentError("this lexical index was opened read-only")

    # -- search ----------------------------------------------------------------------------------
    def _term(self, field: str, value: str):
        return self._tantivy.Query.term_query(self._schema, field, value)

    def _searcher(self):
        with self._lock:
            if self.read_only:
                self._index.reload()  # see the writer's last commit
            return self._index.searcher()

    def search(self, query: str, k: int = 10, allowed: Collection[str] | None = None) -> list[tuple[str, float]]:
        """Top k documents by BM25 (field-weighted), best first: [(id, score)], score > 0, larger is
        better. Terms are OR-ed: a document needs one of them. allowed: only these ids (None: all)."""
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise BadArgumentError(f"k must be a positive integer, got {k!r}")
        distinct = list(dict.fromkeys(terms(query, unigrams=self.config.cjk_unigrams)))[:_MAX_QUERY_TERMS]
        if not distinct or not self._boosts or (allowed is not None and not allowed):
            return []
        Query, Occur = self._tantivy.Query, self._tantivy.Occur
        clauses = [(Occur.Should, Query.boost_query(self._term(f, t), w)) for t in distinct for f, w in self._boosts]
        query_obj = Query.boolean_query(clauses)
        if allowed is not None:
            ids = [i for i in allowed if isinstance(i, str)]
            query_obj = Query.boolean_query([(Occur.Must, query_obj),
                                             (Occur.Must, Query.term_set_query(self._schema, "id", ids))])
        searcher = self._searcher()
        hits = searcher.search(query_obj, k).hits
        return [(searcher.doc(a)["id"][0], float(score)) for score, a in hits]

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

    def lookup_whole(self, query: str, limit: int = 100) -> list[str]:
        """Documents carrying the whole query as one identifier or model number (normalised as in
        `lookup`), sorted by id: the answer when the query IS an identifier."""
        whole = identifier_key(query)
        return [i for i, _ in self._lookup_keys([whole], limit)] if whole else []

    def _lookup_keys(self, keys: list[str], limit: int) -> list[tuple[str, int]]:
        searcher = self._searcher()
        counts: dict[str, int] = {}
        for key in keys:
            for _, a in searcher.search(self._term("idents", key), limit).hits:
                doc_id = searcher.doc(a)["id"][0]
                counts[doc_id] = counts.get(doc_id, 0) + 1
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]

    def stats(self) -> dict:
        """documents, bytes on disk (0 in memory)."""
        size = 0
        if self.path is not None:
            size = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return {"documents": len(self), "bytes": size}


# -- files -------------------------------------------------------------------------------------------
def _checked_epoch(epoch: Any) -> str | None:
    if epoch is not None and not isinstance(epoch, str):
        raise BadArgumentError(f"lexical index epoch must be a str, got {epoch!r}")
    return epoch


def _checked_revision(revision: Any) -> int | str | None:
    if revision is not None and (isinstance(revision, bool) or not isinstance(revision, (int, str))):
        raise BadArgumentError(f"lexical index revision must be an int or str, got {revision!r}")
    return revision


def _current_version(root: Path) -> str | None:
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LexicalIndexUnavailable(f"cannot read {root / MANIFEST}: {e}") from e
    name = manifest.get("version") if isinstance(manifest, dict) else None
    if (not isinstance(manifest, dict) or manifest.get("format") != FORMAT
            or manifest.get("format_version") != FORMAT_VERSION):
        raise LexicalIndexUnavailable(f"{root / MANIFEST} is not a shopgraph lexical index manifest "
                                      f"of format version {FORMAT_VERSION}")
    if not isinstance(name, str) or "/" in name or "\\" in name or not name.startswith("lexical-"):
        raise LexicalIndexUnavailable(f"{root / MANIFEST} names no valid index version")
    return name


def _publish(root: Path, name: str) -> None:
    """Point the manifest at `name`: write a temporary file, fsync it, os.replace it, fsync the folder."""
    staging = root / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
    with open(staging, "w", encoding="utf-8") as f:
        json.dump({"format": FORMAT, "format_version": FORMAT_VERSION, "version": name}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(staging, root / MANIFEST)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_old(root: Path, keep: str) -> None:
    """Delete versions other than the current one (a reader still holding one keeps its open,
    memory-mapped files until it closes; names are never reused)."""
    for old in root.glob("lexical-*"):
        if old.name != keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
