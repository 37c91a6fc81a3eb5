"""The demo catalog generator: files, counts, ground truth, variation, defects, images, determinism."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shopgraph.demo.catalog import (A_COLUMNS, B_COLUMNS, MARKER, PRICE_DEFECT_KINDS, QUARANTINE_KINDS,
                                    generate_demo_catalog)
from shopgraph.errors import BadArgumentError


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _alnum(s: str) -> str:
    return re.sub(r"[^0-9a-z]", "", s.lower())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The default catalog (240 products, overlap 0.6, seed 0), its rows and its build time."""
    root = tmp_path_factory.mktemp("demo") / "catalog"
    started = time.perf_counter()
    catalog = generate_demo_catalog(root)
    elapsed = time.perf_counter() - started
    a = {r["sku"]: r for r in _read_csv(catalog.sources[0][0])}
    b = {r["listing_id"]: r for r in _read_jsonl(catalog.sources[1][0])}
    truth = [(r["shop_a_sku"], r["shop_b_listing_id"]) for r in _read_csv(catalog.truth_path)]
    return {"catalog": catalog, "a": a, "b": b, "truth": truth, "seconds": elapsed}


def test_files_columns_and_mappings(demo):
    cat = demo["catalog"]
    (a_data, a_map), (b_data, b_map) = cat.sources
    assert a_data.name == "products.csv" and b_data.name == "products.jsonl"
    with a_data.open(newline="", encoding="utf-8") as f:
        assert tuple(next(csv.reader(f))) == A_COLUMNS
    for line in b_data.read_text(encoding="utf-8").splitlines():
        assert tuple(json.loads(line)) == B_COLUMNS
    ma = tomllib.loads(a_map.read_text(encoding="utf-8"))
    mb = tomllib.loads(b_map.read_text(encoding="utf-8"))
    assert ma["platform"] == "shop_a" and mb["platform"] == "shop_b"
    assert ma["currency"] == "currency" and mb["default_currency"] == "EUR" and "currency" not in mb
    for mapping, columns, path in ((ma, A_COLUMNS, a_map), (mb, B_COLUMNS, b_map)):
        for key in ("id", "title", "price", "brand", "category", "image"):
            assert mapping[key] in columns, key
        assert all(c in columns for c in mapping["description"])
        assert (path.parent / mapping["image_dir"]).is_dir()
    assert set(ma) - {"currency"} == set(mb) - {"default_currency"}
    im = tomllib.loads(cat.interactions_mapping_path.read_text(encoding="utf-8"))
    assert im == {"namespace": "shop_a", "user": "user", "item": "item", "kind": "kind",
                  "timestamp": "timestamp"}
    assert cat.interactions_namespace == "shop_a"
    assert (cat.root / MARKER).exists()


def test_counts_and_overlap(demo):
    c, a, b = demo["catalog"].counts, demo["a"], demo["b"]
    assert c["products"] == 240 and c["overlap"] == 144 == len(demo["truth"])
    assert c["overlap"] / c["products"] == pytest.approx(0.6)
    # 144 shared + 48 unique each, + 3 each kept with an unreadable or negative price
    assert c["shop_a_products"] == c["shop_b_products"] == 195 and c["price_unreadable"] == 6
    assert c["shop_a_rows"] == len(a) == 197 and c["shop_b_rows"] == len(b) == 197
    assert c["bad_rows"] == c["bad_rows_shop_a"] + c["bad_rows_shop_b"] == 4   # missing titles
    assert 0.02 <= (c["bad_rows"] + c["price_unreadable"]) / (len(a) + len(b)) <= 0.03
    assert c["price_missing"] == c["image_missing"] == c["image_corrupt"] == 2
    assert c["near_miss_pairs"] > 0 and c["users"] == 60


def test_truth_references_both_sides_once(demo):
    a, b, truth = demo["a"], demo["b"], demo["truth"]
    defects = {(shop, sid): kind for shop, sid, kind in demo["catalog"].defects}
    assert len({s for s, _ in truth}) == len({t for _, t in truth}) == len(truth)
    for sku, lid in truth:
        assert sku in a and lid in b
        assert defects.get(("shop_a", sku)) not in QUARANTINE_KINDS | PRICE_DEFECT_KINDS
        assert defects.get(("shop_b", lid)) not in QUARANTINE_KINDS | PRICE_DEFECT_KINDS


def test_truth_pairs_vary_but_share_the_model_number(demo):
    a, b, truth = demo["a"], demo["b"], demo["truth"]
    literal_model = lowercased = 0
    ratios = []
    for sku, lid in truth:
        ra, rb = a[sku], b[lid]
        assert ra["name"] != rb["title"]
        assert ra["description"] != rb["details"]
        assert ra["category"] != rb["breadcrumbs"]
        model = re.search(r"\b[A-Z]{2}-\d{3}[A-Z]?\b", ra["name"]).group(0)
        assert _alnum(model) in _alnum(rb["title"]), (ra["name"], rb["title"])
        literal_model += model in rb["title"]
        lowercased += rb["title"] == rb["title"].lower()
        ratios.append(rb["price_eur"] / float(ra["price"]))
    assert 0 < literal_model < len(truth)  # model number formats vary ("NV-700X", "NV700X", "nv-700x")
    assert lowercased > 0
    # EUR price = USD price * 0.92 * (-8%..+12%), then rounded to a shop price
    assert 0.78 <= min(ratios) < 0.9 and 0.98 < max(ratios) <= 1.09
    assert {r["currency"] for r in a.values()} == {"USD"}
    # category trees differ in separator and depth
    assert all(" > " in r["category"] for r in a.values())
    assert all(" / " in r["breadcrumbs"] and ">" not in r["breadcrumbs"] for r in b.values())
    depth = {(a[s]["category"].count(">"), b[t]["breadcrumbs"].count("/")) for s, t in truth}
    assert any(x != y for x, y in depth)


def test_near_misses_are_same_line_other_products(demo):
    a, b, truth = demo["a"], demo["b"], set(demo["truth"])
    rows = _read_csv(demo["catalog"].near_miss_path)
    assert len(rows) == demo["catalog"].counts["near_miss_pairs"]
    kinds = set()
    for r in rows:
        pair = (r["shop_a_sku"], r["shop_b_listing_id"])
        assert pair not in truth
        ra, rb = a[pair[0]], b[pair[1]]
        assert ra["brand"].lower() == rb["manufacturer"].lower()
        assert ra["category"] and rb["breadcrumbs"]
        kinds.update(r["differs_in"].split("+"))
    assert kinds == {"model", "colour", "value"}


def test_deliberate_bad_rows(demo):
    a, b, defects = demo["a"], demo["b"], demo["catalog"].defects
    bad = [(shop, sid, kind) for shop, sid, kind in defects if kind in QUARANTINE_KINDS | PRICE_DEFECT_KINDS]
    assert {k for _, _, k in bad} == QUARANTINE_KINDS | PRICE_DEFECT_KINDS
    assert {s for s, _, _ in bad} == {"shop_a", "shop_b"}
    for shop, sid, kind in bad:
        row = a[sid] if shop == "shop_a" else b[sid]
        title = row["name"] if shop == "shop_a" else row["title"]
        price = row["price"] if shop == "shop_a" else row["price_eur"]
        if kind == "missing_title":
            assert not title
        elif kind == "bad_price":
            assert not any(ch.isdigit() for ch in price)
        else:
            assert float(price) < 0
    unpriced = {(shop, sid) for shop, sid, kind in defects if kind == "price_missing"}
    for shop, sid in unpriced:
        assert (a[sid]["price"] if shop == "shop_a" else b[sid]["price_eur"]).lower() == "n/a"
    assert len(unpriced) == 2
    spoiled = {sid for _, sid, _ in bad} | {sid for _, sid in unpriced}
    assert all(float(r["price"]) > 0 for sid, r in a.items() if sid not in spoiled)
    assert all(r["price_eur"] > 0 for sid, r in b.items() if sid not in spoiled)


def test_ingest_validation_quarantines_exactly_the_bad_rows(demo):
    """Against the ingest package's own mapping loader and validator (skipped while it is absent)."""
    validate = pytest.importorskip("shopgraph.ingest.validate")
    mapping = pytest.importorskip("shopgraph.ingest.mapping")
    from shopgraph.records import QuarantinedRow

    cat = demo["catalog"]
    for (data, mapping_path), shop in zip(cat.sources, ("shop_a", "shop_b")):
        m = mapping.load_mapping(mapping_path)
        assert m.platform == shop
        kept, quarantined = {}, []
        for item in validate.read_products(data, m):
            if isinstance(item, QuarantinedRow):
                quarantined.append(item)
            else:
                kept[item.source_id] = item
        expected = {sid: kind for s, sid, kind in cat.defects if s == shop}
        assert len(quarantined) == cat.counts[f"bad_rows_{shop}"]
        assert len(kept) == cat.counts[f"{shop}_products"]
        assert {sid for sid, k in expected.items() if k in QUARANTINE_KINDS}.isdisjoint(kept)
        assert {sid for sid, r in kept.items() if r.price is None} == {
            sid for sid, k in expected.items() if k == "price_missing" or k in PRICE_DEFECT_KINDS}
        assert {sid for sid, r in kept.items() if any(n == "prices unreadable" for n, _ in r.notes)} == {
            sid for sid, k in expected.items() if k in PRICE_DEFECT_KINDS}
        assert {sid for sid, r in kept.items() if r.image_path is None} == {
            sid for sid, k in expected.items() if k == "image_missing"}
        currencies = {r.currency for r in kept.values() if r.price is not None}
        assert currencies == {"USD" if shop == "shop_a" else "EUR"}
        assert all(2 <= len(r.category_path) <= 4 and r.brand for r in kept.values())


def test_images_decode_except_the_deliberate_ones(demo):
    cat, a, b = demo["catalog"], demo["a"], demo["b"]
    broken = {(shop, sid): kind for shop, sid, kind in cat.defects if kind.startswith("image_")}
    assert sorted(broken.values()) == ["image_corrupt"] * 2 + ["image_missing"] * 2
    seen = {"image_missing": 0, "image_corrupt": 0}
    for shop, rows, column in (("shop_a", a, "image"), ("shop_b", b, "photo")):
        for sid, row in rows.items():
            path = cat.root / shop / "images" / row[column]
            kind = broken.get((shop, sid))
            if kind == "image_missing":
                assert not path.exists()
                seen[kind] += 1
                continue
            assert path.stat().st_size < 20_000
            with Image.open(path) as im:
                if kind == "image_corrupt":
                    with pytest.raises(OSError):
                        im.load()
                    seen[kind] += 1
                else:
                    im.load()
                    assert im.size == (160, 160) and im.format == "JPEG"
    assert seen == {"image_missing": 2, "image_corrupt": 2}


def _colour_histogram(path: Path) -> np.ndarray:
    """Unit 64-bin colour histogram of the non-background pixels: a crude image descriptor."""
    px = np.asarray(Image.open(path).convert("RGB").resize((32, 32)), dtype=np.int32).reshape(-1, 3)
    q = px[px.min(axis=1) < 200] // 64
    h = np.bincount(q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2], minlength=64).astype(float)
    return h / (np.linalg.norm(h) + 1e-9)


def test_the_two_photos_of_a_product_look_alike_but_differ(demo):
    root, truth = demo["catalog"].root, demo["truth"]
    defects = {sid for _, sid, kind in demo["catalog"].defects if kind.startswith("image_")}
    pairs = [(s, t) for s, t in truth if s not in defects and t not in defects]
    pa = [root / "shop_a" / "images" / f"{s}.jpg" for s, _ in pairs]
    pb = [root / "shop_b" / "images" / f"img_{t}.jpg" for _, t in pairs]
    assert all(x.read_bytes() != y.read_bytes() for x, y in zip(pa, pb))
    sims = np.stack([_colour_histogram(p) for p in pb]) @ np.stack([_colour_histogram(p) for p in pa]).T
    rank = (sims > sims.diagonal()[:, None]).sum(axis=1)
    assert (rank < 5).mean() > 0.6  # chance would be about 5 / 144


def test_interactions_follow_a_funnel(demo):
    cat, a = demo["catalog"], demo["a"]
    rows = _read_csv(cat.interactions_path)
    assert len(rows) == cat.counts["interactions"]
    quarantined = {sid for shop, sid, kind in cat.defects if shop == "shop_a" and kind in QUARANTINE_KINDS}
    assert all(r["item"] in a and r["item"] not in quarantined for r in rows)
    kinds = [r["kind"] for r in rows]
    assert kinds.count("view") > kinds.count("cart") > kinds.count("purchase") > 0
    assert {r["user"] for r in rows} == {f"u{i:03d}" for i in range(1, 61)}
    stamps = [int(r["timestamp"]) for r in rows]
    assert stamps == sorted(stamps)
    carted = set()
    for r in rows:
        if r["kind"] == "cart":
            carted.add((r["user"], r["item"]))
        elif r["kind"] == "purchase":
            assert (r["user"], r["item"]) in carted


def test_fast_enough(demo):
    assert demo["seconds"] < 5.0


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_catalog(tmp_path):
    first = generate_demo_catalog(tmp_path / "one", n_products=60, seed=3)
    second = generate_demo_catalog(tmp_path / "two", n_products=60, seed=3)
    other = generate_demo_catalog(tmp_path / "three", n_products=60, seed=4)
    d1, d2 = _digest(first.root), _digest(second.root)
    assert d1 == d2 and len(d1) > 100
    assert first.counts == second.counts and first.defects == second.defects
    assert (first.sources[0][0].read_bytes() != other.sources[0][0].read_bytes())
    assert (first.sources[1][0].read_bytes() != other.sources[1][0].read_bytes())


@pytest.mark.parametrize("overlap", [0.0, 1.0])
def test_extreme_overlaps(tmp_path, overlap):
    cat = generate_demo_catalog(tmp_path / "c", n_products=20, overlap=overlap, n_users=5)
    assert cat.counts["overlap"] == round(20 * overlap) == len(_read_csv(cat.truth_path))
    assert (cat.counts["shop_a_products"] + cat.counts["shop_b_products"]
            == 20 + cat.counts["overlap"] + cat.counts["price_unreadable"])
    assert cat.counts["price_missing"] == cat.counts["image_missing"] == cat.counts["image_corrupt"] == 2


def test_rerun_replaces_an_earlier_demo(tmp_path):
    root = tmp_path / "c"
    generate_demo_catalog(root, n_products=20, seed=1)
    stale = root / "shop_a" / "images" / "stale.jpg"
    stale.write_bytes(b"old")
    again = generate_demo_catalog(root, n_products=20, seed=2)
    assert not stale.exists()
    assert again.counts["products"] == 20


@pytest.mark.parametrize("kwargs, message", [
    ({"n_products": 5}, "n_products"),
    ({"n_products": 10_000}, "n_products"),
    ({"overlap": 1.5}, "overlap"),
    ({"overlap": -0.1}, "overlap"),
    ({"seed": "x"}, "seed"),
    ({"n_users": -1}, "n_users"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(BadArgumentError, match=message):
        generate_demo_catalog(tmp_path / "c", **kwargs)


def test_refuses_a_foreign_non_empty_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BadArgumentError, match="not empty"):
        generate_demo_catalog(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(BadArgumentError, match="not a directory"):
        generate_demo_catalog(tmp_path / "file")


def test_ingest_reads_every_interaction(demo):
    """Against the ingest package's interaction reader (skipped while it is absent)."""
    interactions = pytest.importorskip("shopgraph.ingest.interactions")
    from shopgraph.records import InteractionRecord

    cat = demo["catalog"]
    fields = tomllib.loads(cat.interactions_mapping_path.read_text(encoding="utf-8"))
    mapping = interactions.InteractionMapping(**fields)
    records = list(interactions.read_interactions(cat.interactions_path, mapping))
    assert len(records) == cat.counts["interactions"]
    assert all(isinstance(r, InteractionRecord) for r in records)
    assert {r.product_id.split(":", 1)[0] for r in records} == {"shop_a"}
    assert {r.product_id.split(":", 1)[1] for r in records} <= set(demo["a"])
    assert {r.kind for r in records} == {"view", "cart", "purchase"}
