"""The cores a matching run uses: threads for work that releases the GIL, forked processes for
per-pair Python.

- `thread_map`: blocking's top lists (neighbours.top_lists). faiss searches run in C++ without the
  GIL, so two build at once in one process, each into its own cache entry; the numbers are the same as
  one after the other (each is computed alone). sparse_dot_topn's product holds the GIL: it is given
  the workers as its own (OpenMP) threads instead, which split its rows; the scorer gives them to
  LightGBM (num_threads).
- `fork_map`: the per-pair features of a large run (PairFeaturizer.features). Their cost is Python
  (rapidfuzz calls, set operations per pair), which threads cannot share. The featurizer is built
  once; the process forks after that, so each child reads the parent's copy of it (copy-on-write) and
  gets only chunk numbers to work on; the parent computes its own share meanwhile. Every chunk's rows
  are the same floats in any process (a pair's features are its own), so the joined matrix is the
  single-process one. The garbage collector is frozen across the fork: a collection in a child
  would write to the header of every tracked object it walks and copy those pages; reference counts
  still dirty the pages of the objects a child touches (measured in docs/benchmarks.md, Round 6).

Processes are forked (the "fork" start method) on Linux only: macOS's system libraries are not
safe in a forked child (CPython stopped forking there by default), and Windows cannot fork; there
fork_map runs everything in this process.

The default number of workers (`matching.workers` = 0) is the cores this process may use: its CPU
affinity, a container's CPU quota (cgroup cpu.max), and OMP_NUM_THREADS when a user set it to share
the machine, at most DEFAULT_MAX_WORKERS (each forked child copies the pages of the Python objects it
touches: ~150 MB at 100k listings a side).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


DEFAULT_MAX_WORKERS = 4  # workers a run takes by default, however many cores (see the module docstring)


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity (os.cpu_count() where that is unknown),
    fewer when a cgroup v2 CPU quota (cpu.max, a container's limit) allows less."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cores = max(1, os.cpu_count() or 1)
    quota = _cgroup_quota()
    return max(1, min(cores, quota)) if quota else cores


def _cgroup_quota() -> int | None:
    """Whole cores a cgroup v2 CPU quota allows (rounded up), None without one."""
    try:
        limit, period = open("/sys/fs/cgroup/cpu.max", encoding="ascii").read().split()[:2]
    except (OSError, ValueError):
        return None
    if limit == "max":
        return None
    try:
        return max(1, -(-int(limit) // int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def resolve(workers: int | None) -> int:
    """workers as asked (>= 1), or for None or 0 the default: available_cores(), no more than a
    positive OMP_NUM_THREADS (a user sharing the machine) and DEFAULT_MAX_WORKERS."""
    if workers is not None and workers > 0:
        return int(workers)
    cores = available_cores()
    try:
        omp = int(os.environ.get("OMP_NUM_THREADS", "0").split(",")[0])
    except ValueError:
        omp = 0
    if omp > 0:
        cores = min(cores, omp)
    return max(1, min(cores, DEFAULT_MAX_WORKERS))


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
    items = list(items)
    context = multiprocessing.get_context("fork") if sys.platform.startswith("linux") else None
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
    with _FORK_LOCK:  # _JOB is what the children read: one fork_map at a time in a process
        _fork_map(fn, items, workers, context, put)
    return None if sink is not None else results


_FORK_LOCK = threading.Lock()


def _fork_map(fn, items: list, workers: int, context, put: Callable[[int, object], None]) -> None:
    """fork_map's forked part. Every item's result must reach put() exactly once, or this raises: a
    child's error, a child that ended without its results, and an error of the thread that reads the
    children's results (unpickling, put) all end the run with a RuntimeError, never a partial result."""
    global _JOB
    children = min(workers, len(items)) - 1
    counter, queue = context.Value("q", 0), context.SimpleQueue()
    errors: list[str] = []
    delivered = [0]

    def drain() -> None:
        finished = 0
        try:
            while finished < children:
                n, result = queue.get()
                if n == _DONE:
                    finished += 1
                    if result is not None:
                        errors.append(result)
                else:
                    put(n, result)
                    delivered[0] += 1
        except BaseException as e:  # noqa: BLE001 - reported by the parent, which then stops the run
            errors.append(f"reading a worker's result: {type(e).__name__}: {e}")

    _JOB = (fn, items, counter)
    nested = gc.get_freeze_count() > 0
    gc.freeze()   # children's collections leave the parent's objects (and their pages) alone
    procs = []
    reader = None
    try:
        procs = [context.Process(target=_child, args=(queue,), daemon=True) for _ in range(children)]
        for proc in procs:
            proc.start()
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        mine = 0
        while (n := _next(counter)) < len(items):
            put(n, fn(items[n]))
            mine += 1
        while reader.is_alive():
            reader.join(0.5)
            if reader.is_alive() and not any(p.is_alive() for p in procs):
                reader.join(2.0)   # the last results may still be in the pipe
                if reader.is_alive():
                    raise RuntimeError("a matching worker process ended without its results "
                                       f"(exit codes {[p.exitcode for p in procs]})")
        if errors:
            raise RuntimeError(f"a matching worker process failed: {errors[0]}")
        if mine + delivered[0] != len(items):
            raise RuntimeError(f"matching workers returned {mine + delivered[0]} of {len(items)} results")
    finally:
        _JOB = None
        if not nested:
            gc.unfreeze()
        with counter.get_lock():  # after an error here: the children take no further item
            counter.value = len(items)
        for proc in procs:
            proc.join(0.5 if errors or reader is None or reader.is_alive() else 5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        if reader is not None and reader.is_alive():  # its children are gone: let it end
            for _ in range(children):
                queue.put((_DONE, None))
            reader.join(1.0)
