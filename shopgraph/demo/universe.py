"""The demo's product universe: categories, invented brands, colours and canonical products.

A canonical `Product` is what exists in the world; shops list it with their own wording (see
shopgraph.demo.catalog). Every brand name and model number here is fictional.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from types import MappingProxyType

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Category:
    """One product category as both shops see it.

    path_a / path_b: the category path on shop_a (" > ") and shop_b (" / "), deliberately different
    in naming and depth; attr: the attribute kind that tells variants apart (formatted by attr_text),
    values: its values; price: USD range of the cheapest variant.
    """

    key: str
    path_a: str
    path_b: str
    nouns_a: tuple[str, ...]
    nouns_b: tuple[str, ...]
    lines: tuple[str, ...]
    colours: tuple[str, ...]
    attr: str
    values: tuple
    price: tuple[float, float]
    features: tuple[str, ...]


def _cat(key, path_a, path_b, nouns_a, nouns_b, lines, colours, attr, values, price, features) -> Category:
    """A Category from compact text: nouns and features split on "|", lines and colours on spaces."""
    return Category(key, path_a, path_b, tuple(nouns_a.split("|")), tuple(nouns_b.split("|")),
                    tuple(lines.split()), tuple(colours.split()), attr, tuple(values), price,
                    tuple(features.split("|")))


CATEGORIES: tuple[Category, ...] = (
    _cat("headphones", "Electronics > Audio > Headphones", "Audio & Video / Headphones",
         "Wireless Headphones|Over-Ear Headphones|Bluetooth Headphones",
         "Headphones|Wireless Over-Ear Headset|Noise Cancelling Headphones",
         "Aria Pulse Echo Serene Drift", "Black White Silver Navy Beige Green", "battery",
         (20, 30, 40, 60), (39, 249),
         "active noise cancellation|Bluetooth 5.3 with multipoint pairing|memory-foam ear cushions|"
         "a fold-flat design for travel|USB-C fast charging|a built-in microphone for calls"),
    _cat("smartphone", "Electronics > Phones & Accessories > Smartphones", "Phones / Mobile Phones",
         "Smartphone|5G Smartphone|Unlocked Smartphone", "Mobile Phone|Smartphone|5G Phone Dual SIM",
         "Nova Vista Orbit Edge Lumen", "Black White Blue Green Purple Silver Pink", "storage",
         (64, 128, 256, 512), (179, 899),
         "a 6.5-inch OLED display|a 50 MP main camera|an all-day 5000 mAh battery|dual SIM support|"
         "an IP68 water-resistant body|a 120 Hz refresh rate"),
    _cat("running_shoes", "Clothing & Shoes > Shoes > Athletic > Running Shoes", "Sports / Running / Footwear",
         "Running Shoes|Men's Running Shoes|Road Running Shoe", "Running Shoe|Trainers|Sneakers for Running",
         "Stride Glide Tempo Trail Sprint", "Black White Blue Red Grey Orange Teal", "shoe",
         (39, 40, 41, 42, 43, 44, 45), (59, 169),
         "a breathable mesh upper|responsive foam cushioning|a grippy rubber outsole|"
         "reflective details for night runs|a padded heel collar|an 8 mm heel-to-toe drop"),
    _cat("backpack", "Bags & Luggage > Backpacks", "Travel / Bags / Backpacks",
         "Backpack|Laptop Backpack|Travel Backpack", "Rucksack|Daypack|Backpack",
         "Voyager Commuter Summit Urban Ranger", "Black Grey Navy Green Brown Red Beige", "volume_l",
         (18, 22, 26, 30, 35), (39, 159),
         "a padded 15-inch laptop sleeve|water-repellent recycled fabric|ergonomic shoulder straps|"
         "a hidden anti-theft pocket|side pockets for bottles|a luggage pass-through strap"),
    _cat("mug", "Home & Kitchen > Kitchen & Dining > Drinkware > Coffee Mugs", "Kitchen / Cups & Mugs",
         "Coffee Mug|Ceramic Mug|Stoneware Coffee Cup", "Mug|Coffee Cup|Tea Mug",
         "Classic Barista Morning Terra Nook", "White Black Blue Green Yellow Pink Teal Beige", "ml",
         (250, 350, 450), (9, 29),
         "glazed stoneware|a comfortable wide handle|dishwasher and microwave safe|a stackable shape|"
         "a matte speckled finish|a thick wall that keeps coffee warm"),
    _cat("watch", "Fashion > Accessories > Watches > Wrist Watches", "Jewellery & Watches / Wristwatches",
         "Wrist Watch|Analog Watch|Automatic Watch", "Watch|Wristwatch|Men's Watch",
         "Heritage Chrono Meridian Pilot Tide", "Black Silver Brown Navy Green White", "case",
         (36, 38, 40, 42, 44), (79, 449),
         "a sapphire crystal|water resistance to 100 m|a genuine leather strap|"
         "a Japanese quartz movement|luminous hands|a brushed stainless-steel case"),
    _cat("laptop", "Electronics > Computers > Laptops", "Computers / Notebooks",
         "Laptop|14-inch Laptop|Ultrabook", "Notebook|Laptop Computer|Notebook PC",
         "Aero Forge Slate Quantum Zen", "Silver Grey Black Blue White", "ssd",
         (256, 512, 1024), (499, 1499),
         "16 GB of RAM|a 14-inch 2.8K display|a backlit keyboard|up to 15 hours of battery life|"
         "Wi-Fi 6E|a 1080p webcam with privacy shutter"),
    _cat("desk_lamp", "Home & Kitchen > Lighting > Desk Lamps", "Home / Lighting / Lamps / Table & Desk Lamps",
         "LED Desk Lamp|Desk Lamp|Architect Lamp", "Table Lamp|LED Reading Lamp|Desk Light",
         "Halo Beam Arc Lumo Focus", "Black White Grey Yellow Teal Red", "watt",
         (5, 8, 10, 12), (19, 99),
         "five brightness levels|adjustable colour temperature|a swing arm with a weighted base|"
         "a USB-C charging port|flicker-free light|a touch dimmer"),
    _cat("bottle", "Sports & Outdoors > Outdoor Recreation > Hydration > Water Bottles", "Sports / Bottles & Flasks",
         "Water Bottle|Insulated Water Bottle|Stainless Steel Bottle", "Drinking Bottle|Thermo Flask|Sports Bottle",
         "Flow Hydra Peak Drop Spring", "Black White Blue Green Pink Orange Teal Purple", "ml",
         (500, 750, 1000), (14, 45),
         "double-wall vacuum insulation|a leak-proof lid|BPA-free materials|keeps drinks cold for 24 hours|"
         "a powder-coated grip|a wide mouth for ice cubes"),
    _cat("tshirt", "Clothing & Shoes > Clothing > Men > T-Shirts", "Fashion / Tops / T-Shirts & Tees",
         "T-Shirt|Crew Neck T-Shirt|Cotton Tee", "Tee|T-Shirt|Short Sleeve Shirt",
         "Essential Basic Active Heritage Core", "White Black Grey Navy Red Green Yellow Beige", "size",
         ("S", "M", "L", "XL"), (12, 39),
         "100% organic cotton|a relaxed fit|a ribbed crew neck|pre-shrunk jersey|double-stitched hems|"
         "a soft brushed finish"),
    _cat("sunglasses", "Fashion > Accessories > Sunglasses", "Jewellery & Watches / Eyewear / Sunglasses",
         "Sunglasses|Polarized Sunglasses|Aviator Sunglasses", "Sun Glasses|Shades|Sunglasses UV400",
         "Horizon Coast Vantage Rover Solace", "Black Brown Silver Blue Green Pink", "lens",
         (50, 52, 54, 56), (29, 199),
         "polarized lenses|UV400 protection|lightweight acetate frames|spring hinges|"
         "a scratch-resistant coating|a hard carry case"),
    _cat("kettle", "Home & Kitchen > Kitchen > Small Appliances > Electric Kettles", "Kitchen / Appliances / Kettles",
         "Electric Kettle|Cordless Kettle|Stainless Steel Kettle", "Kettle|Water Boiler|Electric Tea Kettle",
         "Boil Steam Quick Brew Alto", "Silver Black White Red Beige Green", "litre",
         (1000, 1200, 1500, 1700), (24, 99),
         "a 2200 W rapid-boil element|automatic shut-off|a removable limescale filter|"
         "a 360-degree swivel base|a visible water window|keep-warm temperature settings"),
)
CATEGORY_BY_KEY = MappingProxyType({c.key: c for c in CATEGORIES})

# (invented brand, model-number prefix, categories it makes)
BRANDS: tuple[tuple[str, str, tuple[str, ...]], ...] = tuple(
    (name, code, tuple(cats.split())) for name, code, cats in (
        ("Nordvik", "NV", "headphones smartphone laptop"), ("Aurelio", "AU", "watch sunglasses mug"),
        ("Veltrix", "VX", "headphones smartphone laptop"), ("Solenne", "SL", "sunglasses watch tshirt"),
        ("Brakmoor", "BK", "backpack running_shoes bottle"), ("Quillon", "QL", "laptop desk_lamp headphones"),
        ("Taravo", "TR", "running_shoes tshirt bottle"), ("Halvaren", "HV", "kettle mug desk_lamp"),
        ("Lumetta", "LM", "desk_lamp kettle"), ("Orvane", "OV", "smartphone headphones watch"),
        ("Pelloro", "PL", "mug kettle bottle"), ("Zentari", "ZT", "laptop smartphone"),
        ("Marrowin", "MW", "backpack tshirt"), ("Fjeldra", "FJ", "backpack bottle running_shoes"),
        ("Kavrin", "KV", "watch sunglasses"), ("Dunmere", "DM", "mug kettle"),
        ("Ilvento", "IV", "headphones desk_lamp"), ("Corvessa", "CV", "tshirt sunglasses running_shoes"),
        ("Astrelle", "AS", "watch smartphone"), ("Mirovan", "MV", "laptop headphones"),
        ("Vessaro", "VS", "sunglasses backpack"), ("Grenholm", "GH", "bottle backpack mug"),
        ("Oskeby", "OK", "desk_lamp kettle mug"), ("Trevanti", "TV", "running_shoes tshirt"),
        ("Saltric", "SC", "bottle running_shoes"), ("Wendmark", "WM", "watch backpack"),
        ("Elvora", "EV", "headphones smartphone"), ("Rivenko", "RK", "laptop desk_lamp"),
        ("Tessaline", "TS", "tshirt mug"), ("Korvald", "KD", "kettle watch sunglasses"),
    ))

# base colour -> (RGB for drawings, shop_b's marketing names for it)
COLOURS = MappingProxyType({
    "Black": ((24, 24, 27), ("Midnight Black", "Jet Black", "Onyx Black")),
    "White": ((236, 236, 232), ("Arctic White", "Pearl White", "Chalk White")),
    "Silver": ((192, 194, 199), ("Lunar Silver", "Platinum Silver")),
    "Grey": ((112, 116, 122), ("Graphite Grey", "Slate Gray", "Space Gray")),
    "Navy": ((30, 44, 92), ("Navy Blue", "Deep Navy")),
    "Blue": ((44, 110, 200), ("Ocean Blue", "Cobalt Blue", "Sky Blue")),
    "Red": ((196, 38, 46), ("Crimson Red", "Cherry Red", "Ruby Red")),
    "Green": ((52, 128, 74), ("Forest Green", "Sage Green", "Olive Green")),
    "Yellow": ((240, 198, 40), ("Sunflower Yellow", "Lemon Yellow")),
    "Pink": ((232, 142, 170), ("Rose Pink", "Blush Pink")),
    "Orange": ((236, 118, 34), ("Sunset Orange", "Tangerine Orange")),
    "Beige": ((214, 196, 160), ("Sand Beige", "Desert Beige")),
    "Brown": ((120, 76, 44), ("Cognac Brown", "Walnut Brown")),
    "Purple": ((118, 70, 160), ("Lavender Purple", "Royal Purple")),
    "Teal": ((30, 140, 140), ("Lagoon Teal", "Deep Teal")),
})
_ACCENTS: tuple[RGB, ...] = ((236, 118, 34), (240, 198, 40), (44, 110, 200), (196, 38, 46),
                             (30, 140, 140), (236, 236, 232), (118, 70, 160))

MARKETING = ("NEW", "Original", "Premium", "2024 Model", "Bestseller", "Free Shipping", "Top Rated",
             "Limited Edition")

# shopper types for the interaction log: the categories each one browses and buys together
PERSONAS: tuple[tuple[str, ...], ...] = (
    ("headphones", "smartphone", "laptop", "backpack"), ("running_shoes", "bottle", "tshirt", "sunglasses"),
    ("mug", "kettle", "desk_lamp"), ("watch", "sunglasses", "tshirt"), ("laptop", "desk_lamp", "mug", "backpack"),
)
# attribute kinds whose larger values cost more (storage, capacity, power, ...)
_PRICED_ATTRS = frozenset({"battery", "storage", "ssd", "volume_l", "ml", "litre", "case", "watt"})
_SHIRT_SIZES = MappingProxyType({"S": "Small", "M": "Medium", "L": "Large", "XL": "X-Large"})


@dataclass(frozen=True)
class Product:
    """One real product. model: e.g. "NV-700X"; colour: a COLOURS key; value: the attribute value
    (a Category.values entry); price_usd: list price; detail: picks small drawing differences;
    family: products of one brand line that differ in one of colour / value / model (near misses)."""

    category: Category
    brand: str
    line: str
    model: str
    colour: str
    value: object
    price_usd: float
    features: tuple[str, ...]
    detail: int
    accent: RGB
    family: int


def attr_text(kind: str, v, shop: str, rng: random.Random) -> str:
    """Short attribute text for a title: shop "a" writes compact units ("128GB", "750ml"), shop "b"
    spaced or converted ones ("128 GB", "0.75 L")."""
    a = shop == "a"
    if kind in ("storage", "ssd"):
        ssd = " SSD" if kind == "ssd" else ""
        if v == 1024:
            return ("1TB" if a else rng.choice(["1 TB", "1024 GB"])) + ssd
        return (f"{v}GB" if a else f"{v} GB") + ssd
    if kind == "battery":
        return f"{v}h Battery" if a else rng.choice([f"{v} hours playtime", f"{v} h battery life"])
    if kind == "shoe":
        return f"EU {v}" if a else rng.choice([f"Size {v} (EU)", f"EU{v}"])
    if kind == "volume_l":
        return f"{v}L" if a else rng.choice([f"{v} litres", f"{v} L"])
    if kind == "ml":
        return f"{v}ml" if a else rng.choice([f"{v / 1000:g} L", f"{v} mL"])
    if kind == "litre":
        return f"{v / 1000:.1f} L" if a else rng.choice([f"{v} ml", f"{v / 1000:g}L"])
    if kind == "case":
        return f"{v}mm" if a else f"{v} mm"
    if kind == "lens":
        return f"{v}mm Lens" if a else f"Lens width {v} mm"
    if kind == "watt":
        return f"{v}W" if a else rng.choice([f"{v} Watt", f"{v} W"])
    if kind == "size":
        return f"Size {v}" if a else rng.choice([_SHIRT_SIZES[v], f"size {v}"])
    raise ValueError(f"unknown attribute kind {kind!r}")


def attr_sentence(kind: str, v) -> str:
    """The attribute as a sentence of a description."""
    gb = "1 TB" if v == 1024 else f"{v} GB"
    templates = {
        "battery": "Up to {v} hours of playback per charge.", "storage": "{gb} of internal storage.",
        "ssd": "Fast {gb} solid-state drive.", "shoe": "EU size {v}.", "volume_l": "{v}-litre main compartment.",
        "ml": "Holds {v} ml.", "litre": "{litres}-litre capacity.", "case": "{v} mm case.",
        "lens": "{v} mm lenses.", "watt": "{v} W LED output.", "size": "Size {v}, regular fit.",
    }
    litres = f"{v / 1000:g}" if kind == "litre" else ""
    return templates[kind].format(v=v, gb=gb, litres=litres)


def _new_model(code: str, used: set[str], rng: random.Random, near: str | None = None) -> str | None:
    """An unused model number such as "NV-700X"; with `near`, a sibling of it ("NV-710X", "NV-700S")."""
    for _ in range(50):
        if near is None:
            num, suffix = rng.randrange(10, 100) * 10, rng.choice(["", "X", "S", "E", "R"])
        else:
            base = near.split("-", 1)[1]
            num = int(base.rstrip("XSER")) + rng.choice([-10, 10, 0])
            suffix = rng.choice(["", "X", "S", "E", "R"])
            if not 100 <= num <= 990:
                continue
        model = f"{code}-{num}{suffix}"
        if model not in used:
            used.add(model)
            return model
    return None


def _charm(x: float) -> float:
    """A shop price: 8.99, 24.99, 129.99 (rounded to 5 above 100)."""
    whole = round(x / 5) * 5 if x >= 100 else max(1, round(x))
    return round(whole - 0.01, 2)


def make_universe(n: int, rng: random.Random) -> list[Product]:
    """n distinct products in families of 1-3 (same brand, line and base price; siblings differ in
    exactly one of colour, attribute value or model number)."""
    brands_for = {c.key: [b for b in BRANDS if c.key in b[2]] for c in CATEGORIES}
    products: list[Product] = []
    used_models: set[str] = set()
    family = 0
    while len(products) < n:
        cat = rng.choice(CATEGORIES)
        brand, code, _ = rng.choice(brands_for[cat.key])
        model = _new_model(code, used_models, rng)
        if model is None:
            continue
        lo, hi = cat.price
        base = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        detail = rng.randrange(1000)
        members = [(model, rng.choice(cat.colours), rng.randrange(len(cat.values)), detail)]
        for _ in range(rng.choices([0, 1, 2], [0.6, 0.28, 0.12])[0]):
            m, c, vi, det = members[0]
            what = rng.choice(["colour", "value", "model"])
            if what == "colour":
                c = rng.choice([x for x in cat.colours if x != c])
            elif what == "value":
                vi = rng.choice([i for i in range(len(cat.values)) if i != vi])
            else:
                m, det = _new_model(code, used_models, rng, near=m), rng.randrange(1000)
            if m is not None and all((m, c, vi) != x[:3] for x in members):
                members.append((m, c, vi, det))
        line, features = rng.choice(cat.lines), tuple(rng.sample(cat.features, 3))
        for m, c, vi, det in members[: n - len(products)]:
            factor = 1 + 0.15 * vi if cat.attr in _PRICED_ATTRS else 1.0
            accents = [x for x in _ACCENTS if x != COLOURS[c][0]]
            products.append(Product(
                category=cat, brand=brand, line=line, model=m, colour=c, value=cat.values[vi],
                price_usd=_charm(base * factor), features=features, detail=det,
                accent=accents[det % len(accents)], family=family))
        family += 1
    return products


def differs_in(p: Product, q: Product) -> str:
    """What tells two products of one family apart: "model", "colour", "value" (joined by "+")."""
    return "+".join(k for k in ("model", "colour", "value") if getattr(p, k) != getattr(q, k))
