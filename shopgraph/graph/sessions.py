"""The open LadybugDB databases of one EmbeddedStore, and their connections.

A `Session` is one `ladybug.Database` with a pool of read connections. A connection runs one query
at a time, but LadybugDB runs the queries of several connections of one Database side by side, and a
write transaction (on its own connection) beside them. So reads borrow a connection each and never
wait for one another, up to `max_connections` at once.

Worker threads: a Database runs every query on one shared pool of `max_num_threads` workers, and a
query takes as many as its connection allows (by default all of them). Measured on 2 cores: one long
query on the default settings kept a point read on another connection waiting until it ended; with
each connection limited to QUERY_THREADS workers and the pool sized for every connection at once,
point reads beside six long queries took 0.1 s. So both limits are set here.

A read-only store opens a new Session when the writer process has committed since its current one was
opened (shopgraph.graph.access_lock says when); `Sessions` swaps it in for new reads and closes the
old one when the last read still using it ends.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

from shopgraph.errors import StoreBusyError, StoreError, StoreLockedError
from shopgraph.graph.rows import one_line

log = logging.getLogger(__name__)

_RECOVERY_PENDING = "checkpoint recovery is pending"
QUERY_THREADS = max(1, min(os.cpu_count() or 1, 4))  # workers one query may use (LadybugDB's default: all)


def worker_threads(connections: int) -> int:
    """The Database's worker pool: every connection (reads and the writer's) at QUERY_THREADS at once."""
    return (connections + 1) * QUERY_THREADS


def connect(database):
    """A connection whose queries use at most QUERY_THREADS of the Database's workers."""
    import ladybug

    connection = ladybug.Connection(database)
    connection.set_max_threads_for_exec(QUERY_THREADS)
    return connection


def open_database(path: Path, *, read_only: bool, checkpoint_bytes: int, connections: int,
                  buffer_pool_bytes: int = 0):
    """A ladybug.Database at path with workers for `connections` connections at once and a buffer pool
    of buffer_pool_bytes (0: LadybugDB's default); its errors as one-line StoreErrors."""
    import ladybug

    try:
        return ladybug.Database(str(path), read_only=read_only, checkpoint_threshold=checkpoint_bytes,
                                max_num_threads=worker_threads(connections), buffer_pool_size=buffer_pool_bytes)
    except RuntimeError as e:
        message = str(e)
        if "Lock is held" in message or "lock on file" in message:
            pid = re.search(r"PID (\d+)", message)
            holder = f" (PID {pid.group(1)})" if pid else ""
            raise StoreLockedError(
                f"{path} is open for writing by another process{holder}; close it, or open it read-only"
            ) from None
        if _RECOVERY_PENDING in message:
            # Under the access lock a live writer never checkpoints while a reader opens, so this is
            # a writer that was stopped half-way through a checkpoint: the next read-write open
            # finishes it.
            raise StoreBusyError(f"{path} was left half-way through a checkpoint by a writer that stopped; "
                                 f"any read-write open (e.g. an ingest) completes it, then retry") from None
        raise StoreError(f"cannot open {path}: {one_line(e)}") from None


class Session:
    """One open database and its read connections. users: reads running on it now."""

    UNREAD = object()  # database_id not read yet

    def __init__(self, database, marker: bytes, max_connections: int):
        self.database = database
        self.marker = marker
        self.database_id: str | None | object = Session.UNREAD
        self.users = 0
        self.retired = False
        self.closed = False
        self._max = max_connections
        self._idle: list = []
        self._opened = 0
        self._cond = threading.Condition()

    def borrow(self):
        """A connection for one read (waits while max_connections reads run)."""
        with self._cond:
            while not self._idle and self._opened >= self._max:
                self._cond.wait()
            if self.closed:
                raise StoreError("the database was closed")
            if self._idle:
                return self._idle.pop()
            self._opened += 1
        try:
            return connect(self.database)
        except BaseException:
            with self._cond:
                self._opened -= 1
                self._cond.notify()
            raise

    def give_back(self, connection) -> None:
        with self._cond:
            if self.closed:
                connection.close()
                self._opened -= 1
            else:
                self._idle.append(connection)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            if self.closed:
                return
            self.closed = True
            for connection in self._idle:
                connection.close()
            self._opened -= len(self._idle)
            self._idle.clear()
            self._cond.notify_all()
        self.database.close()


class Sessions:
    """The current Session of a store; older ones close when their last read ends."""

    def __init__(self, max_connections: int):
        self.max_connections = max_connections
        self._current: Session | None = None
        self._lock = threading.Lock()
        self._opening = threading.Lock()

    def start(self, database, marker: bytes = b"") -> Session:
        """Make an already open database the current session (the writer's, at open)."""
        session = Session(database, marker, self.max_connections)
        self._swap(session)
        return session

    def enter(self, marker: bytes, open_database) -> Session:
        """The session for a read that holds the access lock and saw `marker`: the current one, or a
        new one from open_database() when the writer has committed since. Pair with leave()."""
        with self._lock:
            session = self._current
            if session is not None and session.marker == marker:
                session.users += 1
                return session
        with self._opening:  # one thread opens; the others find it current
            with self._lock:
                session = self._current
                if session is not None and session.marker == marker:
                    session.users += 1
                    return session
            session = Session(open_database(), marker, self.max_connections)
            session.users += 1
            self._swap(session)
            return session

    def current(self) -> Session | None:
        return self._current

    def leave(self, session: Session) -> None:
        with self._lock:
            session.users -= 1
            done = session.retired and session.users == 0
        if done:
            session.close()

    def _swap(self, session: Session) -> None:
        with self._lock:
            old, self._current = self._current, session
            if old is not None:
                old.retired = True
            done = old is not None and old.users == 0
        if done:
            old.close()

    def close(self) -> None:
        with self._lock:
            old, self._current = self._current, None
        if old is not None:
            old.close()
