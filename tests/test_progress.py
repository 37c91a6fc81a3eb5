"""Progress bars (issue 19): a total where it is cheap to know, redrawn by time while a slow step runs,
and log records written above the bar instead of onto its line."""

from __future__ import annotations

import logging
import re
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

from shopgraph.ingest.mapping import ColumnMapping
from shopgraph.progress import bar, bars_and_logs, estimate_rows
from shopgraph.queries.api import ShopGraph


def test_estimate_rows_per_format(tmp_path):
    csv = tmp_path / "a.csv"
    csv.write_bytes(b"id,title\r\n1,one\r\n2,two\r\n3,\"three\r\nlines\"")  # CRLF, last line unterminated
    assert estimate_rows(csv) == 4  # physical lines less the header: an upper bound for a multi-line field
    tsv = tmp_path / "a.tsv"
    tsv.write_text("id\ttitle\n" + "".join(f"{i}\tt{i}\n" for i in range(7)))
    assert estimate_rows(tsv) == 7
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"id": 1}\n{"id": 2}\n')
    assert estimate_rows(jsonl) == 2
    assert estimate_rows(tmp_path / "a.csv", "jsonl") == 5  # a named format wins over the extension
    parquet = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": list(range(11))}), parquet)
    assert estimate_rows(parquet) == 11
    assert estimate_rows(tmp_path / "missing.csv") is None
    assert estimate_rows(tmp_path / "a.xyz") is None
    (tmp_path / "bad.parquet").write_text("not parquet")
    assert estimate_rows(tmp_path / "bad.parquet") is None
    (tmp_path / "empty.csv").write_text("")
    assert estimate_rows(tmp_path / "empty.csv") == 0


def test_bar_is_redrawn_while_nothing_updates_it(capsys):
    """tqdm redraws only on update(); a slow first batch froze the elapsed time (Flipkart: 90 s at 0)."""
    with bar(10, "slow", refresh=0.05):
        time.sleep(0.4)
    err = capsys.readouterr().err
    assert err.count("slow:") >= 4, err  # the first draw plus time-driven redraws


def test_log_lines_go_above_the_bar(capsys):
    handler = logging.StreamHandler(sys.stderr)  # what the CLI's logging.basicConfig installs
    logging.root.addHandler(handler)
    try:
        with bars_and_logs(), bar(3, "ingest demo", refresh=60) as shown:
            shown.update(1)
            logging.getLogger("shopgraph.test").warning("a warning during the bar")
            shown.update(2)
    finally:
        logging.root.removeHandler(handler)
    err = capsys.readouterr().err
    [line] = [seg for seg in re.split(r"[\r\n]", err) if "a warning during the bar" in seg]
    assert line.strip() == "a warning during the bar", repr(err)


def test_ingest_bar_has_the_file_total(tmp_path, capsys):
    path = tmp_path / "items.csv"
    path.write_text("sku,name\n" + "".join(f"S-{i},Steel bottle {i}\n" for i in range(5)), encoding="utf-8")
    with ShopGraph.open(tmp_path / "g.db") as sg:
        summary = sg.ingest(path, ColumnMapping(platform="shop", id="sku", title="name"), progress=True)
    assert summary.products_written == 5
    err = capsys.readouterr().err
    assert re.search(r"ingest shop: 100%\|.*\| 5/5 ", err), err
    assert "0/5 [" in err and "<?" in err  # the total is known from the start, before the first batch
    assert "0/5 [" in err.split("encoding 5 rows")[0] and "writing 5 rows" in err  # what the first batch is doing


def test_no_bar_without_progress(tmp_path, capsys):
    path = tmp_path / "items.csv"
    path.write_text("sku,name\nS-1,Steel bottle\n", encoding="utf-8")
    with ShopGraph.open(tmp_path / "g.db") as sg:
        sg.ingest(path, ColumnMapping(platform="shop", id="sku", title="name"), progress=False)
    assert "ingest shop" not in capsys.readouterr().err
