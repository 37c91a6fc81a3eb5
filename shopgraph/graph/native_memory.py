"""Hand the C heap's freed memory back to the operating system (issue 18, docs/benchmarks.md Scale round 7).

LadybugDB allocates an open transaction's rows, its COPY buffers and a checkpoint's working memory
with the C library's malloc and frees them at COMMIT (and when the writer's connection is renewed).
glibc keeps freed memory in its arenas for reuse instead of returning it: a 300k-product ingest
ended with ~2.7 GB of free heap still resident, 70% of the process's 3.7 GB, while LadybugDB's own
page cache held ~0.5 GB. `malloc_trim(0)` returns every free page of every arena (madvise) and costs
15-135 ms on such a heap; it changes no data and no allocation, so it is safe at any time.

Other C libraries (musl, macOS) have no malloc_trim; there release() does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

_lock = threading.Lock()
_trim = None  # the C function, False when the C library has none, None before the first lookup


def _lookup():
    global _trim
    with _lock:
        if _trim is None:
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                trim = libc.malloc_trim
                trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
                _trim = trim
            except (OSError, AttributeError):
                _trim = False
    return _trim


def available() -> bool:
    """Whether this process's C library can return freed heap memory (glibc's malloc_trim)."""
    return bool(_lookup())


def release() -> bool:
    """Return the C heap's free pages to the operating system; True when some were returned, False
    when none were or the C library cannot (see the module docstring)."""
    trim = _lookup()
    return bool(trim(0)) if trim else False
