"""The cores a matching run uses: threads for work that releases the GIL, forked processes for
per-pair Python.

- `thread_map`: blocking's top lists (neighbours.top_lists) and the scorer's chunks. faiss searches
  and LightGBM's predictions run in C++ without the GIL, so two build at once in one process, each
  into its own cache entry or rows; the numbers are the same as one after the other (each is
  computed alone). sparse_dot_topn's product holds the GIL: it is given the workers as its own
  (OpenMP) threads instead, which split its rows.
- `fork_map`: the per-pair features of a large run (PairFeaturizer.features). Their cost is Python
  (rapidfuzz calls, set operations per pair), which threads cannot share. The featurizer is built
  once; the process forks after that, so each child reads the parent's copy of it (copy-on-write) and
  gets only chunk numbers to work on; the parent computes its own share meanwhile. Every chunk's rows
  are the same floats in any process (a pair's features are its own), so the joined matrix is the
  single-process one. The garbage collector is frozen across the fork: a collection in a child
  would write to the header of every tracked object it walks and copy those pages; reference counts
  still dirty the pages of the objects a child touches (measured in docs/benchmarks.md, Round 6).

Processes are forked (the "fork" start method, POSIX only); where fork is unavailable fork_map runs
everything here.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity; os.cpu_count() where that is unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve(workers: int | None) -> int:
    """workers as asked (>= 1), or available_cores() for None or 0."""
    if workers is None or workers <= 0:
        return available_cores()
    return int(workers)


def thread_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """[fn(item) for item in items], computed by `workers` threads (in order; one worker: here)."""
    items = list(items)
    if workers <= 1 or len(items) <= 1 or _IN_CHILD:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


@contextlib.contextmanager
def long_lived(*_keep):
    """While a matching run holds its listings and featurizer (millions of Python sets, strings and
    typed values at 100k listings a side), the garbage collector's full collections walked all of
    them again and again as the per-pair work allocated: ~9% of the featurizer and features' CPU at
    10k listings a side, more with more objects. Inside this block the objects that exist are moved
    out of the collector's sight (gc.freeze) and `settle()` moves those made since (the featurizer);
    on leaving they are handed back (gc.unfreeze), so anything garbage among them is collected then.
    Nothing is computed differently: the collector only frees unreachable cycles."""
    nested = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        yield
    finally:
        if not nested:
            gc.unfreeze()


def settle() -> None:
    """Inside long_lived: the objects made since (a featurizer just built) join the frozen ones."""
    gc.freeze()


# What the forked children read: set by fork_map just before forking, so a child finds it in its
# copy of this module (never pickled).
_JOB: tuple[Callable, list, object] | None = None
_DONE = "done"


def _next(counter) -> int:
    """The next item number nobody has taken (shared by the parent and its children)."""
    with counter.get_lock():
        n = counter.value
        counter.value = n + 1
    return n


_IN_CHILD = False


def in_child() -> bool:
    """Whether this is a fork_map child: it must not start threads of its own (OpenMP's, above all:
    GNU OpenMP hangs in a child forked after the parent used it)."""
    return _IN_CHILD


def _child(queue) -> None:
    """A forked child: items taken one at a time from the shared counter, each result sent back as
    soon as it is computed (so neither side holds a share's results at once)."""
    global _IN_CHILD
    _IN_CHILD = True
    fn, items, counter = _JOB
    try:
        while (n := _next(counter)) < len(items):
            queue.put((n, fn(items[n])))
        queue.put((_DONE, None))
    except BaseException as e:   # sent back, raised in the parent
        queue.put((_DONE, f"{type(e).__name__}: {e}"))


def fork_map(fn: Callable[[T], R], items: Iterable[T], workers: int,
             sink: Callable[[int, R], None] | None = None) -> list[R] | None:
    """fn over items by this process and workers - 1 forked children, each taking the next item not
    yet taken. Each result goes to sink(n, result) as it arrives (then None is returned; sink may be
    called from a second thread of this process, one call at a time), or the results are returned in
    order. fn and items are read by the children from the fork (never pickled); each result is
    pickled back once. A child's error is raised here as a RuntimeError."""
    global _JOB
    import threading

    items = list(items)
    try:
        context = multiprocessing.get_context("fork")
    except ValueError:   # no fork on this platform
        context = None
    results: list = [None] * len(items)
    lock = threading.Lock()

    def put(n: int, result) -> None:
        with lock:
            if sink is None:
                results[n] = result
            else:
                sink(n, result)

    if workers <= 1 or len(items) <= 1 or context is None or _IN_CHILD:
        for n, item in enumerate(items):
            put(n, fn(item))
        return None if sink is not None else results
    children = min(workers, len(items)) - 1
    counter, queue = context.Value("q", 0), context.SimpleQueue()
    errors: list[str] = []

    def drain() -> None:
        finished = 0
        while finished < children:
            n, result = queue.get()
            if n == _DONE:
                finished += 1
                if result is not None:
                    errors.append(result)
            else:
                put(n, result)

    _JOB = (fn, items, counter)
    nested = gc.get_freeze_count() > 0
    gc.freeze()   # children's collections leave the parent's objects (and their pages) alone
    procs = []
    try:
        procs = [context.Process(target=_child, args=(queue,), daemon=True) for _ in range(children)]
        for proc in procs:
            proc.start()
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        while (n := _next(counter)) < len(items):
            put(n, fn(items[n]))
        while reader.is_alive():
            reader.join(0.5)
            if reader.is_alive() and not any(p.is_alive() for p in procs):
                reader.join(2.0)   # the last results may still be in the pipe
                if reader.is_alive():
                    raise RuntimeError("a matching worker process ended without its results "
                                       f"(exit codes {[p.exitcode for p in procs]})")
    finally:
        _JOB = None
        if not nested:
            gc.unfreeze()
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
    if errors:
        raise RuntimeError(f"a matching worker process failed: {errors[0]}")
    return None if sink is not None else results
