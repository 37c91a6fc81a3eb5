"""The bad-input corpus (tests/ingest/bad_inputs/cases.py), every case through a real ingest.

For every case: a bad file is one clear error naming it, with nothing written; otherwise every input
row is accounted for (rows read = written + unchanged + quarantined), each quarantined row is in the
run's quarantine file with its line and reason, and the expected rows are the ones quarantined. In
every case nothing is written anywhere but the database's folder (its quarantine folder included):
the folder holding the input is snapshotted before and after, and so is the database's folder.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from shopgraph.errors import ShopGraphError
from shopgraph.ingest.interactions import InteractionMapping
from shopgraph.ingest.mapping import ColumnMapping
from shopgraph.queries.api import ShopGraph
from tests.ingest.bad_inputs.cases import CASES, Case, png

# Seconds one case may take (the models are loaded before the first case); a hang (a FIFO read) fails
# instead of stopping the suite. Generous: the machine may be shared with other test runs.
DEADLINE = 600.0


@pytest.fixture(scope="module")
def corpus_graph(tmp_path_factory):
    """One graph for the whole corpus; every case ingests under a platform of its own."""
    folder = tmp_path_factory.mktemp("corpus_db")
    with ShopGraph.open(folder / "g.db") as graph:
        graph.encoder.encode_query(text="warm up")     # load the models once, outside every case's deadline
        graph.encoder.image_encoder.encode_bytes(png())
        yield graph, folder


def tree(root: Path) -> dict[str, tuple]:
    """Every path under root with its type, size and modification time; links and FIFOs are not
    followed or opened."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = os.lstat(path)
            size = info.st_size if stat.S_ISREG(info.st_mode) else 0
            out[str(path.relative_to(root))] = (stat.S_IFMT(info.st_mode), size, info.st_mtime_ns)
    return out


def within_deadline(run, unblock: Path):
    """run() in a thread; if it has not finished after DEADLINE, open unblock for writing (ends a read
    blocked on a FIFO) and fail."""
    outcome = {}

    def target():
        try:
            outcome["value"] = run()
        except BaseException as e:      # re-raised in the test's thread
            outcome["error"] = e

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(DEADLINE)
    if worker.is_alive():
        for fifo in [p for p in unblock.rglob("*") if stat.S_ISFIFO(os.lstat(p).st_mode)]:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        worker.join(10)
        pytest.fail(f"the ingest did not finish within {DEADLINE} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _ingest(graph, case: Case, path: Path, platform: str):
    if case.interactions:
        mapping = InteractionMapping(namespace=platform, **case.mapping)
        return graph.ingest_interactions(path, mapping, progress=False)
    mapping = ColumnMapping(platform=platform, **case.mapping)
    return graph.ingest(path, mapping, progress=False)


def _products_of(graph, platform: str) -> int:
    rows = graph.cypher("MATCH (p:Product) WHERE p.platform = $p RETURN count(p) AS n", {"p": platform})
    return rows[0]["n"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, corpus_graph, tmp_path):
    graph, db_folder = corpus_graph
    platform = f"c_{case.name}"
    if case.interactions:
        setup = tmp_path / "setup.csv"
        setup.write_text("sku,name\nI-1,Item one\nI-2,Item two\nI-3,Item three\n", encoding="utf-8")
        graph.ingest(setup, ColumnMapping(platform=platform, id="sku", title="name"), progress=False)
    inputs = tmp_path / "in"
    inputs.mkdir()
    path = case.make(inputs)
    around, db_before = tree(tmp_path), tree(db_folder)
    products_before = _products_of(graph, platform)

    if case.bad_file is not None:
        with pytest.raises(ShopGraphError) as info:
            within_deadline(lambda: _ingest(graph, case, path, platform), inputs)
        message = str(info.value)
        assert "\n" not in message and case.bad_file in message and str(path) in message, message
        assert _products_of(graph, platform) == products_before
        assert tree(db_folder) == db_before
    else:
        summary = within_deadline(lambda: _ingest(graph, case, path, platform), inputs)
        written = summary.interactions_written if case.interactions else summary.products_written
        assert (summary.rows_read, written) == (case.rows, case.written), summary.render()
        assert summary.rows_read == written + summary.products_unchanged + summary.quarantined
        records = [json.loads(line) for q in summary.quarantine_files for line in Path(q).read_text().splitlines()]
        assert len(records) == summary.quarantined == case.rows - case.written
        reasons = {r["line"]: r["reason"] for r in records}
        assert set(reasons) == set(case.bad), reasons
        for line, piece in case.bad.items():
            assert piece in reasons[line], (line, reasons[line])
        assert {k: n for k, n in summary.notes.items()} == {k: len(v) for k, v in case.notes.items()}
        for kind, pieces in case.notes.items():
            for detail, piece in zip(summary.note_examples[kind], pieces):
                assert piece in detail, (kind, detail, piece)
        if "image" in case.mapping:      # without an image column every product counts as without image
            assert summary.images_missing == case.images_missing, summary.image_problems
        if not case.interactions:
            assert _products_of(graph, platform) == products_before + written
        new = set(tree(db_folder)) - set(db_before)
        assert all(p.startswith("g.db") for p in new), new
        assert {str(Path(q).relative_to(db_folder)) for q in summary.quarantine_files} <= new
    assert tree(tmp_path) == around      # the input's folder: nothing written, nothing changed
