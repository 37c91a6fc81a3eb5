"""Column mappings: which source column feeds which product field, for one platform's catalog file.

A mapping comes from a TOML (or JSON) file::

    platform = "shop_a"
    id = "sku"
    title = "name"
    description = ["desc", "features"]     # several columns are joined with "\\n"
    price = "price"
    default_currency = "USD"
    brand = "brand"
    category = "category"
    category_separator = ">"               # omitted: detected from the values
    image = "image_file"                   # one or several ("a.jpg|b.jpg", a list); the first is the main
    image_dir = "images"                   # relative to the mapping file
    identifiers = {model = "mpn", ean = "gtin"}   # or a list of columns with identifier names
    attributes = "*"                       # the default: every column not mapped above; or a list
    ignore = ["internal_note"]             # columns dropped (and named in the summary)

or from CLI flags (`mapping_from_flags`), where a relative image_dir is taken relative to the data
file's directory, or from a Python dict (`mapping_from_dict`).

Columns are planned by columns.plan_columns: every column is a field, an identifier, an attribute or
ignored; nothing is dropped without being named.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shopgraph.errors import ConfigError
from shopgraph.files import open_regular
from shopgraph.ingest.identifiers import SCHEMES, column_scheme
from shopgraph.names import check_platform

FORMATS = ("csv", "tsv", "jsonl", "parquet")
REQUIRED_KEYS = ("platform", "id", "title")
_OPTIONAL_COLUMNS = ("price", "currency", "brand", "category", "image")
ALL_COLUMNS = "*"


@dataclass(frozen=True)
class ColumnMapping:
    """Where each ProductRecord field comes from in one catalog file.

    Column fields (id, title, description, price, currency, brand, category, image) name source
    columns; None means the file has no such column. default_currency applies when no currency column
    is mapped or its value is blank. image names a column holding a file name or a path relative to
    image_dir (absolute paths are used as they are); image_dir None means the data file's directory.
    images_inside_dir: image values must be relative and resolve inside that directory (symbolic links
    followed); others count as missing images (the server sets it for uploaded catalogs).
    category_max_depth caps category paths (None: no cap). format None means "from the extension".
    platform is a valid platform name (names.py: 1-64 letters, digits, "_", "-", "."; it prefixes
    product ids, "<platform>:<id>", and quarantine file names): anything else is a ConfigError.
    """

    platform: str
    id: str
    title: str
    description: tuple[str, ...] = ()
    price: str | None = None
    currency: str | None = None
    default_currency: str | None = None
    brand: str | None = None
    category: str | None = None
    category_separator: str | None = None
    image: str | None = None
    image_dir: str | None = None
    images_inside_dir: bool = False
    format: str | None = None
    category_max_depth: int | None = 4
    identifiers: Any = ()
    attributes: Any = ALL_COLUMNS
    ignore: Any = ()
    detect_identifiers: bool = True

    def __post_init__(self) -> None:
        for name in REQUIRED_KEYS:
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"mapping key {name!r} must be a non-empty string, got {value!r}")
        check_platform(self.platform)
        description = self.description
        if isinstance(description, str):
            description = (description,)
        if not isinstance(description, (list, tuple)) or not all(isinstance(c, str) and c for c in description):
            raise ConfigError("mapping key 'description' must be a column name or a list of them, "
                              f"got {self.description!r}")
        object.__setattr__(self, "description", tuple(description))
        for name in _OPTIONAL_COLUMNS + ("default_currency", "image_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"mapping key {name!r} must be a string, got {value!r}")
            if value is not None and not value.strip():
                object.__setattr__(self, name, None)   # "" in a file or flag means "not mapped"
        if not isinstance(self.images_inside_dir, bool):
            raise ConfigError(f"mapping key 'images_inside_dir' must be true or false, got {self.images_inside_dir!r}")
        if self.category_separator is not None and (not isinstance(self.category_separator, str)
                                                     or not self.category_separator):
            raise ConfigError("mapping key 'category_separator' must be a non-empty string, "
                              f"got {self.category_separator!r}")
        object.__setattr__(self, "identifiers", _identifier_columns(self.identifiers))
        object.__setattr__(self, "ignore", _column_list(self.ignore, "ignore"))
        if self.attributes != ALL_COLUMNS:
            object.__setattr__(self, "attributes", _column_list(self.attributes, "attributes"))
        if not isinstance(self.detect_identifiers, bool):
            raise ConfigError(f"mapping key 'detect_identifiers' must be true or false, got {self.detect_identifiers!r}")
        fields = self.field_columns()
        for column, _ in self.identifiers:
            if column in fields:
                raise ConfigError(f"column {column!r} is mapped to a field and named as an identifier")
        if self.format is not None and self.format not in FORMATS:
            raise ConfigError(f"mapping key 'format' must be one of {', '.join(FORMATS)}, got {self.format!r}")
        depth = self.category_max_depth
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
            raise ConfigError(f"mapping key 'category_max_depth' must be a positive integer, got {depth!r}")

    def field_columns(self) -> set[str]:
        """The columns mapped to product fields (id, title, description, price, ...)."""
        cols = {self.id, self.title, *self.description}
        cols.update(c for c in (getattr(self, n) for n in _OPTIONAL_COLUMNS) if c is not None)
        return cols

    def columns(self) -> set[str]:
        """Every source column this mapping names (and a file must have): the fields, the identifier
        columns and the attributes listed by name."""
        cols = self.field_columns() | {c for c, _ in self.identifiers}
        if self.attributes != ALL_COLUMNS:
            cols.update(self.attributes)
        return cols

    def image_base(self, data_path: str | Path) -> Path | None:
        """Directory that relative image values are resolved against (None when no image column)."""
        if self.image is None:
            return None
        data_dir = Path(data_path).resolve().parent
        if self.image_dir is None:
            return data_dir
        base = Path(self.image_dir).expanduser()
        return base if base.is_absolute() else data_dir / base


def _column_list(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(c, str) and c for c in value):
        raise ConfigError(f"mapping key {key!r} must be a list of column names, got {value!r}")
    return tuple(value)


def _identifier_columns(value: Any) -> tuple[tuple[str, str], ...]:
    """(column, scheme) pairs from a {column: scheme} table or a list of columns named after their scheme."""
    if isinstance(value, dict):
        pairs = list(value.items())
    else:
        pairs = []
        for column in _column_list(value, "identifiers"):
            scheme = column_scheme(column)
            if scheme is None:
                raise ConfigError(f"identifier column {column!r}: its name does not say gtin, mpn or sku; "
                                  f"give it as identifiers = {{{column} = \"mpn\"}}")
            pairs.append((column, scheme))
    for column, scheme in pairs:
        if not isinstance(column, str) or not column or scheme not in SCHEMES:
            raise ConfigError(f"identifier column {column!r}: scheme must be one of {', '.join(SCHEMES)}, "
                              f"got {scheme!r}")
    return tuple(pairs)


_FIELDS = {f.name for f in dataclasses.fields(ColumnMapping)}


def read_mapping_file(path: Path) -> dict[str, Any]:
    """The top-level table of a TOML (or, for *.json, JSON) mapping file; ConfigError when unreadable."""
    try:
        with open_regular(path) as f:
            text = f.read().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"mapping file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"mapping file {path} is a directory") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read mapping file {path}: {e}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"{path}: not valid JSON: {e}") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a mapping must be a table of keys, got {type(data).__name__}")
    return data


def load_mapping(path: str | Path) -> ColumnMapping:
    """Read a mapping from TOML (JSON when the name ends in .json).

    Unknown or missing keys and wrongly typed values raise ConfigError naming the file and the key.
    A relative image_dir is resolved against the mapping file's directory; category_max_depth = 0
    means no cap.
    """
    path = Path(path)
    data = read_mapping_file(path)
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_FIELDS))})")
    for key in REQUIRED_KEYS:
        if key not in data:
            raise ConfigError(f"{path}: missing required key {key!r}")
    if data.get("category_max_depth") == 0:     # TOML has no null: 0 means "no cap"
        data["category_max_depth"] = None
    image_dir = data.get("image_dir")
    if isinstance(image_dir, str) and image_dir.strip() and not Path(image_dir).expanduser().is_absolute():
        data["image_dir"] = str((path.resolve().parent / image_dir).resolve())
    try:
        return ColumnMapping(**data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def mapping_from_dict(data: dict[str, Any]) -> ColumnMapping:
    """A mapping from a Python dict with the keys of a mapping file (ConfigError for unknown or
    missing keys); a relative image_dir stays relative to the data file's directory."""
    if isinstance(data, ColumnMapping):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"a mapping is a dict or a ColumnMapping, got {type(data).__name__}")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ConfigError(f"unknown mapping key {unknown[0]!r} (allowed: {', '.join(sorted(_FIELDS))})")
    for key in REQUIRED_KEYS:
        if key not in data:
            raise ConfigError(f"mapping: missing required key {key!r}")
    return ColumnMapping(**data)


def mapping_from_flags(platform: str, id_col: str, title_col: str, **optional: Any) -> ColumnMapping:
    """A mapping from CLI flags. optional takes the other ColumnMapping fields; None values are
    ignored (flags not given), a description string is split on commas, unknown names raise ConfigError.
    """
    unknown = sorted(set(optional) - _FIELDS)
    if unknown:
        allowed = ", ".join(sorted(_FIELDS - set(REQUIRED_KEYS)))
        raise ConfigError(f"unknown mapping option {unknown[0]!r} (allowed: {allowed})")
    given = {k: v for k, v in optional.items() if v is not None}
    for key in ("description", "ignore"):
        if isinstance(given.get(key), str):
            given[key] = tuple(c.strip() for c in given[key].split(",") if c.strip())
    if isinstance(given.get("attributes"), str) and given["attributes"] != ALL_COLUMNS:
        given["attributes"] = tuple(c.strip() for c in given["attributes"].split(",") if c.strip())
    if isinstance(given.get("identifiers"), str):
        given["identifiers"] = _identifier_flag(given["identifiers"])
    if "category_max_depth" in given and isinstance(given["category_max_depth"], str):
        text = given["category_max_depth"].strip().lower()
        try:
            given["category_max_depth"] = None if text in ("none", "0", "") else int(text)
        except ValueError:
            raise ConfigError(f"category_max_depth must be an integer, got {text!r}") from None
    return ColumnMapping(platform=platform, id=id_col, title=title_col, **given)


def _identifier_flag(text: str) -> dict[str, str] | tuple[str, ...]:
    """--identifier-col values: "model=mpn,ean" -> {"model": "mpn", "ean": <scheme from its name>}."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        column, sep, scheme = part.partition("=")
        column = column.strip()
        if sep:
            out[column] = scheme.strip()
        else:
            found = column_scheme(column)
            if found is None:
                raise ConfigError(f"identifier column {column!r}: its name does not say gtin, mpn or sku; "
                                  f"write it as {column}=mpn (or gtin, sku)")
            out[column] = found
    return out
