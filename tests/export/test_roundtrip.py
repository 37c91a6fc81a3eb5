"""`shopgraph export` / ShopGraph.export and reading an export back (`ingest --dataset DIR`): every label
and relationship type of the schema, Parquet or CSV, a checked manifest, on both stores."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from shopgraph.cli import main
from shopgraph.errors import BadArgumentError, BadFileError
from shopgraph.graph import schema as S
from shopgraph.graph.embedded import SCHEMA_VERSION
from tests.helpers import dump_graph

VECTORS = set(S.VECTOR_PROPERTIES)


def plain(dump: dict) -> dict:
    return {k: v for k, v in dump.items() if k not in VECTORS}


def open_target(kind: str, request, tmp_path):
    from shopgraph.config import Config
    from shopgraph.queries.api import ShopGraph

    if kind == "embedded":
        return ShopGraph.open(tmp_path / "copy.db")
    request.getfixturevalue("neo4j_empty")
    config = Config()
    return ShopGraph.open("neo4j", config=replace(config, neo4j=replace(config.neo4j, local_dir=str(tmp_path / "n4j"))))


@pytest.fixture(scope="module")
def exported(demo_graph, tmp_path_factory):
    """The demo graph exported twice: Parquet with vectors, CSV without."""
    from shopgraph.queries.api import ShopGraph

    root = tmp_path_factory.mktemp("exports")
    with ShopGraph.open(demo_graph.db, read_only=True) as sg:
        sg.export(root / "pq", vectors=True)
        sg.export(root / "csv", format="csv")
        original = dump_graph(sg.store)
    return root, original


def test_export_holds_every_label_and_type_with_a_manifest(exported, demo_graph):
    root, original = exported
    manifest = json.loads((root / "pq" / "manifest.json").read_text())
    names = {(f["kind"], f["name"]): f for f in manifest["files"]}
    assert {n for k, n in names if k == "node"} == set(S.DATA_LABELS)
    assert {n for k, n in names if k == "relationship"} == set(S.REL_TYPES)
    assert manifest["schema_version"] == SCHEMA_VERSION and manifest["vectors"] is True
    for (kind, name), entry in names.items():
        table = pq.read_table(root / "pq" / entry["path"])
        assert table.num_rows == entry["rows"] == len(original[name]), name
        assert entry["holds"] and len(entry["sha256"]) == 64
    same_as = pq.read_table(root / "pq" / names[("relationship", "SAME_AS")]["path"])
    assert {"src", "dst", "score", "method", "model_version", "status", "evidence"} == set(same_as.column_names)
    assert "a person" in names[("relationship", "DIFFERENT_FROM")]["holds"]
    products = pq.read_table(root / "pq" / names[("node", "Product")]["path"])
    assert str(products.schema.field("id").type) == "string" and str(products.schema.field("price").type) == "double"
    csv_manifest = json.loads((root / "csv" / "manifest.json").read_text())
    assert csv_manifest["vectors"] is False and "text_vec" not in csv_manifest["files"][0]["columns"]
    assert (root / "csv" / "nodes" / "Product.csv").read_text().startswith('"id","platform"')


@pytest.mark.parametrize("target", ["embedded", "neo4j"])
def test_parquet_with_vectors_round_trips_exactly(exported, request, tmp_path, target):
    root, original = exported
    with open_target(target, request, tmp_path) as sg:
        summary = sg.ingest_dataset(root / "pq", progress=False)
        assert summary.products_written == len(original["Product"]) and summary.platforms == ["shop_a", "shop_b"]
        assert dump_graph(sg.store) == original
        again = sg.ingest_dataset(root / "pq", progress=False)  # idempotent: nothing changes
        assert again.products_unchanged == len(original["Product"]) and dump_graph(sg.store) == original


@pytest.mark.parametrize("target", ["embedded", "neo4j"])
def test_csv_without_vectors_is_encoded_again(exported, request, tmp_path, target):
    root, original = exported
    with open_target(target, request, tmp_path) as sg:
        sg.ingest_export(root / "csv", progress=False)
        copy = dump_graph(sg.store)
        assert plain(copy) == plain(original)
        for prop in ("text_vec", "image_vec", "lex_vec", "fused_vec"):
            assert copy[prop][0] == original[prop][0], prop  # the same products have each vector
            assert np.allclose(copy[prop][1], original[prop][1], atol=1e-4), prop
        hits = sg.search(text=original["Product"][0]["title"], k=1)
        assert hits[0].product.id == original["Product"][0]["id"]


def test_neo4j_export_reads_back_into_the_embedded_store(exported, request, tmp_path):
    root, original = exported
    with open_target("neo4j", request, tmp_path) as neo:
        neo.ingest_export(root / "pq", progress=False)
        neo.export(tmp_path / "from-neo4j", vectors=True)
    with open_target("embedded", request, tmp_path) as sg:
        sg.ingest_export(tmp_path / "from-neo4j", progress=False)
        assert dump_graph(sg.store) == original


def copy_export(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_a_damaged_or_hostile_export_is_one_error_and_writes_nothing(exported, tmp_path):
    from shopgraph.queries.api import ShopGraph

    root, _ = exported
    damaged = copy_export(root / "pq", tmp_path / "damaged")
    with open(damaged / "relationships" / "SAME_AS.parquet", "ab") as f:
        f.write(b"x")
    hostile = copy_export(root / "pq", tmp_path / "hostile")
    manifest = json.loads((hostile / "manifest.json").read_text())
    manifest["files"][0]["path"] = "../damaged/nodes/Product.parquet"
    (hostile / "manifest.json").write_text(json.dumps(manifest))
    missing = copy_export(root / "pq", tmp_path / "missing")
    (missing / "nodes" / "Brand.parquet").unlink()
    with ShopGraph.open(tmp_path / "t.db") as sg:
        with pytest.raises(BadFileError, match=r"SAME_AS.parquet: checksum differs"):
            sg.ingest_export(damaged, progress=False)
        with pytest.raises(BadFileError, match="outside the export folder"):
            sg.ingest_export(hostile, progress=False)
        with pytest.raises(BadFileError, match=r"Brand.parquet: listed in the manifest but missing"):
            sg.ingest_export(missing, progress=False)
        assert sum(sg.stats().values()) == 0


def test_a_list_cell_that_is_not_json_is_one_error_naming_file_and_column(exported, tmp_path, monkeypatch):
    """An export whose checksums were made to match a hand-edited CSV: a list cell that is not a JSON
    array is one error naming the cell, not a traceback, and nothing is written: every list cell is
    checked before the first write. The edited cell is in the last row and batches are 10 rows, so
    decoding batch by batch (as before) would have written the earlier batches."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from shopgraph.export import read
    from shopgraph.export.manifest import sha256
    from shopgraph.queries.api import ShopGraph

    monkeypatch.setattr(read, "BATCH_ROWS", 10)
    root, _ = exported
    edited = copy_export(root / "csv", tmp_path / "edited")
    products = edited / "nodes" / "Product.csv"
    table = pacsv.read_csv(products, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    column = table.schema.get_field_index("images")
    cells = table.column(column).to_pylist()
    cells[-1] = "[not json"
    table = table.set_column(column, "images", pa.array(cells, type=pa.string()))
    pacsv.write_csv(table, products)
    manifest = json.loads((edited / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry["path"].endswith("Product.csv"):
            entry["sha256"] = sha256(products)
    (edited / "manifest.json").write_text(json.dumps(manifest))
    with ShopGraph.open(tmp_path / "t.db") as sg:
        with pytest.raises(BadFileError, match=rf"Product.csv: column images, row {table.num_rows}: not a JSON array"):
            sg.ingest_export(edited, progress=False)
        assert sum(sg.stats().values()) == 0


def test_export_never_leaves_half_a_folder(demo_graph, tmp_path, monkeypatch):
    from shopgraph.queries.api import ShopGraph

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    with ShopGraph.open(demo_graph.db, read_only=True) as sg:
        with pytest.raises(BadArgumentError, match="not an empty folder"):
            sg.export(tmp_path / "full")

        def broken(*args, **kwargs):
            raise RuntimeError("disk full")

        monkeypatch.setattr(type(sg.store), "relationship_pairs", broken)
        with pytest.raises(RuntimeError):
            sg.export(tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]


def test_cli_export_and_ingest_back(demo_graph, tmp_path, capsys):
    folder = tmp_path / "out"
    assert main(["export", str(folder), "--db", str(demo_graph.db), "--format", "csv", "--vectors"]) == 0
    out = capsys.readouterr().out
    assert "nodes/Product.csv" in out and "manifest:" in out
    assert main(["ingest", "--dataset", str(folder), "--db", str(tmp_path / "back.db"), "--no-progress"]) == 0
    assert "platforms            shop_a, shop_b" in capsys.readouterr().out
    assert main(["export", str(folder), "--db", str(demo_graph.db)]) == 1
    assert "not an empty folder" in capsys.readouterr().err
