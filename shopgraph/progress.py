"""Progress bars for long steps: tqdm.auto (a widget in notebooks, text in a terminal), a total when
one is cheap to know, an ETA from it, and redrawn by time as well as by progress.

tqdm only redraws when update() is called, so a bar whose next update waits for a slow step (a batch
being encoded: 90 s for the first Flipkart batch with the models loading) shows a frozen elapsed time;
a small thread here refreshes it every `refresh` seconds. Log records while a bar is shown go through
tqdm.write (logging_redirect_tqdm in `bars_and_logs`), so a warning never lands on the bar's line.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def bar(total: int | None = None, desc: str = "", unit: str = "row", enabled: bool = True,
        refresh: float = 1.0) -> Iterator:
    """A tqdm bar (disabled: a bar that shows nothing) refreshed every `refresh` seconds while open."""
    from tqdm.auto import tqdm

    shown = tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False, dynamic_ncols=True,
                 mininterval=0.2, smoothing=0.1)
    stop = threading.Event()
    ticker = None
    if enabled:
        def tick() -> None:
            while not stop.wait(refresh):
                shown.refresh()

        ticker = threading.Thread(target=tick, name="progress-refresh", daemon=True)
        ticker.start()
    try:
        yield shown
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
        shown.close()


@contextmanager
def bars_and_logs(enabled: bool = True) -> Iterator[None]:
    """While bars may be shown: log records of the console handlers go through tqdm.write."""
    if not enabled:
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield


def estimate_rows(path: str | Path, format: str | None = None) -> int | None:
    """How many rows a reader will yield from a table file, known without parsing it: Parquet's
    footer, or physical lines for text (CSV/TSV less their header line). A quoted CSV field that spans
    lines makes it an upper bound (the bar then ends short of its total). None when the format or file
    is not readable this way: the bar then counts without a total."""
    from shopgraph.errors import ShopGraphError
    from shopgraph.ingest.readers import resolve_format

    try:
        fmt = resolve_format(path, format)
    except ShopGraphError:
        return None
    if fmt == "parquet":
        try:
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        except Exception:  # noqa: BLE001 - not readable as Parquet: the reader will say why
            return None
    lines = count_lines(path)
    if lines is None:
        return None
    return max(lines - 1, 0) if fmt in ("csv", "tsv") else lines


def count_lines(path: str | Path, chunk: int = 1 << 20) -> int | None:
    """Physical lines in a text file ("\\n", "\\r\\n" or a bare "\\r" end one; a last line without an
    end counts), read in 1 MB chunks: a cheap total for a progress bar. None when unreadable."""
    lines, last, pending_cr = 0, b"", False
    try:
        with open(path, "rb") as f:
            while True:
                data = f.read(chunk)
                if not data:
                    break
                lines += data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
                if pending_cr and data.startswith(b"\n"):
                    lines -= 1  # a "\r\n" split across two chunks
                pending_cr = data.endswith(b"\r")
                last = data[-1:]
    except OSError:
        return None
    return lines + (1 if last and last not in (b"\n", b"\r") else 0)
