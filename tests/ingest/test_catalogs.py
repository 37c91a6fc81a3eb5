"""Catalogs as they come (issue 15), through the real ingest with the real text encoder: every column
kept (fields, identifiers, attributes) on both stores, tables in memory, brand merges, full-snapshot
sync and delete, inspect, URL images and the titles' script. Text only (no image column) except the
URL image test, so the image model is loaded by that test alone."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from shopgraph.cli import main
from shopgraph.errors import BadArgumentError, NotFoundError
from shopgraph.queries.api import ShopGraph
from shopgraph.records import NOTE_IDENTIFIER, NOTE_IMAGE_URL, NOTE_PRICE

N_EXTRA = 26   # 4 mapped columns (sku, name, price, brand) + 26 others = a 30-column catalog


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def wide_catalog(path: Path) -> Path:
    """30 columns: sku, name, price, brand, ean (valid or not), model, Colour, capacity, and 22 more."""
    extra = [f"Spec {i}" for i in range(N_EXTRA - 4)]
    header = ["sku", "name", "price", "brand", "ean", "model", "Colour ", "capacity", *extra]
    rows = [["K-1", "Kettle one", "€ 19,99", "Acme", "4006381333931", "WM-330S", "Red", "256 GB",
             *[f"v{i}" for i in range(len(extra))]],
            ["K-2", "Kettle two", "call us", "Acme Corp.", "4006381333932", "X 1", "red", "1 TB",
             *[f"w{i}" for i in range(len(extra))]],
            ["K-3", "Kettle three", "$5", "Nordvik", "", "wm330s", "Blue", "100GB",
             *["" for _ in extra]]]
    return write_csv(path, header, rows)


WIDE = {"platform": "wide", "id": "sku", "title": "name", "price": "price", "brand": "brand",
        "default_currency": "EUR"}


@pytest.fixture(scope="module")
def encoder_graph(tmp_path_factory):
    """One embedded graph per module (the text model loads once); each test uses its own platform."""
    folder = tmp_path_factory.mktemp("catalogs")
    with ShopGraph.open(folder / "g.db") as graph:
        yield graph


@pytest.fixture(params=["embedded", "neo4j"])
def any_graph(request, encoder_graph, tmp_path):
    """encoder_graph, or the live Neo4j (emptied) with the same loaded encoder: the store-facing parts
    of catalog handling (removal, retired SAME_AS, list properties, the image cache's folder) on both."""
    if request.param == "embedded":
        yield encoder_graph
        return
    from dataclasses import replace

    request.getfixturevalue("neo4j_empty")
    config = encoder_graph.config
    config = replace(config, neo4j=replace(config.neo4j, local_dir=str(tmp_path / "n4j")))
    with ShopGraph.open("neo4j", config=config) as graph:
        graph._encoder = encoder_graph.encoder
        yield graph


def _check_wide(graph, platform: str, summary) -> None:
    """Every unmapped column is in the graph: identifiers as Identifier nodes, the rest as attributes."""
    assert summary.products_written == 3 and summary.quarantined == 0
    assert summary.notes == {NOTE_PRICE: 1, NOTE_IDENTIFIER: 1}
    keys = {r["key"] for r in graph.cypher(
        "MATCH (p:Product {platform: $p})-[:HAS_ATTRIBUTE]->(a:Attribute) RETURN DISTINCT a.key AS key",
        {"p": platform})}
    expected = {"color", "capacity", *(f"spec_{i}" for i in range(N_EXTRA - 4)),
                "ean", "price"}     # the invalid GTIN and the unreadable price, kept as text
    assert keys == expected
    ids = graph.cypher("MATCH (p:Product {platform: $p})-[e:HAS_IDENTIFIER]->(i:Identifier) "
                       "RETURN p.source_id AS sku, i.key AS key, e.raw AS raw ORDER BY sku, key", {"p": platform})
    assert [(r["sku"], r["key"]) for r in ids] == [("K-1", "gtin:04006381333931"), ("K-1", "mpn:wm330s"),
                                                   ("K-2", "mpn:x1"), ("K-3", "mpn:wm330s")]
    prices = {r["sku"]: (r["price"], r["currency"]) for r in graph.cypher(
        "MATCH (p:Product {platform: $p}) RETURN p.source_id AS sku, p.price AS price, p.currency AS currency",
        {"p": platform})}
    assert prices == {"K-1": (19.99, "EUR"), "K-2": (None, None), "K-3": (5.0, "USD")}
    big = graph.cypher("MATCH (p:Product {platform: $p})-[c:HAS_ATTRIBUTE]->(:Attribute {key: 'capacity'}) "
                       "WHERE c.base_number >= 100e9 AND c.base_number <= 500e9 RETURN p.source_id AS sku "
                       "ORDER BY sku", {"p": platform})
    assert [r["sku"] for r in big] == ["K-1", "K-3"]


def test_a_30_column_catalog_keeps_every_column_embedded(encoder_graph, tmp_path):
    path = wide_catalog(tmp_path / "wide.csv")
    summary = encoder_graph.ingest(path, WIDE, progress=False)
    _check_wide(encoder_graph, "wide", summary)
    assert "4 fields" in summary.columns[0] and "ean (gtin)" in summary.columns[0]
    assert "price unreadable" in summary.render()


def test_a_30_column_catalog_keeps_every_column_on_neo4j(neo4j_empty, tmp_path):
    path = wide_catalog(tmp_path / "wide.csv")
    with ShopGraph.open("neo4j") as graph:
        _check_wide(graph, "wide", graph.ingest(path, WIDE, progress=False))


def test_dataframe_and_arrow_table_ingest_like_a_file(encoder_graph, tmp_path):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    rows = [{"sku": "T-1", "name": "Teapot", "price": "12,50 €", "Colour": "Green"},
            {"sku": "T-2", "name": "", "price": "3", "Colour": "Red"},          # no title: quarantined
            {"sku": "T-3", "name": "Tea cup", "price": None, "Colour": None}]
    frame = pd.DataFrame(rows)
    summary = encoder_graph.ingest(frame, {"platform": "frame", "id": "sku", "title": "name", "price": "price"},
                                   progress=False)
    assert (summary.rows_read, summary.products_written, summary.quarantined) == (3, 2, 1)
    assert summary.quarantine_files and "table" in Path(summary.quarantine_files[0]).name
    table = pa.Table.from_pylist(rows)
    from shopgraph.ingest.mapping import ColumnMapping

    summary = encoder_graph.ingest(table, ColumnMapping(platform="arrow", id="sku", title="name", price="price"),
                                   progress=False, source_name="teas")
    assert (summary.rows_read, summary.products_written, summary.quarantined) == (3, 2, 1)
    assert encoder_graph.product("arrow:T-1").currency == "EUR"
    colours = encoder_graph.cypher("MATCH (p:Product)-[a:HAS_ATTRIBUTE]->(:Attribute {key: 'color'}) "
                                   "WHERE p.platform IN ['frame', 'arrow'] RETURN a.value AS v")
    assert sorted(r["v"] for r in colours) == ["Green", "Green"]
    with pytest.raises(BadArgumentError, match="DataFrame or a pyarrow Table"):
        encoder_graph.ingest(42, {"platform": "x", "id": "sku", "title": "name"})


def test_brand_variants_merge_and_the_summary_lists_them(any_graph, tmp_path):
    path = write_csv(tmp_path / "brands.csv", ["sku", "name", "brand"],
                     [["B-1", "Phone", "SAMSUNG Electronics Co., Ltd."], ["B-2", "Tablet", "Samsung"],
                      ["B-3", "Watch", "samsung"], ["B-4", "Kettle", "Proctor & Gamble"]])
    aliases = tmp_path / "aliases.csv"
    aliases.write_text("Proctor & Gamble,Procter & Gamble\n", encoding="utf-8")
    graph = ShopGraph(any_graph.store, _with(any_graph.config, brand_aliases=str(aliases)),
                      store_path=any_graph.store_path, cache_path=any_graph._cache_path)
    graph._encoder = any_graph.encoder
    summary = graph.ingest(path, {"platform": "brands", "id": "sku", "title": "name", "brand": "brand"},
                           progress=False)
    brands = {r["id"]: r["b"] for r in graph.cypher(
        "MATCH (p:Product {platform: 'brands'})-[:OF_BRAND]->(b:Brand) RETURN p.source_id AS id, b.name AS b")}
    assert brands == {"B-1": "samsung", "B-2": "samsung", "B-3": "samsung", "B-4": "procter gamble"}
    assert "samsung electronics -> samsung" in summary.brand_merges
    assert "proctor gamble -> procter gamble" in summary.brand_merges
    assert "brand merged" in summary.render()


def _with(config, **ingest):
    from dataclasses import replace

    return replace(config, ingest=replace(config.ingest, **ingest))


def test_full_snapshot_removes_what_left_the_catalog_and_delete(any_graph, tmp_path):
    g = any_graph
    mapping = {"platform": "snap", "id": "sku", "title": "name"}
    first = write_csv(tmp_path / "v1.csv", ["sku", "name", "model"],
                      [[f"S-{i}", f"Snapshot lamp {i}", f"L-{i}"] for i in range(5)])
    g.ingest(first, mapping, progress=False)
    from shopgraph.graph.store import GraphBatch

    g.store.write(GraphBatch(relationships={"SAME_AS": [{"src": "snap:S-3", "dst": "snap:S-0", "score": 1.0,
                                                          "method": "label", "status": "label"}]}))
    second = write_csv(tmp_path / "v2.csv", ["sku", "name", "model"], [["S-0", "Snapshot lamp 0", "L-0"],
                                                                      ["S-1", "Snapshot lamp 1", "L-1"]])
    summary = g.ingest(second, mapping, progress=False, full_snapshot=True)
    assert (summary.products_removed, summary.products_retired) == (3, 1)
    live = g.cypher("MATCH (p:Product {platform: 'snap'}) WHERE p.gone IS NULL OR NOT p.gone "
                    "RETURN p.source_id AS id ORDER BY id")
    assert [r["id"] for r in live] == ["S-0", "S-1"]
    gone = g.product("snap:S-3")
    assert gone.gone and g.store.relationship_pairs("SAME_AS") == [{"src": "snap:S-3", "dst": "snap:S-0"}]
    assert not g.cypher("MATCH (p:Product {id: 'snap:S-3'})-[:HAS_IDENTIFIER|LISTED_ON]->() RETURN p.id AS id")
    hits = [h.product.id for h in g.search(text="Snapshot lamp 3", k=10)]
    assert "snap:S-3" not in hits and "snap:S-4" not in hits and "snap:S-0" in hits
    again = g.ingest(second, mapping, progress=False, full_snapshot=True)      # idempotent
    assert (again.products_removed, again.products_unchanged) == (0, 2)
    assert g.delete_products(["snap:S-1", "snap:nope"]) == (1, 0)
    with pytest.raises(NotFoundError):
        g.product("snap:S-1")


def test_cli_delete_and_full_snapshot_flags(tmp_path, capsys):
    db = tmp_path / "cli.db"
    data = write_csv(tmp_path / "c.csv", ["sku", "name"], [["A", "Alpha lamp"], ["B", "Beta lamp"]])
    flags = ["--db", str(db), "--platform", "p", "--id-col", "sku", "--title-col", "name", "--no-progress"]
    assert main(["ingest", str(data), *flags]) == 0
    write_csv(data, ["sku", "name"], [["A", "Alpha lamp"]])
    assert main(["ingest", str(data), *flags, "--full-snapshot"]) == 0
    assert "products removed" in capsys.readouterr().out
    assert main(["delete", "p:A", "--db", str(db)]) == 0
    assert "1 products removed" in capsys.readouterr().out
    assert main(["stats", "--db", str(db)]) == 0


def test_inspect_says_what_each_column_becomes_and_writes_nothing(tmp_path, capsys):
    path = wide_catalog(tmp_path / "wide.csv")
    db = tmp_path / "never.db"
    assert main(["ingest", str(path), "--inspect", "--db", str(db), "--platform", "wide", "--id-col", "sku",
                 "--title-col", "name", "--price-col", "price", "--brand-col", "brand"]) == 0
    out = capsys.readouterr().out
    assert not db.exists() and not list(tmp_path.glob("never.db*"))
    assert "nothing was written" in out and "rows inspected       3 (3 kept" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "identifier:gtin" in lines["ean"] and "04006381333931" in lines["ean"] and "not a valid gtin" in lines["ean"]
    assert "identifier:mpn" in lines["model"]
    assert "attribute: capacity" in lines["capacity"] and "1 TB" in lines["capacity"]
    assert "19.99 EUR" in lines["price"] or "19.99 (no currency)" in lines["price"]
    from shopgraph.config import Config
    from shopgraph.ingest.inspect import inspect_source

    report = inspect_source(path, WIDE, Config(), rows=2)
    assert report.rows == 2 and report.title_script == "Latin"
    roles = {c.column.strip(): (c.role, c.key) for c in report.columns}
    assert roles["Colour"] == ("attribute", "color") and roles["name"] == ("field:title", None)


def test_titles_in_a_script_the_text_model_does_not_read_warn(tmp_path):
    from shopgraph.config import Config
    from shopgraph.ingest.inspect import inspect_source

    path = write_csv(tmp_path / "zh.csv", ["id", "title"], [["1", "无线蓝牙耳机 降噪"], ["2", "不锈钢电热水壶"],
                                                             ["3", "男士运动鞋 透气"]])
    report = inspect_source(path, {"platform": "zh", "id": "id", "title": "title"}, Config())
    assert report.title_script == "Han"
    assert any("text.model_path" in w and "Han" in w for w in report.warnings)


def test_url_images_are_recorded_and_fetched_only_when_asked(any_graph, tmp_path):
    import http.server
    import threading

    from tests.ingest.bad_inputs.cases import png

    body = png()
    served: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):   # noqa: N802
            served.append(self.path)
            if self.path == "/moved.png":
                self.send_response(302)
                self.send_header("Location", "/a.png")
                self.end_headers()
                return
            data = body if self.path == "/a.png" else b"<html>not an image</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        path = write_csv(tmp_path / "urls.csv", ["sku", "name", "image"],
                         [["U-1", "Mug", f"{base}/a.png"], ["U-2", "Cup", f"{base}/page.html"],
                          ["U-3", "Jug", f"{base}/moved.png"]])
        mapping = {"platform": "urls", "id": "sku", "title": "name", "image": "image"}
        summary = any_graph.ingest(path, mapping, progress=False)
        assert summary.notes == {NOTE_IMAGE_URL: 3} and served == []
        assert any_graph.product("urls:U-1").images == (f"{base}/a.png",)
        # Fetching from 127.0.0.1 is refused unless the config allows private addresses.
        refused = any_graph.ingest(path, {**mapping, "platform": "urls2"}, progress=False, fetch_images=True)
        assert refused.notes.get("images not downloaded") == 3 and served == []
        graph = ShopGraph(any_graph.store, _with(any_graph.config, fetch_allow_private=True),
                          store_path=any_graph.store_path, cache_path=any_graph._cache_path)
        graph._encoder = any_graph.encoder
        fetched = graph.ingest(path, {**mapping, "platform": "urls3"}, progress=False, fetch_images=True)
        assert fetched.notes == {"images not downloaded": 1}          # the HTML page
        assert not graph.product("urls3:U-1").image_missing and not graph.product("urls3:U-3").image_missing
        assert graph.product("urls3:U-2").image_missing
        cache = Path(f"{any_graph.store_path}.images")
        assert len(list(cache.glob("*.img"))) == 2                 # a.png, and moved.png's redirect target
        before = len(served)
        graph.ingest(path, {**mapping, "platform": "urls4"}, progress=False, fetch_images=True)
        assert served[before:] == ["/page.html"]                   # cached URLs are not downloaded again
    finally:
        server.shutdown()
