"""Uploads and /api/image never reach files outside the allowed image roots (the database's directory
and --image-root): uploaded mappings may not set image_dir, image values must stay inside --image-root,
and /api/image serves only regular files under a root."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from shopgraph.ingest.mapping import ColumnMapping
from tests.serve.conftest import KEY, make_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
AUTH = {"X-API-Key": KEY}
MAPPING = 'platform = "shop_p"\nid = "sku"\ntitle = "name"\nimage = "photo"\n'


def save_jpeg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), (10, 120, 200)).save(path, "JPEG")
    return path


def csv_with(photos: list[str]) -> bytes:
    rows = ["sku,name,photo"] + [f"S-{i},Ceramic mug number {i},{p}" for i, p in enumerate(photos)]
    return ("\n".join(rows) + "\n").encode()


def get_with_deadline(client, url, params, seconds=20.0):
    """client.get in a thread: a request that hangs (a FIFO opened for reading) fails the test."""
    out = {}
    worker = threading.Thread(target=lambda: out.setdefault("r", client.get(url, params=params)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert "r" in out, f"{url} {params} did not answer within {seconds} s"
    return out["r"]


def test_uploaded_mapping_may_not_choose_the_image_folder(served_copy, tmp_path):
    app, host = make_app(served_copy.db, image_root=tmp_path / "photos")
    try:
        client = TestClient(app, raise_server_exceptions=False)
        for image_dir in ("/", "../..", "photos"):
            r = client.post("/api/ingest", headers=AUTH, files={"file": ("c.csv", csv_with(["etc/passwd"]))},
                            data={"mapping": MAPPING + f'image_dir = "{image_dir}"\n'})
            assert r.status_code == 400 and "image_dir" in r.json()["detail"], r.text
    finally:
        host.close()


def test_without_an_image_root_an_upload_cannot_name_images(served_copy):
    app, host = make_app(served_copy.db)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        r = client.post("/api/ingest", headers=AUTH, files={"file": ("c.csv", csv_with(["a.jpg"]))},
                        data={"mapping": MAPPING})
        assert r.status_code == 400 and "--image-root" in r.json()["detail"], r.text
    finally:
        host.close()


def test_uploaded_image_values_stay_inside_the_image_root(served_copy, tmp_path):
    root = tmp_path / "photos"
    save_jpeg(root / "mug.jpg")
    secret = save_jpeg(tmp_path / "secret" / "private.jpg")
    app, host = make_app(served_copy.db, image_root=root)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        photos = ["mug.jpg", "../secret/private.jpg", str(secret), "../" * 12 + str(secret).lstrip("/")]
        r = client.post("/api/ingest", headers=AUTH, files={"file": ("c.csv", csv_with(photos))},
                        data={"mapping": MAPPING})
        assert r.status_code == 200, r.text
        assert r.json()["products_written"] == 4 and r.json()["images_missing"] == 3
        assert client.get("/api/image", params={"id": "shop_p:S-0", "size": 64}).status_code == 200
        for i in (1, 2, 3):
            product = client.get("/api/product", params={"id": f"shop_p:S-{i}"}).json()["product"]
            assert not product["has_image"]
            assert client.get("/api/image", params={"id": f"shop_p:S-{i}"}).status_code == 404
    finally:
        host.close()


def test_image_endpoint_serves_regular_files_under_a_root_only(served_copy, tmp_path):
    """Images of a trusted (Python API) ingest: one outside every root, one that became a FIFO."""
    outside = save_jpeg(tmp_path / "elsewhere" / "far.jpg")
    beside = save_jpeg(served_copy.db.parent / "pics" / "near.jpg")
    fifo = save_jpeg(served_copy.db.parent / "pics" / "pipe.jpg")
    data = tmp_path / "c.csv"
    data.write_bytes(csv_with([str(outside), str(beside), str(fifo)]))
    from shopgraph.queries.api import ShopGraph

    with ShopGraph.open(served_copy.db) as sg:
        sg.ingest(data, ColumnMapping(platform="shop_p", id="sku", title="name", image="photo"), progress=False)
    fifo.unlink()
    os.mkfifo(fifo)
    app, host = make_app(served_copy.db)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        assert get_with_deadline(client, "/api/image", {"id": "shop_p:S-1"}).status_code == 200
        far = get_with_deadline(client, "/api/image", {"id": "shop_p:S-0"})
        assert far.status_code == 404 and str(outside) not in far.text
        assert get_with_deadline(client, "/api/image", {"id": "shop_p:S-2"}).status_code == 404
    finally:
        host.close()
    # With the other folder as --image-root, its image is served.
    app, host = make_app(served_copy.db, image_root=outside.parent)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        assert get_with_deadline(client, "/api/image", {"id": "shop_p:S-0"}).status_code == 200
    finally:
        host.close()


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("platform", ["../../escaped", "/ABS/escaped", "a\\u0000b", "line\\nbreak", "..", "x/../../y"])
def test_an_uploaded_platform_name_cannot_reach_a_path(served_copy, tmp_path, platform):
    """Issue 13, finding 3: `platform = "/some/dir/x"` or "../../x" made the server create directories and
    write <platform>-catalog.csv.jsonl outside the database's folder; a NUL gave a 500."""
    platform = platform.replace("/ABS", str(tmp_path))
    app, host = make_app(served_copy.db)
    before, outside_before = _tree(served_copy.db.parent), _tree(tmp_path)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        mapping = f'platform = "{platform}"\nid = "sku"\ntitle = "name"\nprice = "price"\n'
        r = client.post("/api/ingest", headers=AUTH, data={"mapping": mapping},
                        files={"file": ("catalog.csv", b"sku,name,price\nB-1,Bad price row,abc\nB-2,Fine row,1\n")})
        assert r.status_code == 400 and "platform" in r.json()["detail"] and "\n" not in r.json()["detail"], r.text
    finally:
        host.close()
    assert _tree(tmp_path) == outside_before
    assert _tree(served_copy.db.parent) == before


def test_upload_quarantine_files_are_per_run_and_named_after_the_upload(served_copy):
    """Issue 13, finding 7: every upload was "catalog.csv", so each run erased the last run's bad rows."""
    app, host = make_app(served_copy.db)
    mapping = 'platform = "shop_q"\nid = "sku"\ntitle = "name"\nprice = "price"\n'
    try:
        client = TestClient(app, raise_server_exceptions=False)
        names = []
        for n in range(3):
            r = client.post("/api/ingest", headers=AUTH, data={"mapping": mapping},
                            files={"file": ("jan/../products.csv", f"sku,name,price\nQ-{n},,{n}\n".encode())})
            assert r.status_code == 200 and r.json()["quarantined"] == 1, r.text
            # Issue 15: a price that does not read keeps its product, counted in the response.
            kept = client.post("/api/ingest", headers=AUTH, data={"mapping": mapping},
                               files={"file": ("p.csv", f"sku,name,price\nP-{n},Pot {n},POA\n".encode())}).json()
            assert (kept["products_written"], kept["notes"]) == (1, {"prices unreadable": 1}), kept
            names += r.json()["quarantine_files"]
    finally:
        host.close()
    folder = Path(f"{served_copy.db}.quarantine")
    assert len(set(names)) == 3 and all(n.startswith("shop_q-products.csv-") for n in names)
    rows = [json.loads(line) for n in names for line in (folder / n).read_text().splitlines()]
    assert [r["row"]["sku"] for r in rows] == ["Q-0", "Q-1", "Q-2"]
    assert {r["source_file"] for r in rows} == {"products.csv"}
