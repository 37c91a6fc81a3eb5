"""Demo catalog: two fictional shops listing overlapping products, with ground truth.

`generate_demo_catalog(out_dir)` writes, from one `random.Random(seed)` (same seed, same bytes):

    shop_a/products.csv        sku,name,description,price,currency,brand,category,image
                               (USD; category "Electronics > Audio > Headphones")
    shop_a/images/<sku>.jpg    160x160 JPEG drawings (see shopgraph.demo.images)
    shop_a/mapping.toml        column mapping read by the ingest package's load_mapping
    shop_b/products.jsonl      listing_id,title,details,highlights,price_eur,manufacturer,breadcrumbs,
                               photo,in_stock (EUR as plain numbers; breadcrumbs "Audio & Video / Headphones")
    shop_b/images/img_<listing_id>.jpg, shop_b/mapping.toml
    interactions.csv           user,item,kind,timestamp: shop_a users' view -> cart -> purchase funnel
    interactions_mapping.toml  InteractionMapping (namespace "shop_a")
    truth.csv                  shop_a_sku,shop_b_listing_id: the same product on both shops (SAME_AS)
    near_misses.csv            shop_a_sku,shop_b_listing_id,differs_in: same brand and line, another
                               colour / capacity / model number (hard negatives for matching)

Brands and models are invented. About 2.5% of each shop's rows are bad on purpose: a missing title
(quarantined by ingest), a negative price or an unreadable one such as "call for price" (kept without a
price, the raw text an attribute, counted as "prices unreadable"); besides, one listing per shop has an
"n/a" price (kept without a price), one a missing and one a truncated image file (kept, flagged
image_missing).
"""

from __future__ import annotations

import csv
import json
import logging
import numbers
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from shopgraph.demo import images
from shopgraph.demo.universe import (COLOURS, MARKETING, PERSONAS, Product, attr_sentence, attr_text,
                                     differs_in, make_universe)
from shopgraph.errors import BadArgumentError, BadFileError

log = logging.getLogger(__name__)

USD_TO_EUR = 0.92
MARKER = ".shopgraph-demo"  # marks a directory this module may clear and rewrite
_CLOCK_START = 1_717_200_000  # 2024-06-01 UTC: interaction timestamps start here
# rows ingest quarantines, cycled through per shop; and defects of rows that ingest keeps
_BAD_KINDS = MappingProxyType({"shop_a": ("negative_price", "missing_title", "bad_price"),
                               "shop_b": ("missing_title", "bad_price", "negative_price")})
QUARANTINE_KINDS = frozenset({"missing_title"})
PRICE_DEFECT_KINDS = frozenset(_BAD_KINDS["shop_a"]) - QUARANTINE_KINDS  # kept, counted as prices unreadable
KEPT_DEFECT_KINDS = ("price_missing", "image_missing", "image_corrupt")
_OUTPUTS = ("shop_a", "shop_b", "interactions.csv", "interactions_mapping.toml", "truth.csv",
            "near_misses.csv")
_ATTR_LABELS = MappingProxyType({
    "battery": "Battery", "storage": "Storage", "ssd": "Storage", "shoe": "Size", "volume_l": "Volume",
    "ml": "Capacity", "litre": "Capacity", "case": "Case size", "lens": "Lens", "watt": "Power",
    "size": "Size"})
_TITLES_A = ("{brand} {line} {model} {noun}, {attr}, {colour}",
             "{brand} {line} {noun} {model} - {colour}, {attr}",
             "{brand} {model} {line} {noun} ({attr}, {colour})")
_TITLES_B = ("{noun} {brand} {line} {model} {attr} {colour}",
             "{mk} {brand} {line} {model} – {noun} – {attr}, {colour}",
             "{line} {model} {noun} by {brand} | {colour} | {attr}",
             "{brand} {line} {model} {noun} ({colour}, {attr}) {mk}",
             "{line} {model} {noun}, {attr}, {colour} - {brand}")
A_COLUMNS = ("sku", "name", "description", "price", "currency", "brand", "category", "image")
B_COLUMNS = ("listing_id", "title", "details", "highlights", "price_eur", "manufacturer", "breadcrumbs",
             "photo", "in_stock")
MAPPING_A = MappingProxyType({
    "platform": "shop_a", "id": "sku", "title": "name", "description": ("description",), "price": "price",
    "currency": "currency", "brand": "brand", "category": "category", "category_separator": ">",
    "image": "image", "image_dir": "images"})
MAPPING_B = MappingProxyType({
    "platform": "shop_b", "id": "listing_id", "title": "title", "description": ("details", "highlights"),
    "price": "price_eur", "default_currency": "EUR", "brand": "manufacturer", "category": "breadcrumbs",
    "category_separator": "/", "image": "photo", "image_dir": "images"})
INTERACTION_MAPPING = MappingProxyType({
    "namespace": "shop_a", "user": "user", "item": "item", "kind": "kind", "timestamp": "timestamp"})


@dataclass(frozen=True)
class DemoCatalog:
    """What generate_demo_catalog wrote.

    sources: (data file, mapping file) per platform, shop_a first; counts: products, overlap (products
    on both shops), shop_a_products / shop_b_products (rows ingest keeps), shop_a_rows / shop_b_rows
    (all rows), bad_rows (rows ingest quarantines, + per shop), price_unreadable (kept rows whose price
    is negative or unreadable), price_missing, image_missing, image_corrupt (kept rows with a defect),
    near_miss_pairs, users, interactions; defects: (platform, source id, kind) of every deliberate
    defect, kind one of QUARANTINE_KINDS (missing_title), PRICE_DEFECT_KINDS (negative_price,
    bad_price: kept without a price, on products no other shop lists) or KEPT_DEFECT_KINDS
    (price_missing: "n/a" price, kept with price None; image_missing: file absent; image_corrupt:
    truncated JPEG).
    """

    root: Path
    sources: list[tuple[Path, Path]]
    interactions_path: Path
    interactions_mapping_path: Path
    interactions_namespace: str
    truth_path: Path
    near_miss_path: Path
    counts: dict[str, int]
    defects: list[tuple[str, str, str]]


def _typo(phrase: str, rng: random.Random) -> str:
    """Swap, drop or double one inner letter of the phrase's longest word ("Headpohnes")."""
    words = phrase.split(" ")
    i = max(range(len(words)), key=lambda k: len(words[k]))
    w = words[i]
    if len(w) < 5:
        return phrase
    j = rng.randrange(1, len(w) - 2)
    words[i] = rng.choice([w[:j] + w[j + 1] + w[j] + w[j + 2:], w[:j] + w[j + 1:], w[:j] + w[j] + w[j:]])
    return " ".join(words)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _listing_a(p: Product, sku: str, rng: random.Random) -> dict[str, str]:
    """shop_a's row: compact units, plain colour names, USD list price."""
    cat = p.category
    noun = rng.choice(cat.nouns_a)
    noun = _typo(noun, rng) if rng.random() < 0.05 else noun
    colour = p.colour if rng.random() < 0.85 else rng.choice(COLOURS[p.colour][1])
    brand = p.brand.upper() if rng.random() < 0.1 else p.brand
    title = rng.choice(_TITLES_A).format(brand=brand, line=p.line, model=p.model, noun=noun, colour=colour,
                                         attr=attr_text(cat.attr, p.value, "a", rng))
    f = p.features
    if rng.random() < 0.5:
        desc = (f"The {p.brand} {p.line} {noun.lower()} in {colour.lower()}. {_cap(f[0])}, {f[1]} and "
                f"{f[2]}. {attr_sentence(cat.attr, p.value)}")
    else:
        desc = f"{attr_sentence(cat.attr, p.value)} Highlights: {f[0]}, {f[1]}, {f[2]}. Model {p.model}."
    return {"sku": sku, "name": title, "description": desc, "price": f"{p.price_usd:.2f}",
            "currency": "USD", "brand": p.brand, "category": cat.path_a, "image": f"{sku}.jpg"}


def _listing_b(p: Product, listing_id: str, rng: random.Random) -> dict[str, object]:
    """shop_b's row: other words and units, marketing names, EUR price -8%..+12% off shop_a's."""
    cat = p.category
    noun = rng.choice(cat.nouns_b)
    noun = _typo(noun, rng) if rng.random() < 0.08 else noun
    r = rng.random()
    colour = (rng.choice(COLOURS[p.colour][1]) if r < 0.6
              else "Gray" if p.colour == "Grey" and r < 0.8 else p.colour)
    r = rng.random()
    model = p.model.replace("-", "") if r < 0.25 else p.model.lower() if r < 0.4 else p.model
    brand = p.brand.upper() if rng.random() < 0.2 else p.brand
    short = attr_text(cat.attr, p.value, "b", rng)
    title = rng.choice(_TITLES_B).format(brand=brand, line=p.line, model=model, noun=noun, colour=colour,
                                         attr=short, mk=rng.choice(MARKETING))
    title = title.lower() if rng.random() < 0.05 else title
    f = list(p.features)
    if rng.random() < 0.5:
        details = f"{_cap(f[1])}. {_cap(f[0])}. Colour: {colour}. {_ATTR_LABELS[cat.attr]}: {short}."
    else:
        details = f"{p.brand} {p.line} {p.model}: {f[0]}, {f[2]}. {attr_sentence(cat.attr, p.value)}"
    rng.shuffle(f)
    highlights = " • ".join(f) if rng.random() < 0.7 else ""
    whole = max(1, round(p.price_usd * rng.uniform(0.92, 1.12) * USD_TO_EUR))
    price = round(whole - rng.choice([0.01, 0.05, 0.0]), 2)
    return {"listing_id": listing_id, "title": title, "details": details, "highlights": highlights,
            "price_eur": price, "manufacturer": brand, "breadcrumbs": cat.path_b,
            "photo": f"img_{listing_id}.jpg", "in_stock": rng.random() < 0.9}


def _spoil(row: dict, kind: str, shop: str) -> None:
    """Give a row a deliberate defect (in place): kind one of QUARANTINE_KINDS, PRICE_DEFECT_KINDS or
    "price_missing"."""
    title, price = ("name", "price") if shop == "shop_a" else ("title", "price_eur")
    if kind == "missing_title":
        row[title] = "" if shop == "shop_a" else None
    elif kind == "bad_price":
        row[price] = "call for price" if shop == "shop_a" else "Price on request"
    elif kind == "price_missing":
        row[price] = "n/a" if shop == "shop_a" else "N/A"
    else:
        row[price] = f"-{row[price]}" if shop == "shop_a" else -row[price]


def _views(rng: random.Random) -> tuple[images.View, images.View, bool]:
    """shop_a's studio shot, shop_b's tinted, smaller, tilted, shifted, more compressed one, and
    whether shop_b shows the mirrored side."""
    a = images.View(background=rng.choice([(250, 250, 250), (255, 255, 255), (243, 243, 245)]))
    b = images.View(background=tuple(rng.randint(212, 246) for _ in range(3)),  # type: ignore[arg-type]
                    scale=rng.uniform(0.78, 0.95), angle=rng.uniform(-12, 12),
                    offset=(rng.randint(-10, 10), rng.randint(-10, 10)), quality=rng.randint(62, 85))
    return a, b, rng.random() < 0.25


def _interactions(items: list[tuple[str, Product]], n_users: int,
                  rng: random.Random) -> list[tuple[str, str, str, int]]:
    """(user, sku, kind, unix seconds): sessions of 3-8 views mostly in a persona's categories, about
    30% of viewed items carted, half of the carted ones bought at the end of the session."""
    by_cat: dict[str, list[str]] = {}
    for sku, p in items:
        by_cat.setdefault(p.category.key, []).append(sku)
    everything = [sku for sku, _ in items]
    events = []
    for u in range(1, n_users + 1):
        user = f"u{u:03d}"
        pool = [sku for c in rng.choice(PERSONAS) for sku in by_cat.get(c, [])] or everything
        t = _CLOCK_START + rng.randrange(30 * 86400)
        for _ in range(rng.randint(1, 4)):
            viewed = []
            for _ in range(rng.randint(3, 8)):
                t += rng.randint(15, 240)
                viewed.append(rng.choice(pool if rng.random() < 0.8 else everything))
                events.append((user, viewed[-1], "view", t))
            carted = [sku for sku in dict.fromkeys(viewed) if rng.random() < 0.3]
            for sku in carted:
                t += rng.randint(30, 600)
                events.append((user, sku, "cart", t))
            for sku in carted:
                if rng.random() < 0.5:
                    t += rng.randint(60, 900)
                    events.append((user, sku, "purchase", t))
            t += rng.randint(3600, 10 * 86400)
    return sorted(events, key=lambda e: (e[3], e[0]))


def _toml(values: Mapping[str, str | tuple[str, ...]], comment: str) -> str:
    """A flat TOML document (strings, arrays of strings) with a leading comment line."""
    def value(v):
        return "[" + ", ".join(json.dumps(x) for x in v) + "]" if isinstance(v, tuple) else json.dumps(v)
    return f"# {comment}\n" + "".join(f"{k} = {value(v)}\n" for k, v in values.items())


def _write_csv(path: Path, header: tuple[str, ...] | list[str], rows: list) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _prepare(out_dir: Path) -> None:
    """Create out_dir, or clear the demo files of an earlier run; refuse any other non-empty dir."""
    if out_dir.exists() and not out_dir.is_dir():
        raise BadArgumentError(f"demo output {out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / MARKER).exists():
            raise BadArgumentError(f"demo output directory {out_dir} is not empty; choose a new or empty one")
        for name in _OUTPUTS:
            path = out_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text("demo catalog written by shopgraph; the demo may clear this directory\n",
                                  encoding="utf-8")


def _make_listings(universe: list[Product], on: dict[str, list[int]], bad: dict[str, list[int]],
                   shared: set[int], rng: random.Random
                   ) -> tuple[dict[str, list[tuple[int, str, dict]]], list[tuple[str, str, str]]]:
    """Each shop's rows as (product index, source id, row) in file order, and the deliberate defects
    as (platform, source id, kind). Products in `bad` become spoiled rows."""
    n_rows = {shop: len(on[shop]) + len(bad[shop]) for shop in on}
    ids = {"shop_a": [f"A-{x}" for x in rng.sample(range(100_000, 1_000_000), n_rows["shop_a"])],
           "shop_b": [f"L{x}" for x in rng.sample(range(10_000_000, 100_000_000), n_rows["shop_b"])]}
    listings: dict[str, list[tuple[int, str, dict]]] = {}
    defects: list[tuple[str, str, str]] = []
    for shop, make in (("shop_a", _listing_a), ("shop_b", _listing_b)):
        rows = [(i, sid, make(universe[i], sid, rng)) for i, sid in zip(on[shop] + bad[shop], ids[shop])]
        for k, (_, sid, row) in enumerate(rows[len(on[shop]):]):
            kind = _BAD_KINDS[shop][k % 3]
            _spoil(row, kind, shop)
            defects.append((shop, sid, kind))
        # kept defects go to products only this shop lists, so truth pairs keep their price and photos
        valid = rows[:len(on[shop])]
        only = [r for r in valid if r[0] not in shared]
        candidates = only if len(only) >= len(KEPT_DEFECT_KINDS) else valid
        for kind, (_, sid, row) in zip(KEPT_DEFECT_KINDS, rng.sample(candidates, len(KEPT_DEFECT_KINDS))):
            if kind == "price_missing":
                _spoil(row, kind, shop)
            defects.append((shop, sid, kind))
        rng.shuffle(rows)
        listings[shop] = rows
    return listings, defects


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _check_args(n_products, overlap, seed, n_users) -> None:
    if not _is_int(n_products) or not 20 <= n_products <= 5000:
        raise BadArgumentError(f"n_products must be an integer from 20 to 5000, got {n_products!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, numbers.Real) or not 0.0 <= overlap <= 1.0:
        raise BadArgumentError(f"overlap must be a fraction from 0 to 1, got {overlap!r}")
    if not _is_int(seed):
        raise BadArgumentError(f"seed must be an integer, got {seed!r}")
    if not _is_int(n_users) or n_users < 0:
        raise BadArgumentError(f"n_users must be a non-negative integer, got {n_users!r}")


def generate_demo_catalog(out_dir: Path, n_products: int = 240, overlap: float = 0.6, seed: int = 0,
                          n_users: int = 60) -> DemoCatalog:
    """Write the two-shop demo catalog into out_dir (see the module docstring for the files).

    n_products: distinct real products (20..5000); overlap: the fraction of them listed on both shops
    (the rest is split between shop_a-only and shop_b-only); each shop also gets about 2.5% extra bad
    rows. Raises BadArgumentError for bad arguments or a non-empty out_dir that holds no earlier demo,
    BadFileError when out_dir cannot be written.
    """
    _check_args(n_products, overlap, seed, n_users)
    out_dir = Path(out_dir)
    rng = random.Random(seed)
    shared = round(overlap * n_products)
    a_only = (n_products - shared + 1) // 2
    n_bad = {shop: max(1, round(0.025 * (shared + only)))
             for shop, only in (("shop_a", a_only), ("shop_b", n_products - shared - a_only))}
    universe = make_universe(n_products + sum(n_bad.values()), rng)
    order = list(range(n_products))
    rng.shuffle(order)
    on = {"shop_a": order[:shared + a_only], "shop_b": order[:shared] + order[shared + a_only:]}
    bad = {"shop_a": list(range(n_products, n_products + n_bad["shop_a"])),
           "shop_b": list(range(n_products + n_bad["shop_a"], len(universe)))}
    listings, defects = _make_listings(universe, on, bad, set(order[:shared]), rng)

    a_index = {i: sid for i, sid, _ in listings["shop_a"]}
    b_index = {i: sid for i, sid, _ in listings["shop_b"]}
    truth = sorted((a_index[i], b_index[i]) for i in order[:shared])
    families: dict[int, list[int]] = {}
    for i in range(n_products):
        families.setdefault(universe[i].family, []).append(i)
    near = sorted((a_index[i], b_index[j], differs_in(universe[i], universe[j]))
                  for members in families.values() for i in members for j in members
                  if i != j and i in a_index and j in b_index)
    valid_a = [(sid, universe[i]) for i, sid, _ in listings["shop_a"] if i < n_products]
    events = _interactions(sorted(valid_a, key=lambda x: x[0]), n_users, rng)

    try:
        _prepare(out_dir)
        _write_shops(out_dir, universe, listings, defects, rng)
        _write_csv(out_dir / "truth.csv", ("shop_a_sku", "shop_b_listing_id"), truth)
        _write_csv(out_dir / "near_misses.csv", ("shop_a_sku", "shop_b_listing_id", "differs_in"), near)
        _write_csv(out_dir / "interactions.csv", ("user", "item", "kind", "timestamp"), events)
        (out_dir / "interactions_mapping.toml").write_text(
            _toml(INTERACTION_MAPPING, "interaction mapping of the shopgraph demo"), encoding="utf-8")
    except OSError as e:
        raise BadFileError(f"cannot write the demo catalog to {out_dir}: {e.strerror or e}") from None

    bad_count = {shop: sum(1 for s, _, k in defects if s == shop and k in QUARANTINE_KINDS) for shop in on}
    unpriced = {shop: sum(1 for s, _, k in defects if s == shop and k in PRICE_DEFECT_KINDS) for shop in on}
    counts = {"products": n_products, "overlap": len(truth),
              "shop_a_products": len(on["shop_a"]) + unpriced["shop_a"],
              "shop_b_products": len(on["shop_b"]) + unpriced["shop_b"],
              "price_unreadable": sum(unpriced.values()),
              "shop_a_rows": len(listings["shop_a"]), "shop_b_rows": len(listings["shop_b"]),
              "bad_rows": sum(bad_count.values()), "bad_rows_shop_a": bad_count["shop_a"],
              "bad_rows_shop_b": bad_count["shop_b"],
              **{kind: sum(1 for d in defects if d[2] == kind) for kind in KEPT_DEFECT_KINDS},
              "near_miss_pairs": len(near), "users": n_users, "interactions": len(events)}
    log.info("demo catalog in %s: %s", out_dir, counts)
    return DemoCatalog(
        root=out_dir,
        sources=[(out_dir / "shop_a" / "products.csv", out_dir / "shop_a" / "mapping.toml"),
                 (out_dir / "shop_b" / "products.jsonl", out_dir / "shop_b" / "mapping.toml")],
        interactions_path=out_dir / "interactions.csv",
        interactions_mapping_path=out_dir / "interactions_mapping.toml",
        interactions_namespace=INTERACTION_MAPPING["namespace"], truth_path=out_dir / "truth.csv",
        near_miss_path=out_dir / "near_misses.csv", counts=counts, defects=defects)


def _write_shops(out_dir: Path, universe: list[Product], listings: dict[str, list[tuple[int, str, dict]]],
                 defects: list[tuple[str, str, str]], rng: random.Random) -> None:
    """Both shops' data file, mapping and images. Images are drawn once per product and photographed
    by each shop that lists it."""
    for shop, mapping in (("shop_a", MAPPING_A), ("shop_b", MAPPING_B)):
        (out_dir / shop / "images").mkdir(parents=True, exist_ok=True)
        (out_dir / shop / "mapping.toml").write_text(
            _toml(mapping, f"column mapping of the shopgraph demo's {shop}"), encoding="utf-8")
    _write_csv(out_dir / "shop_a" / "products.csv", A_COLUMNS,
               [[row[c] for c in A_COLUMNS] for _, _, row in listings["shop_a"]])
    with (out_dir / "shop_b" / "products.jsonl").open("w", encoding="utf-8", newline="\n") as f:
        for _, _, row in listings["shop_b"]:
            f.write(json.dumps({c: row[c] for c in B_COLUMNS}, ensure_ascii=False) + "\n")

    broken = {(shop, sid): kind for shop, sid, kind in defects if kind.startswith("image_")}
    photos: dict[int, dict[str, str]] = {}
    for shop, column in (("shop_a", "image"), ("shop_b", "photo")):
        for i, sid, row in sorted(listings[shop], key=lambda x: x[0]):
            photos.setdefault(i, {})[shop] = row[column]
            photos[i][shop + "_id"] = sid
    for i in sorted(photos):
        p = universe[i]
        rgb = COLOURS[p.colour][0]
        layer = images.draw_product(p.category.key, rgb, p.accent, p.detail, p.brand.upper())
        view_a, view_b, mirror = _views(rng)
        for shop, view in (("shop_a", view_a), ("shop_b", view_b)):
            if shop not in photos[i]:
                continue
            kind = broken.get((shop, photos[i][shop + "_id"]))
            if kind == "image_missing":
                continue
            shot = layer if shop == "shop_a" or not mirror else images.draw_product(
                p.category.key, rgb, p.accent, p.detail, p.brand.upper(), mirror=True)
            data = images.render_jpeg(shot, view)
            if kind == "image_corrupt":
                data = data[: len(data) // 3]  # a download cut short: header intact, scan data truncated
            (out_dir / shop / "images" / photos[i][shop]).write_bytes(data)
