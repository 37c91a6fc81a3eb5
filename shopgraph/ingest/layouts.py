"""Ready-made mappings for the public data sets' directory layouts (any directory with that layout).

Layouts (`detect_layout` tries them in this order):

- "deepmatcher": tableA.csv + tableB.csv (two catalogs) and labelled pair files (train/valid/test.csv
  and any other CSV with ltable_id, rtable_id, label). Columns are taken from each header: id; title
  or name -> title (without either, the first column whose name ends in "name" or "title" in any case,
  "Beer_Name", "Song_Name"; deepmatcher_title); description; manufacturer or brand -> brand; price (taken as USD: the Magellan /
  DeepMatcher benchmarks come from US shops). Platforms: a directory name of two "_"-separated parts
  names the two shops (abt_buy -> "abt", "buy"), unless the data shows the two tables are not two
  shops' catalogs: when at least SHARED_RECORDS_SHARE of tableA's records appear verbatim (every
  column but the id) in tableB, both tables were drawn from one pool of offers (e.g. a web corpus of
  many shops' offers), since two shops never write the same listing word for word. Then, and for
  any other name, they are "<dir>_a" and "<dir>_b" (the directory name made a valid platform name
  first, names.platform_from_text).
- "flipkart": flipkart_com-ecommerce_sample_1050.csv (or any CSV with uniq_id, product_name and
  product_category_tree) + images_512/ (else images/). Platform "flipkart"; id uniq_id; price is
  discounted_price (the selling price the listing shows; retail_price is the list price), in INR;
  category product_category_tree split on ">>".
- "grocery": products.csv (+ images.csv). Platform "grocery", id class_id, title class_name with "-"
  as spaces, category (top_category, coarse_class_name), image iconic_image relative to the directory.
  Brand: for top_category "Packages" only, the leading word of class_name (multi-word brands listed
  in GROCERY_MULTIWORD_BRANDS); fruit and vegetables have none. extra["photos"] lists the photos.
- "s3rec": <Name>.txt sequences (+ <Name>_item2attributes.json). The data is anonymised: products are
  f"{Name} item {item_id}" with nothing else; platform and id namespace are Name.lower() (made a valid platform name). One
  directory holds several data sets: name "s3rec:<Name>" picks one, the default is the first
  alphabetically, extra["datasets"] lists them.

Sources that are not one mapped file (grocery's derived brand and category, s3rec's synthesised
products) set ProductSource.records; `product_items(source, limits)` reads either kind.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from shopgraph.config import IngestConfig
from shopgraph.errors import BadArgumentError, BadFileError
from shopgraph.files import open_regular
from shopgraph.ingest.attributes import Attribute, ParsedValue
from shopgraph.ingest.interactions import InteractionMapping, s3rec_items
from shopgraph.ingest.mapping import ColumnMapping
from shopgraph.ingest.quarantine import json_safe
from shopgraph.ingest.readers import check_columns, peek_columns, read_rows
from shopgraph.ingest.validate import ProductStream, read_products, validate_product
from shopgraph.names import PLATFORM_MAX_CHARS, platform_from_text, platform_problem
from shopgraph.records import ProductRecord, QuarantinedRow, product_id

log = logging.getLogger(__name__)

LAYOUTS = ("deepmatcher", "flipkart", "grocery", "s3rec", "titles")
PAIR_COLUMNS = frozenset({"ltable_id", "rtable_id", "label"})
PAIR_SPLITS = ("train", "valid", "test")
# Share of tableA's records found verbatim in tableB from which the two tables are one pool of
# offers, not two shops (measured: 0.0 on abt_buy, amazon_google, beer, itunes_amazon; 0.60 on the
# web-offer corpus wdc_computers).
SHARED_RECORDS_SHARE = 0.05
FLIPKART_CSV = "flipkart_com-ecommerce_sample_1050.csv"
FLIPKART_COLUMNS = frozenset({"uniq_id", "product_name", "product_category_tree"})
FLIPKART_IMAGE_DIRS = ("images_512", "images")
GROCERY_COLUMNS = frozenset({"class_id", "class_name", "coarse_class_name", "top_category", "iconic_image",
                             "description"})
GROCERY_MULTIWORD_BRANDS = ("God-Morgon",)
_NOT_S3REC = ("readme", "license", "licence")
# The titles layout: one table whose title column has one of these names (any case); see load_titles.
TITLE_COLUMN_NAMES = ("title", "name", "product_name", "product_title", "item_name")
ROW_ID = "row"   # the id a titles table without an id column gets: its data row number


@dataclass
class ProductSource:
    """One product source of a layout.

    path: the data file. mapping: its ColumnMapping (always set; for a `records` source it still
    names the platform). records: None for a plain mapped file (read it with
    validate.read_products(path, mapping, limits)); otherwise a callable, `records()` or
    `records(limits)`, yielding ProductRecord | QuarantinedRow for sources that need more than a column
    mapping. product_items() handles both.
    """

    path: Path
    mapping: ColumnMapping
    records: Callable[..., Iterator[ProductRecord | QuarantinedRow]] | None = None


@dataclass
class Layout:
    """A data set directory resolved into sources.

    interactions: (path, spec) pairs, spec a namespace str for an S3-Rec sequence file or an
    InteractionMapping for a table (interactions.iter_interaction_source reads either).
    labelled_pairs: split -> [(product_id_a, product_id_b, label 0/1)], ids namespaced.
    extra: layout-specific values; always "directory" (absolute Path).
    """

    name: str
    products: list[ProductSource]
    interactions: list[tuple[Path, str | InteractionMapping]] = field(default_factory=list)
    labelled_pairs: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def product_items(source: ProductSource,
                  limits: IngestConfig | None = None) -> Iterator[ProductRecord | QuarantinedRow]:
    """The validated products of a source, whichever kind it is."""
    if source.records is not None:
        return source.records(limits)
    return read_products(source.path, source.mapping, limits)


# -- helpers ---------------------------------------------------------------------------------------

def _directory(directory: str | Path) -> Path:
    path = Path(directory).expanduser()
    if not path.exists():
        raise BadFileError(f"{path}: directory not found")
    if not path.is_dir():
        raise BadFileError(f"{path}: not a directory")
    return path.resolve()


def _require(directory: Path, name: str, layout: str) -> Path:
    path = directory / name
    if not path.is_file():
        raise BadFileError(f"{directory}: not a {layout} layout: missing {name}")
    return path


def _header(path: Path) -> list[str]:
    """A CSV file's column names in header order."""
    import csv

    with open_regular(path) as f:
        line = f.readline().decode("utf-8-sig", errors="replace")
    return next(csv.reader([line]), [])


def _columns_or_none(path: Path) -> set[str] | None:
    try:
        return peek_columns(path, "csv")
    except BadFileError:
        return None


# -- deepmatcher -----------------------------------------------------------------------------------

def deepmatcher_platforms(directory_name: str, one_pool: bool = False) -> tuple[str, str]:
    """Platform names for tableA and tableB from the directory name (see the module docstring): the two
    parts when both are valid platform names and the tables are two shops' catalogs (one_pool False:
    see tables_share_records), else the name made one (names.platform_from_text: "my data" ->
    "my_data_a", "my_data_b")."""
    parts = directory_name.replace(":", "_").split("_")
    if len(parts) == 2 and not any(platform_problem(p) for p in parts) and parts[0] != parts[1] and not one_pool:
        return parts[0], parts[1]
    name = platform_from_text(directory_name)[:PLATFORM_MAX_CHARS - 2]
    return f"{name}_a", f"{name}_b"


def record_key(record: dict) -> tuple[str, ...] | None:
    """A record's values in every column but "id", whitespace and case normalised (so only the same
    listing written the same way gives the same key); None for a record with no value."""
    values = tuple(" ".join(str(v).split()).casefold() for k, v in record.items() if k != "id" and v is not None)
    return values if any(values) else None


def records_from_one_pool(records_a, records_b) -> bool:
    """Whether two catalogs' records (dicts) were drawn from one pool of offers rather than being two
    shops' catalogs: at least SHARED_RECORDS_SHARE of the first's records appear verbatim in the
    second (two shops never write the same listing word for word; a pool of many shops' offers split
    in two does)."""
    in_b = {key for key in map(record_key, records_b) if key is not None}
    keys_a = [key for key in map(record_key, records_a) if key is not None]
    return bool(keys_a) and sum(key in in_b for key in keys_a) >= SHARED_RECORDS_SHARE * len(keys_a)


def tables_share_records(table_a: str | Path, table_b: str | Path) -> bool:
    """records_from_one_pool of two CSV tables (their readable rows)."""
    def rows(path):
        return (row for _line, row, error in read_rows(Path(path), "csv") if error is None and row)

    return records_from_one_pool(rows(table_a), rows(table_b))


def deepmatcher_title(columns: Sequence[str]) -> str | None:
    """The title column of a DeepMatcher table, by the column names alone: "title", else "name", else
    the first column (header order) whose name ends in "name" or "title" ignoring case and separators
    ("Beer_Name", "Song_Name", "productTitle"). None when no column qualifies."""
    for wanted in ("title", "name"):
        if wanted in columns:
            return wanted
    return next((c for c in columns if c != "id" and re.sub(r"[^a-z]", "", c.lower()).endswith(("name", "title"))),
                None)


def _deepmatcher_mapping(path: Path, platform: str) -> ColumnMapping:
    cols = peek_columns(path, "csv")
    title = deepmatcher_title(_header(path))
    if "id" not in cols or title is None:
        raise BadFileError(f"{path}: a deepmatcher table needs columns 'id' and 'title', 'name' or one named "
                           f"*name / *title (it has: {', '.join(sorted(cols))})")
    by_lower = {c.lower(): c for c in reversed(_header(path))}   # "Price" is the price (em/itunes_amazon)
    brand = next((by_lower[c] for c in ("manufacturer", "brand") if c in by_lower), None)
    price = by_lower.get("price")
    description = by_lower.get("description")
    return ColumnMapping(platform=platform, id="id", title=title,
                         description=(description,) if description else (),
                         price=price, default_currency="USD" if price else None, brand=brand)


def read_pairs(path: str | Path, left: str, right: str) -> list[tuple[str, str, int]]:
    """Labelled pairs (ltable_id, rtable_id, label) as namespaced (id_a, id_b, 0/1). Pairs are
    reference data: any bad row raises BadFileError naming the file and line."""
    path = Path(path)
    check_columns(path, peek_columns(path, "csv"), _PairColumns())
    pairs = []
    for line, row, error in read_rows(path, "csv"):
        if error is not None:
            raise BadFileError(f"{path}: line {line}: {error}")
        a, b, label = row["ltable_id"].strip(), row["rtable_id"].strip(), row["label"].strip()
        if not a or not b or label not in ("0", "1"):
            raise BadFileError(f"{path}: line {line}: expected two ids and a 0/1 label, got {a!r}, {b!r}, {label!r}")
        pairs.append((product_id(left, a), product_id(right, b), int(label)))
    return pairs


class _PairColumns:
    def columns(self) -> set[str]:
        return set(PAIR_COLUMNS)


def load_deepmatcher(directory: str | Path, platforms: tuple[str, str] | None = None) -> Layout:
    d = _directory(directory)
    table_a, table_b = _require(d, "tableA.csv", "deepmatcher"), _require(d, "tableB.csv", "deepmatcher")
    left, right = platforms or deepmatcher_platforms(d.name, tables_share_records(table_a, table_b))
    products = [ProductSource(table_a, _deepmatcher_mapping(table_a, left)),
                ProductSource(table_b, _deepmatcher_mapping(table_b, right))]
    pair_files = [p for p in sorted(d.glob("*.csv")) if p.name not in ("tableA.csv", "tableB.csv")
                  and PAIR_COLUMNS <= (_columns_or_none(p) or set())]
    pair_files.sort(key=lambda p: (PAIR_SPLITS.index(p.stem) if p.stem in PAIR_SPLITS else len(PAIR_SPLITS), p.stem))
    pairs = {p.stem: read_pairs(p, left, right) for p in pair_files}
    return Layout("deepmatcher", products, [], pairs, {"directory": d, "platforms": (left, right)})


# -- flipkart --------------------------------------------------------------------------------------

def _find_flipkart_csv(d: Path) -> Path | None:
    if (d / FLIPKART_CSV).is_file():
        return d / FLIPKART_CSV
    for path in sorted(d.glob("*.csv")):
        if FLIPKART_COLUMNS <= (_columns_or_none(path) or set()):
            return path
    return None


def load_flipkart(directory: str | Path) -> Layout:
    d = _directory(directory)
    csv_path = _find_flipkart_csv(d)
    if csv_path is None:
        raise BadFileError(f"{d}: not a flipkart layout: missing {FLIPKART_CSV} "
                           f"(or a CSV with columns {', '.join(sorted(FLIPKART_COLUMNS))})")
    image_dir = next((d / n for n in FLIPKART_IMAGE_DIRS if (d / n).is_dir()), None)
    if image_dir is None:
        log.warning("%s: no %s directory: every product will be without an image", d, " or ".join(FLIPKART_IMAGE_DIRS))
    mapping = ColumnMapping(platform="flipkart", id="uniq_id", title="product_name", description=("description",),
                            price="discounted_price", default_currency="INR", brand="brand",
                            category="product_category_tree", category_separator=">>", image="image",
                            image_dir=str(image_dir or d / FLIPKART_IMAGE_DIRS[0]))
    return Layout("flipkart", [ProductSource(csv_path, mapping)], [], {},
                  {"directory": d, "image_dir": image_dir})


# -- grocery ---------------------------------------------------------------------------------------

def grocery_brand(class_name: str, top_category: str) -> str | None:
    """The brand of a grocery product: the leading word of a packaged product's class name
    ("Arla-Standard-Milk" -> "Arla", "God-Morgon-Apple-Juice" -> "God-Morgon"); None for fruit and
    vegetables."""
    if top_category.strip() != "Packages":
        return None
    for brand in GROCERY_MULTIWORD_BRANDS:
        if class_name.startswith(brand + "-"):
            return brand
    return class_name.split("-")[0].strip() or None


def _grocery_mapping(d: Path) -> ColumnMapping:
    return ColumnMapping(platform="grocery", id="class_id", title="class_name", description=("description",),
                         image="iconic_image", image_dir=str(d))


def grocery_products(products_csv: str | Path, directory: str | Path,
                     limits: IngestConfig | None = None) -> ProductStream:
    """Validated grocery products with derived title, brand and category (see the module docstring).
    The columns those are made from (class_name, coarse_class_name, top_category) are that field's
    columns in the plan and the run summary; every other column of products.csv not mapped to a
    field is kept as an attribute (coarse_class_id, iconic_exists, description_file), so nothing is
    dropped unnamed."""
    from shopgraph.ingest.columns import SAMPLE_ROWS, plan_columns

    products_csv, d = Path(products_csv), Path(directory)
    check_columns(products_csv, peek_columns(products_csv, "csv"), _grocery_mapping(d))
    derived = ColumnMapping(platform="grocery", id="class_id", title="_title", description=("description",),
                            brand="_brand", category="_category", image="iconic_image", image_dir=str(d),
                            category_max_depth=None)
    limits = limits or IngestConfig()

    def rows():
        for line, row, error in read_rows(products_csv, "csv"):
            if error is None:
                row = dict(row)
                name, top = row.get("class_name") or "", row.get("top_category") or ""
                row["_title"] = name.replace("-", " ")
                row["_brand"] = grocery_brand(name, top)
                row["_category"] = [top, (row.get("coarse_class_name") or "").replace("-", " ")]
            yield line, row, error

    sample = [row for _, row, error in itertools.islice(rows(), SAMPLE_ROWS) if error is None]
    sources = {"class_name": "field:title", "coarse_class_name": "field:category", "top_category": "field:category"}
    # The derived fields' source columns are planned as those fields, not as attributes.
    plan = plan_columns([c for c in _header(products_csv) if c not in sources], sample, derived)
    plan.roles.update(sources)
    return ProductStream(rows(), plan, derived, limits, str(products_csv), d, str(products_csv))


def _grocery_photos(d: Path) -> list[tuple[str, str, int, int]]:
    path = d / "images.csv"
    if not path.is_file():
        log.warning("%s: no images.csv: extra['photos'] is empty", d)
        return []
    photos = []
    for line, row, error in read_rows(path, "csv"):
        try:
            if error is not None:
                raise ValueError(error)
            photos.append((row["split"], str(d / row["image_path"]), int(row["class_id"]), int(row["coarse_class_id"])))
        except (KeyError, ValueError) as e:
            raise BadFileError(f"{path}: line {line}: {e}") from None
    return photos


def load_grocery(directory: str | Path) -> Layout:
    d = _directory(directory)
    products_csv = _require(d, "products.csv", "grocery")
    check_columns(products_csv, peek_columns(products_csv, "csv"), _grocery_mapping(d))
    source = ProductSource(products_csv, _grocery_mapping(d),
                           records=functools.partial(grocery_products, products_csv, d))
    return Layout("grocery", [source], [], {}, {"directory": d, "photos": _grocery_photos(d)})


# -- s3rec -----------------------------------------------------------------------------------------

def _looks_like_sequences(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            for raw in f:
                tokens = raw.split()
                if tokens:
                    return len(tokens) >= 2 and all(t.isdigit() for t in tokens)
    except OSError:
        return False
    return False


def s3rec_datasets(directory: str | Path) -> list[str]:
    """Names of the S3-Rec sequence files (<Name>.txt whose first line is integer ids), sorted."""
    d = Path(directory)
    return sorted(p.stem for p in d.glob("*.txt")
                  if not p.stem.lower().startswith(_NOT_S3REC) and p.is_file() and _looks_like_sequences(p))


S3REC_ATTRIBUTE = "attribute_id"   # the attribute key of an S3-Rec item's (anonymous) attribute ids


def s3rec_attributes(path: Path | None) -> dict[str, tuple[str, ...]]:
    """item id -> its attribute ids (as text) from <Name>_item2attributes.json ({} without one); a file
    that is not that JSON is one BadFileError naming it."""
    if path is None:
        return {}
    try:
        with open_regular(path) as f:
            data = json.loads(f.read().decode("utf-8"))
        return {str(item): tuple(str(int(a)) for a in ids) for item, ids in data.items()}
    except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError) as e:
        raise BadFileError(f"{path}: not an item -> attribute ids JSON object ({str(e)[:120]})") from None


def s3rec_products(path: str | Path, namespace: str, name: str | None = None, attributes_path: Path | None = None,
                   limits: IngestConfig | None = None) -> Iterator[ProductRecord]:
    """One ProductRecord per distinct item of a sequence file, by item id: title f"{name} item {id}"
    (the data is anonymised), source_line = the line where the item first appears, and the item's
    attribute ids (brand and category nodes, anonymised) as S3REC_ATTRIBUTE attributes when the
    dataset has an item2attributes file. limits is accepted for the ProductSource.records signature;
    these titles always pass it."""
    path = Path(path)
    name = name or path.stem
    items = s3rec_items(path)
    attributes = s3rec_attributes(attributes_path)
    for item in sorted(items, key=int):
        kept = tuple(Attribute(S3REC_ATTRIBUTE, a, ParsedValue(norm=a)) for a in attributes.get(item, ()))
        yield ProductRecord(platform=namespace, source_id=item, title=f"{name} item {item}",
                            source_file=str(path), source_line=items[item], attributes=kept)


def load_s3rec(directory: str | Path, dataset: str | None = None) -> Layout:
    d = _directory(directory)
    names = s3rec_datasets(d)
    if not names:
        raise BadFileError(f"{d}: not an s3rec layout: missing <Name>.txt (user item item ... per line)")
    if dataset is None:
        name = names[0]
    else:
        name = next((n for n in names if n.lower() == dataset.lower()), None)
        if name is None:
            raise BadFileError(f"{d}: not an s3rec layout for {dataset!r}: missing {dataset}.txt "
                               f"(available: {', '.join(names)})")
    sequences, namespace = d / f"{name}.txt", platform_from_text(name.lower())
    attributes = d / f"{name}_item2attributes.json"
    source = ProductSource(sequences, ColumnMapping(platform=namespace, id="item", title="title"),
                           records=functools.partial(s3rec_products, sequences, namespace, name,
                                                     attributes if attributes.is_file() else None))
    return Layout("s3rec", [source], [(sequences, namespace)], {},
                  {"directory": d, "datasets": names, "dataset": name,
                   "item_attributes": attributes if attributes.is_file() else None})


# -- titles ----------------------------------------------------------------------------------------

def _titles_table(d: Path) -> tuple[Path, str] | None:
    """The one CSV/TSV file of d with a title column (TITLE_COLUMN_NAMES), and that column's name."""
    found = []
    for path in sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".tsv")):
        try:
            columns = peek_columns(path, path.suffix.lower()[1:])
        except BadFileError:
            continue
        titles = [c for c in columns if c.strip().lower() in TITLE_COLUMN_NAMES]
        if titles:
            found.append((path, titles[0]))
    return found[0] if len(found) == 1 else None


def titles_products(path: Path, mapping: ColumnMapping, limits: IngestConfig | None = None) -> ProductStream:
    """A titles table's products: each row's id is its data row number (the table has no id column),
    every other column read as the mapping's plan says (attributes by default). A ProductStream, so
    the run summary carries the plan's columns line and warnings (the titles' script among them)."""
    from shopgraph.ingest.columns import SAMPLE_ROWS, plan_columns

    limits = limits or IngestConfig()
    fmt = path.suffix.lower()[1:]

    def numbered():
        for n, (line, row, error) in enumerate(read_rows(path, fmt), start=1):
            yield line, (row if error is not None else {**row, ROW_ID: str(n)}), error

    sample = [row for _, row, error in itertools.islice(numbered(), SAMPLE_ROWS) if error is None]
    plan = plan_columns([ROW_ID, *peek_columns(path, fmt)], sample, mapping)
    return ProductStream(numbered(), plan, mapping, limits, str(path), path.parent, str(path))


def load_titles(directory: str | Path) -> Layout:
    """A directory holding one CSV or TSV table of product titles and no id column (e.g. a corpus of
    shop titles): the title column is the one named like a title (TITLE_COLUMN_NAMES), each product's
    id its data row number, the platform the directory's name; every other column an attribute."""
    d = _directory(directory)
    found = _titles_table(d)
    if found is None:
        raise BadFileError(f"{d}: not a titles layout (expected one .csv or .tsv file with a column named "
                           f"{' / '.join(TITLE_COLUMN_NAMES)})")
    path, title = found
    platform = platform_from_text(d.name)
    mapping = ColumnMapping(platform=platform, id=ROW_ID, title=title)
    return Layout("titles", [ProductSource(path, mapping, records=functools.partial(titles_products, path, mapping))],
                  extra={"directory": d})


# -- detection -------------------------------------------------------------------------------------

def detect_layout(directory: str | Path) -> str | None:
    """The layout name of a directory, or None when it is none of LAYOUTS (or not a directory)."""
    d = Path(directory).expanduser()
    if not d.is_dir():
        return None
    if (d / "tableA.csv").is_file() and (d / "tableB.csv").is_file():
        return "deepmatcher"
    if _find_flipkart_csv(d) is not None:
        return "flipkart"
    if (d / "products.csv").is_file() and GROCERY_COLUMNS <= (_columns_or_none(d / "products.csv") or set()):
        return "grocery"
    if s3rec_datasets(d):
        return "s3rec"
    if _titles_table(d) is not None:
        return "titles"
    return None


def load_layout(directory: str | Path, name: str | None = None) -> Layout:
    """Resolve a data set directory. name is one of LAYOUTS, "s3rec:<Name>", or None to detect it.

    Raises BadFileError naming the directory (and the missing file) when it does not have the layout,
    BadArgumentError for an unknown layout name.
    """
    d = _directory(directory)
    if name is None:
        name = detect_layout(d)
        if name is None:
            raise BadFileError(f"{d}: not a known data set layout (looked for tableA.csv + tableB.csv, "
                               f"{FLIPKART_CSV}, products.csv, <Name>.txt sequences, one table with a title "
                               f"column)")
    base, _, arg = name.partition(":")
    if base not in LAYOUTS:
        raise BadArgumentError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS)} (or s3rec:<Name>)")
    if arg and base != "s3rec":
        raise BadArgumentError(f"layout {base!r} takes no ':' argument, got {name!r}")
    if base == "deepmatcher":
        return load_deepmatcher(d)
    if base == "flipkart":
        return load_flipkart(d)
    if base == "grocery":
        return load_grocery(d)
    if base == "titles":
        return load_titles(d)
    return load_s3rec(d, arg or None)
