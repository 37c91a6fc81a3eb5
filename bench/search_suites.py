"""Labelled search queries built from ../shared/data: every suite is a corpus, dev queries (for tuning)
and test queries (for reporting), each query with graded relevant product ids.

How each suite is built (all sampling with numpy.random.default_rng(SEED), SEED = 17):
- known_<dataset> (abt_buy, amazon_google, wdc_computers, beer, itunes_amazon): the corpus is the right
  table (tableB); a query is a left-table record's name-like text, for each left record in a positive
  pair of valid.csv (dev queries) or test.csv (test queries); relevant = every right record labelled
  a match of it in any split. The name-like column is picked without naming columns
  (`name_column`): among text columns other than the id, the most distinct, then the shortest.
  Corpus documents: title = that column; attributes = the other short columns as "column value";
  description = long free-text columns (median length > 80 characters). Vector text = title plus
  the short attributes.
- model_numbers: the corpus is the union of the right tables (tableB) of abt_buy, amazon_google,
  wdc_computers and the Flipkart products; the candidates are the model numbers (`analysis.model_numbers`: letter+digit
  tokens that are not quantities) written as one token in a title, with at least 5 characters and 3 digits, not a number with units ("25inch"), found in
  the titles of at most 5 listings; 400 sampled, split dev/test by a hash of the number. The query is the number
  typed in one of four ways chosen per query (as compact upper case "WM330S", dashed between
  letter/digit groups "WM-330-S", spaced "wm 330 s", lower compact); relevant = the listings whose
  title or attributes carry it.
- zh_type, zh_brand_type: the corpus is every title of zh/ecommerce_titles; queries are the
  annotated product-type spans (HC) of two or more Chinese characters, and "brand type" pairs of
  annotated brand (HP) and type spans in one title; relevant = titles annotated with that type (and
  that brand); queries with 2..300 relevant titles, 300 sampled per suite, split by hash.
- flipkart_category: the corpus is the 1050 Flipkart products; a query is the name of a category at
  level 2 or 3 of the tree with at least 3 products; grade 2 = products under a category of that
  name, grade 1 = products under a sibling of it (same parent); split by hash of the name.
- photo_grocery: corpus = the 81 grocery products (catalogue image, name and description); queries =
  the real shop photos, val split (dev) and 500 sampled from the test split (test); grade 2 = the
  product, grade 1 = the same coarse class.
- photo_flipkart: corpus = the Flipkart products with an image; a query is a product's own photo
  cropped to a random 70-90% window and recompressed as JPEG quality 40-70; relevant = that product;
  split by hash of the product id.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SEED = 17
KNOWN_ITEM = ("abt_buy", "amazon_google", "wdc_computers", "beer", "itunes_amazon")
LONG_TEXT = 80  # median characters above which a column is a description, not an attribute


@dataclass
class Corpus:
    """Products to search. docs: lexical fields (title, brand, identifiers, attributes, description);
    texts: what the text vector channels embed; images: image file per product (None: no image)."""

    ids: list[str]
    docs: list[dict]
    texts: list[str]
    images: list[str | None] = field(default_factory=list)


@dataclass
class Query:
    qid: str
    relevant: dict[str, int]  # product id -> grade (> 0)
    text: str | None = None
    image: bytes | str | None = None  # JPEG bytes or a file path


@dataclass
class Suite:
    name: str
    kind: str  # "text" or "photo"
    corpus: Corpus
    dev: list[Query]
    test: list[Query]


def _is_dev(key: str) -> bool:
    """A fixed half of the keys: the first byte of sha1(key) is even."""
    return hashlib.sha1(key.encode("utf-8")).digest()[0] % 2 == 0


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- known item --------------------------------------------------------------------------------------
def name_column(rows: list[dict], id_column: str = "id") -> str:
    """The name-like column of a table, chosen by a rule that names no column: among columns whose
    values mostly contain letters, the one with the most distinct values (within 2%), then the
    shortest median length."""
    stats = []
    for col in rows[0]:
        if col == id_column:
            continue
        values = [(r[col] or "").strip() for r in rows]
        filled = [v for v in values if v]
        if not filled or sum(bool(re.search(r"[^\W\d_]", v)) for v in filled) < 0.8 * len(filled):
            continue
        distinct = len(set(filled)) / len(rows)
        stats.append((col, distinct, float(np.median([len(v) for v in filled]))))
    if not stats:
        raise ValueError("no text column")
    best = max(s[1] for s in stats)
    return min((s for s in stats if s[1] >= best - 0.02), key=lambda s: s[2])[0]


def table_corpus(rows: list[dict], prefix: str) -> tuple[Corpus, str]:
    """A table as a corpus with the schema-agnostic rule above; returns (corpus, name column)."""
    name = name_column(rows)
    others = [c for c in rows[0] if c not in ("id", name)]
    lengths = {c: float(np.median([len(r[c] or "") for r in rows])) for c in others}
    short = [c for c in others if lengths[c] <= LONG_TEXT]
    long_ = [c for c in others if lengths[c] > LONG_TEXT]
    ids, docs, texts = [], [], []
    for r in rows:
        attributes = {c: r[c].strip() for c in short if (r[c] or "").strip()}
        ids.append(f"{prefix}{r['id']}")
        docs.append({"title": r[name] or "", "attributes": attributes,
                     "description": " ".join((r[c] or "") for c in long_)})
        texts.append(" ; ".join([r[name] or "", *(f"{k}: {v}" for k, v in attributes.items())]))
    return Corpus(ids, docs, texts), name


def known_item(data: Path, dataset: str) -> Suite:
    root = data / "em" / dataset
    left, right = _read_csv(root / "tableA.csv"), _read_csv(root / "tableB.csv")
    corpus, _ = table_corpus(right, "b:")
    left_name = name_column(left)
    left_text = {r["id"]: r[left_name] or "" for r in left}
    matches: dict[str, set[str]] = defaultdict(set)
    for split in ("train", "valid", "test"):
        for r in _read_csv(root / f"{split}.csv"):
            if r["label"] == "1":
                matches[r["ltable_id"]].add(f"b:{r['rtable_id']}")

    def queries(split: str) -> list[Query]:
        seen: dict[str, Query] = {}
        for r in _read_csv(root / f"{split}.csv"):
            lid = r["ltable_id"]
            if r["label"] == "1" and lid not in seen and left_text.get(lid, "").strip():
                seen[lid] = Query(f"a:{lid}", {m: 1 for m in matches[lid]}, text=left_text[lid])
        return list(seen.values())

    return Suite(f"known_{dataset}", "text", corpus, queries("valid"), queries("test"))


# -- model numbers -----------------------------------------------------------------------------------
# Numbers with units ("25inch", "18ghz8gb256gb") and sizes ("2x512"): specifications, not model numbers.
_MEASURE = re.compile(r"(?:\d+[a-z]{2,5})+|\d+x\d+")


def _typed(key: str, style: int) -> str:
    groups = re.findall(r"[a-z]+|\d+", key)
    return [key.upper(), "-".join(groups).upper(), " ".join(groups), key][style]


def model_number_suite(data: Path, flipkart: Corpus, n: int = 400) -> Suite:
    from shopgraph.search.lexical_index import lookup_keys
    from shopgraph.search.analysis import _ASCII_TOKEN, _SEPARATORS, model_numbers, normalize

    parts = [flipkart]
    for dataset in ("abt_buy", "amazon_google", "wdc_computers"):
        corpus, _ = table_corpus(_read_csv(data / "em" / dataset / "tableB.csv"), f"{dataset}:B:")
        parts.append(corpus)
    corpus = Corpus([i for p in parts for i in p.ids], [d for p in parts for d in p.docs],
                    [t for p in parts for t in p.texts])
    carriers: dict[str, set[str]] = defaultdict(set)
    in_titles: set[str] = set()
    for pid, doc in zip(corpus.ids, corpus.docs):
        for key in lookup_keys({"title": doc.get("title"), "attributes": doc.get("attributes")}):
            carriers[key].add(pid)
        # candidates: numbers written as one token in a title (not two words joined, "000 premier")
        words = {_SEPARATORS.sub("", t) for t in _ASCII_TOKEN.findall(normalize(doc.get("title") or ""))}
        in_titles.update(k for k in model_numbers(doc.get("title") or "") if k in words)
    candidates = sorted(k for k in in_titles if len(k) >= 5 and sum(c.isdigit() for c in k) >= 3
                        and not _MEASURE.fullmatch(k) and 1 <= len(carriers[k]) <= 5)
    rng = np.random.default_rng(SEED)
    chosen = [candidates[i] for i in sorted(rng.choice(len(candidates), size=min(n, len(candidates)), replace=False))]
    styles = rng.integers(0, 4, size=len(chosen))
    queries = [Query(f"mn:{k}", {p: 1 for p in carriers[k]}, text=_typed(k, int(s))) for k, s in zip(chosen, styles)]
    return Suite("model_numbers", "text", corpus, [q for q in queries if _is_dev(q.qid)],
                 [q for q in queries if not _is_dev(q.qid)])


# -- Chinese -----------------------------------------------------------------------------------------
_HAN = re.compile(r"^[\u3400-\u9fff]{2,}$")


def chinese_suites(data: Path, n: int = 300) -> list[Suite]:
    rows = []
    with open(data / "zh" / "ecommerce_titles" / "titles_with_entities.tsv", encoding="utf-8") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            rows.append(r)
    ids = [f"zh:{i}" for i in range(len(rows))]
    corpus = Corpus(ids, [{"title": r["title"]} for r in rows], [r["title"] for r in rows])
    by_type: dict[str, set[str]] = defaultdict(set)
    by_pair: dict[str, set[str]] = defaultdict(set)
    for pid, r in zip(ids, rows):
        types = {t for t in (r["products_HC"] or "").split("|") if _HAN.match(t)}
        brands = {b.strip() for b in (r["brands_HP"] or "").split("|") if b.strip()}
        for t in types:
            by_type[t].add(pid)
            for b in brands:
                by_pair[f"{b} {t}"].add(pid)
    rng = np.random.default_rng(SEED)
    suites = []
    for name, groups in (("zh_type", by_type), ("zh_brand_type", by_pair)):
        keys = sorted(k for k, v in groups.items() if 2 <= len(v) <= 300)
        keys = [keys[i] for i in sorted(rng.choice(len(keys), size=min(n, len(keys)), replace=False))]
        queries = [Query(f"{name}:{k}", {p: 1 for p in groups[k]}, text=k) for k in keys]
        suites.append(Suite(name, "text", corpus, [q for q in queries if _is_dev(q.qid)],
                            [q for q in queries if not _is_dev(q.qid)]))
    return suites


# -- Flipkart ----------------------------------------------------------------------------------------
def _flipkart_rows(data: Path) -> tuple[Path, list[dict]]:
    root = data / "multimodal" / "flipkart_1050"
    return root, _read_csv(root / "flipkart_com-ecommerce_sample_1050.csv")


def _category_path(value: str) -> list[str]:
    inner = value.strip().strip("[]").strip().strip('"')
    return [p.strip() for p in inner.split(">>") if p.strip()]


def flipkart_corpus(data: Path) -> tuple[Corpus, list[list[str]]]:
    """The Flipkart products as a corpus, and each product's category path."""
    root, rows = _flipkart_rows(data)
    ids, docs, texts, images, paths = [], [], [], [], []
    for r in rows:
        image = root / "images_512" / r["image"]
        ids.append(f"fk:{r['uniq_id']}")
        docs.append({"title": r["product_name"], "brand": r["brand"], "identifiers": [r["pid"]],
                     "attributes": r["product_specifications"], "description": r["description"]})
        texts.append(r["product_name"])
        images.append(str(image) if image.is_file() else None)
        paths.append(_category_path(r["product_category_tree"]))
    return Corpus(ids, docs, texts, images), paths


def flipkart_category_suite(corpus: Corpus, paths: list[list[str]]) -> Suite:
    under: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for pid, path in zip(corpus.ids, paths):
        for depth in range(1, len(path) + 1):
            under[tuple(path[:depth])].add(pid)
    nodes_by_name: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    titles = {d["title"].strip().lower() for d in corpus.docs}
    for node, members in under.items():
        if len(node) in (2, 3) and len(members) >= 3 and node[-1].lower() not in titles:
            nodes_by_name[node[-1]].append(node)
    queries = []
    for name in sorted(nodes_by_name):
        grades: dict[str, int] = {}
        for node in nodes_by_name[name]:
            for sibling, members in under.items():
                if len(sibling) == len(node) and sibling[:-1] == node[:-1]:
                    for pid in members:
                        grades[pid] = max(grades.get(pid, 0), 2 if sibling == node else 1)
        queries.append(Query(f"cat:{name}", grades, text=name))
    return Suite("flipkart_category", "text", corpus, [q for q in queries if _is_dev(q.qid)],
                 [q for q in queries if not _is_dev(q.qid)])


def _recompressed_crop(path: str, rng: np.random.Generator) -> bytes:
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        w, h = img.size
        frac = rng.uniform(0.7, 0.9)
        cw, ch = max(1, int(w * frac)), max(1, int(h * frac))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        out = io.BytesIO()
        img.crop((x, y, x + cw, y + ch)).save(out, format="JPEG", quality=int(rng.integers(40, 71)))
    return out.getvalue()


def flipkart_photo_suite(corpus: Corpus) -> Suite:
    rng = np.random.default_rng(SEED)
    queries = [Query(f"photo:{pid}", {pid: 1}, image=_recompressed_crop(img, rng))
               for pid, img in zip(corpus.ids, corpus.images) if img is not None]
    return Suite("photo_flipkart", "photo", corpus, [q for q in queries if _is_dev(q.qid)],
                 [q for q in queries if not _is_dev(q.qid)])


def grocery_photo_suite(data: Path, n_test: int = 500) -> Suite:
    root = data / "multimodal" / "grocery_store"
    products = _read_csv(root / "products.csv")
    coarse = {f"gr:{p['class_id']}": p["coarse_class_id"] for p in products}
    corpus = Corpus([f"gr:{p['class_id']}" for p in products],
                    [{"title": p["class_name"].replace("-", " "), "description": p["description"]} for p in products],
                    [p["class_name"].replace("-", " ") for p in products],
                    [str(root / p["iconic_image"]) if (root / p["iconic_image"]).is_file() else None for p in products])

    def grades(class_id: str) -> dict[str, int]:
        own = f"gr:{class_id}"
        return {pid: 2 if pid == own else 1 for pid, c in coarse.items() if c == coarse[own]}

    images = _read_csv(root / "images.csv")
    dev = [Query(f"gr-photo:{r['image_path']}", grades(r["class_id"]), image=str(root / r["image_path"]))
           for r in images if r["split"] == "val"]
    test_rows = [r for r in images if r["split"] == "test"]
    rng = np.random.default_rng(SEED)
    picked = sorted(rng.choice(len(test_rows), size=min(n_test, len(test_rows)), replace=False))
    test = [Query(f"gr-photo:{test_rows[i]['image_path']}", grades(test_rows[i]["class_id"]),
                  image=str(root / test_rows[i]["image_path"])) for i in picked]
    return Suite("photo_grocery", "photo", corpus, dev, test)


def build_suites(data: Path, names: set[str] | None = None) -> list[Suite]:
    """Every suite (or those named), in a fixed order."""
    want = (lambda n: names is None or n in names)
    suites: list[Suite] = [known_item(data, d) for d in KNOWN_ITEM if want(f"known_{d}")]
    flipkart, paths = flipkart_corpus(data)
    if want("model_numbers"):
        suites.append(model_number_suite(data, flipkart))
    suites += [s for s in chinese_suites(data) if want(s.name)]
    if want("flipkart_category"):
        suites.append(flipkart_category_suite(flipkart, paths))
    if want("photo_grocery"):
        suites.append(grocery_photo_suite(data))
    if want("photo_flipkart"):
        suites.append(flipkart_photo_suite(flipkart))
    return suites
