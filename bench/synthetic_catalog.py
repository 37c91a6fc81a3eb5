"""A synthetic two-shop catalog with known matches, for matching at scale (bench.match_scale).

Not a benchmark itself. Each product "entity" has a made-up brand, a product line, a model number,
a category with its attributes and a price; the two shops list overlapping sets of entities with
their own habits (word order, case, abbreviations, model numbers written with or without dashes,
marketing noise, dropped attributes, prices a few percent apart). Every entity has siblings in the
same line that differ only in a digit of the model number or one attribute, so a matcher must read
identifiers, not just overall similarity: the hard case real catalogs (WDC computers) are full of.

Everything is drawn from one seeded generator, so a (products, seed) pair always gives the same
files and the same truth.
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SYLLABLES = ("ka", "lo", "ver", "tan", "mi", "zo", "rex", "vo", "lu", "nor", "dak", "fi", "sen", "tor", "qua",
             "bel", "ix", "ora", "pel", "gri", "sul", "hep", "cor", "vin", "ald", "mu", "tek", "sa", "ron", "est")
CATEGORIES = {
    # category path -> attribute slots: (name, values) drawn per entity
    "Computers > Hard Drives": (("capacity", ("500GB", "1TB", "2TB", "4TB", "8TB")),
                                ("rpm", ("5400 RPM", "7200 RPM")), ("cache", ("64MB Cache", "256MB Cache"))),
    "Computers > Laptops": (("screen", ('13.3"', '14"', '15.6"', '17.3"')), ("ram", ("8GB RAM", "16GB RAM", "32GB RAM")),
                            ("storage", ("256GB SSD", "512GB SSD", "1TB SSD"))),
    "Computers > Monitors": (("screen", ('24"', '27"', '32"')), ("resolution", ("1080p", "1440p", "4K UHD")),
                             ("refresh", ("60Hz", "144Hz", "165Hz"))),
    "Audio > Headphones": (("kind", ("Over-Ear", "On-Ear", "In-Ear")), ("link", ("Wireless", "Wired")),
                           ("color", ("Black", "White", "Silver", "Blue"))),
    "Audio > Speakers": (("power", ("20W", "40W", "100W")), ("link", ("Bluetooth", "Wi-Fi")),
                         ("color", ("Black", "Grey", "Red"))),
    "Cameras > Digital Cameras": (("sensor", ("20MP", "24MP", "45MP")), ("zoom", ("3x Zoom", "10x Zoom", "30x Zoom")),
                                  ("color", ("Black", "Silver"))),
    "Home > Kitchen Appliances": (("power", ("600W", "1000W", "1500W")), ("volume", ("1.5 L", "2 L", "3 L")),
                                  ("color", ("Stainless Steel", "Black", "White"))),
    "Phones > Smartphones": (("storage", ("64GB", "128GB", "256GB", "512GB")), ("screen", ('6.1"', '6.7"')),
                             ("color", ("Black", "Blue", "Green", "Gold"))),
}
NOUNS = {"Computers > Hard Drives": "Internal Hard Drive", "Computers > Laptops": "Laptop",
         "Computers > Monitors": "Monitor", "Audio > Headphones": "Headphones", "Audio > Speakers": "Speaker",
         "Cameras > Digital Cameras": "Digital Camera", "Home > Kitchen Appliances": "Blender",
         "Phones > Smartphones": "Smartphone"}
SHOP_B_NOISE = ("New", "Brand New", "Free Shipping", "Genuine", "Fast Delivery", "OEM", "Retail Box", "Best Price")
ABBREVIATIONS = {"Internal Hard Drive": "HDD", "Headphones": "Headset", "Digital Camera": "Camera",
                 "Wireless": "BT", "Stainless Steel": "SS", "Smartphone": "Phone", "Monitor": "Display"}


@dataclass(frozen=True)
class Entity:
    """One real-world product: what both shops' listings of it describe."""

    key: int
    brand: str
    line: str
    model: str
    category: str
    attributes: tuple[str, ...]
    price: float


def _word(rng: np.random.Generator, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES, size=parts)).capitalize()


def make_entities(n: int, rng: np.random.Generator) -> list[Entity]:
    """n entities in families of 2-4 siblings (same brand, line and category; model numbers one digit
    or one letter apart; one attribute may differ)."""
    brands = sorted({_word(rng, 2) for _ in range(max(20, n // 40))})
    categories = sorted(CATEGORIES)
    entities: list[Entity] = []
    while len(entities) < n:
        brand, category = str(rng.choice(brands)), str(rng.choice(categories))
        line = _word(rng, int(rng.integers(1, 3)))
        prefix = "".join(chr(65 + int(c)) for c in rng.integers(0, 26, size=int(rng.integers(1, 3))))
        number = int(rng.integers(100, 9999))
        suffix = "".join(chr(65 + int(c)) for c in rng.integers(0, 26, size=int(rng.integers(0, 3))))
        base = [str(rng.choice(values)) for _, values in CATEGORIES[category]]
        price = float(np.round(np.exp(rng.uniform(np.log(15), np.log(2500))), 2))
        for sibling in range(int(rng.integers(2, 5))):
            attributes = list(base)
            if sibling:
                slot = int(rng.integers(len(attributes)))
                attributes[slot] = str(rng.choice(CATEGORIES[category][slot][1]))
            model = f"{prefix}{number + sibling * int(rng.choice((1, 10, 100)))}{suffix}"
            entities.append(Entity(len(entities), brand, line, model, category, tuple(attributes),
                                   round(price * (1 + 0.15 * sibling), 2)))
    return entities[:n]


def _dash(model: str, rng: np.random.Generator) -> str:
    """Shops write model numbers differently: "AB1234X", "AB-1234X", "ab1234x"."""
    cut = next((i for i, c in enumerate(model) if c.isdigit()), 0)
    form = rng.integers(3)
    return model if form == 0 else f"{model[:cut]}-{model[cut:]}" if form == 1 else model.lower()


def title_a(e: Entity, rng: np.random.Generator) -> str:
    """Shop A: tidy, brand first, full attribute list."""
    return f"{e.brand} {e.line} {NOUNS[e.category]} {e.model} {' '.join(e.attributes)}"


def title_b(e: Entity, rng: np.random.Generator) -> str:
    """Shop B: shuffled attributes, some dropped or abbreviated, model written its own way, noise."""
    attributes = [ABBREVIATIONS.get(a, a) if rng.random() < 0.4 else a for a in e.attributes]
    keep = [a for a in attributes if rng.random() > 0.25] or attributes[:1]
    rng.shuffle(keep)
    noun = NOUNS[e.category]
    noun = ABBREVIATIONS.get(noun, noun) if rng.random() < 0.4 else noun
    words = [e.brand.upper() if rng.random() < 0.3 else e.brand, e.line, _dash(e.model, rng), noun, *keep]
    if rng.random() < 0.2:  # some listings leave the line name out
        words.remove(e.line)
    if rng.random() < 0.5:
        words.append(str(rng.choice(SHOP_B_NOISE)))
    return " ".join(words)


def description(e: Entity, rng: np.random.Generator) -> str:
    return f"{NOUNS[e.category]} from {e.brand}. " + ", ".join(e.attributes) + "."


def _seeded(text: str, size: int = 32) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(text.encode())).normal(size=size)


def entity_latent(e: Entity) -> np.ndarray:
    """A product's 32-d latent: what its family shares (brand, category, line) plus its own part."""
    return (_seeded(e.brand) + _seeded(e.category) + 0.8 * _seeded(f"{e.brand} {e.line}")
            + 0.5 * _seeded(f"product {e.key}"))


def stand_in_vectors(entities: list[Entity], seed: int, noise: np.random.Generator, dim: int = 384) -> np.ndarray:
    """Stand-in text vectors, (len(entities), dim) float32 unit rows: NOT a text model's. They have the
    low intrinsic dimension of sentence embeddings: a 32-d latent (brand + category + line + the
    product itself, seeded by name) mapped to dim by a fixed random projection (seeded by seed + 1),
    plus listing noise drawn from `noise`. Siblings are near each other, as MiniLM puts them."""
    projection = np.random.default_rng(seed + 1).normal(size=(32, dim)) / np.sqrt(32)
    latent = np.stack([entity_latent(e) for e in entities])
    vec = (latent @ projection).astype(np.float32) + 0.02 * noise.normal(size=(len(entities), dim)).astype(np.float32)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    return vec


def write_catalog(directory: Path, products: int, seed: int = 7, overlap: float = 0.8,
                  vectors: bool = False) -> dict:
    """Write shop_a.csv, shop_b.csv (products rows each) and truth.csv (id_a,id_b) to directory.

    A share `overlap` of each shop's listings are entities the other shop also lists. Returns
    {"a": path, "b": path, "truth": path, "matches": count}. vectors: also write each shop's
    stand-in text vectors (`stand_in_vectors`, row n = listing <shop><n>) as raw float32 to
    shop_a.f32 and shop_b.f32, returned as "vectors_a" and "vectors_b"; drawn from their own
    generator, so the CSVs and truth are the same with or without them.
    """
    rng = np.random.default_rng(seed)
    shared = int(products * overlap)
    entities = make_entities(2 * products - shared, rng)
    order = rng.permutation(len(entities))
    in_a = set(order[:products].tolist())
    in_b = set(order[products - shared:2 * products - shared].tolist())
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"a": directory / "shop_a.csv", "b": directory / "shop_b.csv", "truth": directory / "truth.csv"}
    header = ["id", "title", "description", "brand", "category", "price"]
    ids: dict[str, dict[int, str]] = {"a": {}, "b": {}}  # shop -> entity key -> listing id
    noise = np.random.default_rng(seed + 2)
    for shop, members, title in (("a", in_a, title_a), ("b", in_b, title_b)):
        listed = sorted(members, key=lambda k: rng.random())
        if vectors:
            paths[f"vectors_{shop}"] = directory / f"shop_{shop}.f32"
            stand_in_vectors([entities[key] for key in listed], seed, noise).tofile(paths[f"vectors_{shop}"])
        with paths[shop].open("w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(header)
            for n, key in enumerate(listed):
                e = entities[key]
                pid = ids[shop][key] = f"{shop}{n:06d}"
                price = e.price if shop == "a" else round(e.price * float(np.exp(rng.normal(0, 0.08))), 2)
                # Shop B leaves the brand column empty for some listings (it is still in the title).
                brand = e.brand if shop == "a" or rng.random() > 0.2 else ""
                out.writerow([pid, title(e, rng), description(e, rng), brand, e.category.replace(" > ", ">>"), price])
    truth = [(ids["a"][key], ids["b"][key]) for key in sorted(in_a & in_b)]
    with paths["truth"].open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["id_a", "id_b"])
        out.writerows(truth)
    return {**paths, "matches": len(truth)}
