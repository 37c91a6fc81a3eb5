"""A persistent vector cache: (namespace, key) -> float32 vector, in one SQLite file.

Namespaces are model ids, keys are content hashes computed by the caller, so a cached vector is valid
for as long as the file exists. The cache only ever saves time: a corrupt file is moved aside
(``<name>.corrupt``) and rebuilt, and other database errors are logged and treated as misses, so
ingest never fails because of it. WAL mode, one transaction per put_many: a process killed mid-write
leaves every batch either fully stored or absent.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_MAX_VARS = 500  # keys per SELECT; below every SQLite build's host-parameter limit
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    dim INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID
"""


def _is_corrupt(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _CORRUPT_CODES
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


class VectorCache:
    """SQLite-backed map (namespace, key) -> 1-D float32 vector. Use as a context manager or close().

    Several threads may share one instance (a server ingests in one thread while others search):
    every call holds the instance's lock. Several processes may share the file (SQLite locking).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._open()

    # -- connection management -------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread off: the lock, not the creating thread, guards the connection.
        conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a killed process loses nothing committed; only an OS crash can
            # lose the last transactions, which for a cache is fine.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("SELECT 1 FROM vectors LIMIT 1").fetchall()
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(self) -> None:
        try:
            self._conn = self._connect()
        except sqlite3.DatabaseError as e:
            if not _is_corrupt(e):
                raise
            self._rebuild(e)

    def _rebuild(self, exc: Exception) -> None:
        """Move a corrupt file (and its WAL/SHM side files) aside and start an empty cache."""
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None
        aside = self.path.with_name(self.path.name + ".corrupt")
        logger.warning("vector cache %s is corrupt (%s); moved it to %s and starting an empty one",
                       self.path, exc, aside)
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                os.replace(src, Path(str(aside) + suffix))
        self._conn = self._connect()

    def _handle(self, exc: sqlite3.Error, action: str) -> bool:
        """Recover from a database error; returns True when the cache was rebuilt (retry is safe)."""
        if _is_corrupt(exc):
            self._rebuild(exc)
            return True
        logger.warning("vector cache %s: %s failed (%s); continuing without it", self.path, action, exc)
        return False

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "VectorCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.ProgrammingError("vector cache is closed")
        return self._conn

    # -- reads and writes --------------------------------------------------------------------
    def get_many(self, namespace: str, keys: list[str]) -> dict[str, np.ndarray]:
        """The cached vectors among keys: {key: (dim,) float32}. Missing keys are simply absent."""
        unique = list(dict.fromkeys(keys))
        with self._lock:
            try:
                return self._select(namespace, unique)
            except sqlite3.DatabaseError as e:
                self._handle(e, "read")
                return {}

    def _select(self, namespace: str, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), _MAX_VARS):
            chunk = keys[start:start + _MAX_VARS]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT key, dim, data FROM vectors WHERE namespace = ? AND key IN ({marks})",
                [namespace, *chunk])
            for key, dim, data in rows:
                if len(data) != 4 * dim:
                    continue  # a damaged entry is a miss; the next put_many replaces it
                found[key] = np.frombuffer(data, dtype="<f4").astype(np.float32)
        return found

    def put_many(self, namespace: str, items: dict[str, np.ndarray]) -> None:
        """Store vectors (1-D, any float dtype; stored as float32), all in one transaction."""
        rows = []
        for key, vector in items.items():
            v = np.asarray(vector, dtype="<f4")
            if v.ndim != 1:
                raise ValueError(f"vector cache stores 1-D vectors; {key!r} has shape {v.shape}")
            rows.append((namespace, key, int(v.shape[0]), v.tobytes()))
        if not rows:
            return
        with self._lock:
            for attempt in range(2):
                try:
                    self._insert(rows)
                    return
                except sqlite3.DatabaseError as e:
                    if not self._handle(e, "write") or attempt == 1:
                        return

    def _insert(self, rows: list[tuple]) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR REPLACE INTO vectors (namespace, key, dim, data) VALUES (?, ?, ?, ?)", rows)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
