"""Product identifiers: GTIN (EAN / UPC / ISBN-13), manufacturer part numbers and shop SKUs.

An identifier becomes an `(:Identifier {key, scheme, value})` node; two listings with the same GTIN
or MPN are one hop from it, so matching and search can meet there. key = "<scheme>:<value>":

- gtin: GTIN-8, -12 (UPC-A), -13 (EAN, ISBN-13) and -14, check digit validated by python-stdnum,
  written as the 14-digit GTIN (zero-padded on the left: UPC "036000291452" and EAN "0036000291452"
  are one key, "gtin:00036000291452"). An ISBN-10 in a GTIN column becomes its ISBN-13. A value that
  is not a valid GTIN is no identifier (validate.py keeps it as an attribute and counts it).
- mpn: NFKC, case-folded, with spaces, dashes, dots, slashes and underscores removed, so "SM-G991B",
  "sm g991b" and "SMG991B" meet ("mpn:smg991b"); the value as written stays on the edge (raw).
- sku: a shop's own code, normalised like an MPN and scoped by platform ("sku:shop_a:ab12"), so two
  shops' SKUs never meet by accident.

Column names that mean an identifier (IDENTIFIER_COLUMNS, compared after dropping case and
separators: "Model No.", "model_no", "MODELNO" are all "modelno") are data, not rules per dataset.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

SCHEMES = ("gtin", "mpn", "sku")

# Normalised column name -> scheme.
IDENTIFIER_COLUMNS = {
    **{name: "gtin" for name in ("gtin", "gtin8", "gtin12", "gtin13", "gtin14", "ean", "ean8", "ean13", "upc",
                                 "upca", "upc12", "isbn", "isbn10", "isbn13", "barcode")},
    **{name: "mpn" for name in ("mpn", "model", "modelno", "modelnumber", "modelnum", "modelid", "partnumber",
                                "partno", "manufacturerpartnumber", "mfrpartnumber", "mfgpartnumber")},
    **{name: "sku" for name in ("sku", "skuid", "skucode")},
}
MAX_IDENTIFIER_CHARS = 100
_MPN_DROP = re.compile(r"[\s\-‐‑‒–—.·/\\_]+")
_GTIN_SEPARATORS = re.compile(r"[\s\-]+")
GTIN_LENGTHS = (8, 12, 13, 14)


@dataclass(frozen=True)
class Identifier:
    """One identifier of a product: scheme (SCHEMES), value (normalised; for sku "<platform>:<code>"),
    raw (as written in the catalog) and column (the normalised name of the column it came from)."""

    scheme: str
    value: str
    raw: str
    column: str = ""

    @property
    def key(self) -> str:
        return f"{self.scheme}:{self.value}"


def column_scheme(column_name: str) -> str | None:
    """The identifier scheme a column's name means ("EAN-13" -> "gtin", "Model_No" -> "mpn"), or None."""
    squeezed = "".join(ch for ch in unicodedata.normalize("NFKC", column_name).casefold() if ch.isalnum())
    return IDENTIFIER_COLUMNS.get(squeezed)


def gtin(value: object) -> str | None:
    """The 14-digit GTIN of a value, or None when it is not a valid GTIN-8/12/13/14 (or ISBN-10)."""
    from stdnum import ean, isbn
    from stdnum.exceptions import ValidationError

    text = _GTIN_SEPARATORS.sub("", unicodedata.normalize("NFKC", str(value)).strip())
    if len(text) == 10 and text[:9].isdigit():
        try:
            text = isbn.to_isbn13(isbn.validate(text))
        except ValidationError:
            return None
    if not text.isdigit() or len(text) not in GTIN_LENGTHS:
        return None
    try:
        return ean.validate(text).zfill(14)
    except ValidationError:
        return None


def looks_like_gtin(value: object) -> bool:
    """Whether a value is a valid GTIN of 8, 12, 13 or 14 digits (no ISBN-10: that takes a GTIN column)."""
    text = _GTIN_SEPARATORS.sub("", str(value).strip())
    return text.isdigit() and len(text) in GTIN_LENGTHS and gtin(text) is not None


def compact_code(value: object) -> str:
    """An MPN or SKU for comparison: NFKC, case-folded, separators (spaces, dashes, dots, slashes,
    underscores) removed."""
    return _MPN_DROP.sub("", unicodedata.normalize("NFKC", str(value)).casefold())


def identifier(scheme: str, raw: object, platform: str, column: str = "") -> Identifier | None:
    """The Identifier of a raw value under a scheme, or None when it is blank or (gtin) invalid.

    Too long a value (MAX_IDENTIFIER_CHARS) is no identifier either: it is a description, and stays an
    attribute."""
    text = " ".join(str(raw).split())
    if not text or len(text) > MAX_IDENTIFIER_CHARS:
        return None
    if scheme == "gtin":
        value = gtin(text)
    elif scheme == "mpn":
        value = compact_code(text) or None
    elif scheme == "sku":
        code = compact_code(text)
        value = f"{platform}:{code}" if code else None
    else:
        raise ValueError(f"unknown identifier scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    return Identifier(scheme, value, text, column) if value else None
