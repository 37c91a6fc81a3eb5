"""Which process may touch an embedded database's files when: one writer process, any number of readers.

LadybugDB 0.22 lets other processes open a database read-only while a writer has it open, but does
not protect them from that writer (observed here, see docs/architecture.md "Readers beside a
writer"): an open that races a commit or a checkpoint fails ("WAL file is corrupted", "checkpoint
recovery is pending", "String dictionary index is outside the offset table") or crashes the reader,
and an open database kept across a writer's checkpoint reads pages rewritten under it. What does
hold: a transaction writes nothing to disk until COMMIT (files change only at a commit, a
checkpoint, and a writer's open and close). So a reader is safe when it opens and reads only while
no commit runs, and opens afresh after every commit. This module is that protocol.

Two files beside the database, locked with flock (a lock belongs to an open file, so threads of one
process lock independently, and the kernel drops a killed process's locks):

    <db>.access.lock   the data lock. The writer holds it exclusively around every commit (and its
                       open, close and checkpoints); a reader holds it shared while it opens or reads.
                       Its content is the commit marker: 16 random bytes the writer replaces at every
                       commit, so one pread tells a reader whether its open database is still current.
    <db>.gate.lock     the turnstile. The writer takes it exclusively before waiting for the data
                       lock; a reader passes through it (shared, let go once it has the data lock).
                       So a waiting writer lets no new reader in and waits at most for the reads
                       already running; readers cannot starve it.

Waits are bounded (StoreBusyError after `read_wait` / `write_wait` seconds), by polling with
non-blocking flock: a blocking flock cannot be given a time limit from a thread.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from shopgraph.errors import StoreBusyError, StoreError

log = logging.getLogger(__name__)

MARKER_BYTES = 16
_POLL_FIRST, _POLL_MAX = 0.0005, 0.01  # seconds between attempts while a lock is held elsewhere


def lock_paths(database: Path) -> tuple[Path, Path]:
    """(data lock, gate) files of a database."""
    return Path(f"{database}.access.lock"), Path(f"{database}.gate.lock")


class AccessLock:
    """The reader/writer protocol of one database file (see the module docstring).

    read_wait / write_wait: seconds a reader / the writer waits for the other side before
    StoreBusyError. One instance per open store; any number of threads may read through it at once.
    """

    def __init__(self, database: Path, *, read_wait: float, write_wait: float):
        self.database = Path(database)
        self.data_path, self.gate_path = lock_paths(self.database)
        self.read_wait = float(read_wait)
        self.write_wait = float(write_wait)
        self._local = threading.local()  # each reading thread's own open lock files
        self._write_mutex = threading.RLock()
        self._write_depth = 0
        self._writer_files: tuple[BinaryIO, BinaryIO] | None = None
        self._warned_unlocked = False
        self.write_waits: list[float] = []  # seconds each exclusive hold waited for readers (diagnostics)

    # -- readers -------------------------------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[bytes]:
        """Hold the data lock shared for the block; yields the commit marker (b"" before any commit).

        Where the lock files can be neither opened nor created (a read-only folder no writer has used),
        the block runs unlocked: no writer of this protocol can be running there."""
        deadline = time.monotonic() + self.read_wait
        while True:
            files = getattr(self._local, "files", None) or self._open_reader_files()
            if files is None:
                yield b""
                return
            gate, data = files
            if self._through_gate(gate, data, fcntl.LOCK_SH, deadline, "read"):
                break
            self._local.files = None
        try:
            yield os.pread(data.fileno(), MARKER_BYTES, 0)
        finally:
            fcntl.flock(data, fcntl.LOCK_UN)

    def _open_reader_files(self) -> tuple[BinaryIO, BinaryIO] | None:
        files = []
        for path in (self.gate_path, self.data_path):
            handle = _open_lock_file(path, create=True) or _open_lock_file(path, create=False)
            if handle is None:
                if not self._warned_unlocked:
                    log.warning("cannot open or create %s: reading %s without the reader/writer lock",
                                path, self.database)
                    self._warned_unlocked = True
                return None
            files.append(handle)
        self._local.files = (files[0], files[1])
        return self._local.files

    # -- the writer ----------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the data lock exclusively for the block and publish a new commit marker when it ends.
        Re-entrant: nested blocks (a commit inside the writer's open) share the outer hold."""
        with self._write_mutex:
            if self._write_depth:
                self._write_depth += 1
                try:
                    yield
                finally:
                    self._write_depth -= 1
                return
            data = self._lock_exclusive()
            self._write_depth = 1
            try:
                yield
            finally:
                self._write_depth = 0
                try:
                    os.pwrite(data.fileno(), os.urandom(MARKER_BYTES), 0)
                finally:
                    fcntl.flock(data, fcntl.LOCK_UN)

    def _lock_exclusive(self) -> BinaryIO:
        started = time.monotonic()
        deadline = started + self.write_wait
        while True:
            if self._writer_files is None:
                gate = _open_lock_file(self.gate_path, create=True)
                data = _open_lock_file(self.data_path, create=True)
                if gate is None or data is None:
                    raise StoreError(f"cannot create the lock files beside {self.database}; "
                                     f"a writer needs its folder to be writable")
                self._writer_files = (gate, data)
            gate, data = self._writer_files
            if self._through_gate(gate, data, fcntl.LOCK_EX, deadline, "write"):
                if len(self.write_waits) < 100_000:
                    self.write_waits.append(time.monotonic() - started)
                return data
            self._writer_files = None

    def close(self) -> None:
        """Close the writer's lock files (readers' files close with their threads)."""
        with self._write_mutex:
            if self._writer_files is not None:
                for handle in self._writer_files:
                    handle.close()
                self._writer_files = None

    # -- both ----------------------------------------------------------------------------------
    def _through_gate(self, gate: BinaryIO, data: BinaryIO, mode: int, deadline: float, side: str) -> bool:
        """Pass the gate (held only until the data lock is ours) and take the data lock in `mode`.
        False, with nothing held, when the lock files were deleted meanwhile (and maybe made anew by
        a writer): the caller opens the current ones and tries again."""
        self._acquire(gate, mode, deadline, side)
        try:
            self._acquire(data, mode, deadline, side)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        if _same_file(data, self.data_path) and _same_file(gate, self.gate_path):
            return True
        fcntl.flock(data, fcntl.LOCK_UN)
        return False

    def _acquire(self, handle: BinaryIO, mode: int, deadline: float, side: str) -> None:
        delay = _POLL_FIRST
        while True:
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    if side == "read":
                        raise StoreBusyError(
                            f"{self.database} is being written by another process and stayed locked for "
                            f"{self.read_wait:g} s; nothing was read, retry shortly") from None
                    raise StoreBusyError(
                        f"{self.database}: reads in other processes kept it busy for {self.write_wait:g} s; "
                        f"nothing was written, retry shortly") from None
                time.sleep(delay)
                delay = min(delay * 2, _POLL_MAX)


def _open_lock_file(path: Path, *, create: bool) -> BinaryIO | None:
    """The lock file opened for reading (and writing when create), or None when that is not allowed."""
    try:
        if create:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            return os.fdopen(fd, "r+b", buffering=0)
        return open(path, "rb", buffering=0)  # flock works on a read-only descriptor too
    except OSError:
        return None


def _same_file(handle: BinaryIO, path: Path) -> bool:
    """Whether the open lock file is still the one at path (not deleted or replaced since)."""
    try:
        mine, now = os.fstat(handle.fileno()), os.stat(path)
    except FileNotFoundError:
        return False
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)
