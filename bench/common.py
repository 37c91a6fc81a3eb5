"""Helpers shared by the benchmarks: timing, memory, machine info, a text table and the JSON result.

Every benchmark writes bench/results/NAME.json as {"benchmark", "created", "machine", "settings",
"results", "notes"} so that runs on different machines can be compared by what produced them.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_PACKAGES = ("numpy", "faiss-cpu", "torch", "ladybug", "sentence-transformers", "pyarrow")


# -- timing -----------------------------------------------------------------------------------
class Timer:
    """Wall-clock seconds of a `with` block: `with Timer() as t: ...; t.seconds`."""

    def __enter__(self) -> "Timer":
        self.seconds = 0.0
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start


def time_each(fn: Callable[[Any], Any], items: Iterable[Any], warmup: int = 0) -> tuple[np.ndarray, list[Any]]:
    """Call fn on each item sequentially; (latencies in milliseconds as float64 array, results).

    The first `warmup` items are also run once beforehand, untimed (caches, lazy builds).
    """
    items = list(items)
    for item in items[:warmup]:
        fn(item)
    latencies, results = np.empty(len(items)), []
    for i, item in enumerate(items):
        start = time.perf_counter()
        results.append(fn(item))
        latencies[i] = (time.perf_counter() - start) * 1000.0
    return latencies, results


def percentiles(ms: Sequence[float] | np.ndarray, points: Sequence[int] = (50, 99)) -> dict[str, float]:
    """{"p50": ..., "p99": ...} of latencies in ms (rounded to microseconds)."""
    arr = np.asarray(ms, dtype=np.float64)
    return {f"p{p}": round(float(np.percentile(arr, p)), 3) for p in points}


# -- memory -----------------------------------------------------------------------------------
def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def reset_peak_rss() -> bool:
    """Reset this process's peak resident memory (VmHWM) to its current size, so `vm_hwm_mb` then says
    the peak of what follows alone (Linux: writes 5 to /proc/self/clear_refs). False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def vm_hwm_mb() -> float | None:
    """Peak resident memory since the process started or since reset_peak_rss, MiB (None without /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def rss_mb() -> float | None:
    """Current resident memory, MiB (None where /proc is unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024), 1)


@contextmanager
def rss_growth() -> Iterator[dict]:
    """Measure how much resident memory a block adds: `with rss_growth() as m: ...; m["mb"]`."""
    out: dict = {"mb": None}
    before = rss_mb()
    yield out
    after = rss_mb()
    if before is not None and after is not None:
        out["mb"] = round(after - before, 1)


# -- machine and results ----------------------------------------------------------------------
def package_versions(names: Iterable[str] = DEFAULT_PACKAGES) -> dict[str, str | None]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine_info(packages: Iterable[str] = DEFAULT_PACKAGES) -> dict:
    """What produced a result: CPUs, memory, OS, Python and package versions."""
    try:
        cpus_usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus_usable = os.cpu_count()
    try:
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        mem_gib = None
    try:
        load = [round(x, 2) for x in os.getloadavg()]  # other work on the machine skews latencies
    except (OSError, AttributeError):
        load = None
    return {"cpu_count": os.cpu_count(), "cpus_usable": cpus_usable, "memory_gib": mem_gib, "loadavg": load,
            "processor": platform.processor() or platform.machine(), "platform": platform.platform(),
            "python": platform.python_version(), "packages": package_versions(packages)}


def need_scale_db(folder: Path) -> Path:
    """folder/scale.db of a bench.scale size folder (the benches that reuse one: cards, mirror_state,
    lagged_reader), or stop with one line naming the folder."""
    db = Path(folder) / "scale.db"
    if not db.exists():
        raise SystemExit(f"--dir {folder}: no scale.db there")
    return db


def args_settings(args) -> dict:
    """A benchmark's parsed arguments as JSON-ready settings (paths as strings)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def report_bars(results: dict, bars: Mapping[str, bool]) -> None:
    """Print the issue's bars as one line ("name: met; other: NOT met") and keep them in results."""
    results["bars"] = dict(bars)
    print("\nbars: " + "; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in bars.items()))


def write_results(name: str, settings: Mapping[str, Any], results: Any, notes: Sequence[str] = (),
                  packages: Iterable[str] = DEFAULT_PACKAGES, directory: Path | None = None) -> Path:
    """Write RESULTS_DIR/NAME.json (replacing the previous run) and return its path."""
    directory = RESULTS_DIR if directory is None else Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": machine_info(packages), "settings": dict(settings), "results": results,
               "notes": list(notes)}
    path = directory / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# -- output -----------------------------------------------------------------------------------
def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A plain text table: one column per key (first row's keys by default), numbers right-aligned."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, (float, np.floating)):
            return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in body)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), (int, float, np.number)) or r.get(c) is None for r in rows)
               for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(b) for b in body)])


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
                title: str | None = None) -> None:
    if title:
        print(f"\n{title}")
    print(format_table(rows, columns), flush=True)
