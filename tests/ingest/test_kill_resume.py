"""An ingest killed with SIGKILL half-way and run again ends with exactly the graph of an uninterrupted
run; running the same ingest twice changes nothing. Real processes, real kills, real LadybugDB."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shopgraph.graph.embedded import EmbeddedStore
from tests.helpers import dump_graph

N_ROWS = 600
BRANDS = ["Nordvik", "Aurelio", "Kestrel Labs", "Omnia"]
CATEGORIES = ["Audio > Headphones", "Audio > Speakers", "Kitchen > Kettles", "Outdoor > Backpacks"]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    path = root / "catalog.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        # Unmapped columns are identifiers (model) and attributes (color, weight): their nodes and edges
        # are written in the same transactions as the products.
        writer.writerow(["sku", "name", "price", "brand", "category", "model", "color", "weight"])
        for i in range(N_ROWS):
            name = f"{BRANDS[i % 4]} model X{i} {CATEGORIES[i % 4].split(' > ')[1]}"
            name = "" if i % 97 == 0 else name        # a few bad rows (no title) go to quarantine
            writer.writerow([f"SKU-{i:05d}", name, f"{10 + i % 300}.99", BRANDS[i % 4], CATEGORIES[i % 4],
                             f"X-{i % 50}", ["red", "blue", "black"][i % 3], f"{1 + i % 7} kg"])
    return path


def ingest_cmd(db, catalog):
    return [sys.executable, "-m", "shopgraph", "ingest", str(catalog), "--db", str(db), "--platform", "shop",
            "--id-col", "sku", "--title-col", "name", "--price-col", "price", "--brand-col", "brand",
            "--category-col", "category", "--category-sep", ">", "--no-progress",
            "--set", "ingest.batch_size=50", "--set", "ingest.use_cache=false"]


def product_count(db) -> int:
    if not db.exists():
        return 0
    try:
        with EmbeddedStore.open(db, read_only=True) as store:
            return store.count_nodes("Product")
    except Exception:
        return 0


N_BAD = len(range(0, N_ROWS, 97))


@pytest.fixture(scope="module")
def clean_db(catalog):
    """One uninterrupted ingest, shared by the tests below."""
    db = catalog.parent / "clean.db"
    subprocess.run(ingest_cmd(db, catalog), check=True, capture_output=True)
    with EmbeddedStore.open(db, read_only=True) as store:
        return db, dump_graph(store)


def test_kill_half_way_then_rerun_equals_uninterrupted_run(tmp_path, catalog, clean_db):
    killed_db = tmp_path / "killed.db"

    process = subprocess.Popen(ingest_cmd(killed_db, catalog), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    written = 0
    while time.time() < deadline and process.poll() is None:
        written = product_count(killed_db)
        if written >= 100:
            break
        time.sleep(0.05)
    assert process.poll() is None, "ingest finished before it could be killed; make the catalog bigger"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = product_count(killed_db)
    assert 0 < partial < N_ROWS - N_BAD, f"kill did not land half-way ({partial} products)"

    result = subprocess.run(ingest_cmd(killed_db, catalog), check=True, capture_output=True, text=True)
    assert "products unchanged" in result.stdout

    _, clean = clean_db
    with EmbeddedStore.open(killed_db, read_only=True) as store:
        resumed = dump_graph(store)
    assert len(clean["Product"]) == N_ROWS - N_BAD
    assert resumed == clean


def test_second_run_changes_nothing(catalog, clean_db):
    db, first = clean_db
    second_run = subprocess.run(ingest_cmd(db, catalog), check=True, capture_output=True, text=True)
    unchanged = [line for line in second_run.stdout.splitlines() if line.startswith("products unchanged")]
    assert unchanged and unchanged[0].split()[-1].replace(",", "") == str(N_ROWS - N_BAD)
    with EmbeddedStore.open(db, read_only=True) as store:
        assert dump_graph(store) == first
    # Each run has a quarantine file of its own, named in its summary; the first run's is still there.
    named = [line.split(None, 2)[2] for line in second_run.stdout.splitlines() if line.startswith("quarantine file")]
    files = sorted((db.parent / "clean.db.quarantine").glob("shop-catalog.csv-*.jsonl"))
    assert len(files) == 2 and named and Path(named[0]) in files
    assert all(len(f.read_text().splitlines()) == N_BAD for f in files)


# A full snapshot killed while it removes products (a real SIGKILL between two removal transactions)
# and run again ends with the graph an uninterrupted snapshot gives.
KILL_ON_REMOVAL = """
import os, signal, sys
from shopgraph.graph.embedded import EmbeddedStore
calls = []
original = EmbeddedStore.retire_products
def retire_then_die(self, ids):
    calls.append(len(ids))
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, ids)
EmbeddedStore.retire_products = retire_then_die
from shopgraph.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _copy_db(src: Path, dst: Path) -> Path:
    import shutil

    for path in src.parent.glob(src.name + "*"):
        if path.is_file() and not path.name.endswith(".sqlite"):
            shutil.copy2(path, dst.parent / (dst.name + path.name[len(src.name):]))
        elif path.is_dir() and path.name == src.name:
            shutil.copytree(path, dst)
    return dst


def test_full_snapshot_killed_while_removing_then_rerun_equals_uninterrupted(tmp_path, catalog, clean_db):
    db, _ = clean_db
    short = tmp_path / "catalog.csv"   # the same file name: the products' source stays the same
    lines = catalog.read_text(encoding="utf-8").splitlines(keepends=True)
    short.write_text("".join(lines[:301]), encoding="utf-8")   # header + the first 300 rows
    snapshot = ingest_cmd(None, short) + ["--full-snapshot"]
    reference, killed = _copy_db(db, tmp_path / "reference.db"), _copy_db(db, tmp_path / "killed.db")

    def run(target, *, prefix=(sys.executable, "-m", "shopgraph")):
        cmd = list(prefix) + snapshot[3:]
        cmd[cmd.index("None")] = str(target)
        return subprocess.run(cmd, capture_output=True, text=True)

    done = run(reference)
    assert done.returncode == 0, done.stderr
    assert product_count(reference) == 300 - len(range(0, 300, 97))
    dead = run(killed, prefix=(sys.executable, "-c", KILL_ON_REMOVAL))
    assert dead.returncode == -signal.SIGKILL, dead.stderr
    left = product_count(killed)
    assert product_count(reference) < left < N_ROWS - N_BAD, f"kill did not land half-way ({left} products)"
    again = run(killed)
    assert again.returncode == 0, again.stderr
    with EmbeddedStore.open(reference, read_only=True) as a, EmbeddedStore.open(killed, read_only=True) as b:
        assert dump_graph(b) == dump_graph(a)
