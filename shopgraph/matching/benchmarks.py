"""Entity-matching benchmarks in the DeepMatcher/Magellan layout, as Listings plus labelled pairs.

A directory holds tableA.csv and tableB.csv (two catalogs) and train/valid/test.csv with
ltable_id, rtable_id, label. Any directory in that layout works (ingest.layouts.load_deepmatcher reads
it); the tables go through ingest's row validation, so a bad row is quarantined, never fatal.

`load_benchmark(directory)` reads such a directory whatever its columns (no store, no title column
needed): every column but the id becomes an attribute (key -> raw text); the layout's field columns
(LAYOUT_FIELDS, exact names: title or name, description, manufacturer or brand, price), where the table
has them, also fill the
Listings fields. A table with no title column gets, as its title for the text channels, the record
serialised: its values alone by default, or "key: value ..." with `with_keys` (the values alone
measured better on validation: docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shopgraph.errors import BadFileError
from shopgraph.ingest.layouts import read_pairs
from shopgraph.matching.listings import Listings
from shopgraph.matching.record_values import serialise

SPLITS = ("train", "valid", "test")


@dataclass
class PairSet:
    """Labelled pairs as rows into the two Listings: rows (m, 2) int64, labels (m,) int64 0/1."""

    rows: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class EMBenchmark:
    name: str
    directory: Path
    platforms: tuple[str, str]
    splits: dict[str, PairSet] = field(default_factory=dict)
    dropped_pairs: int = 0  # pairs naming a quarantined (or missing) listing
    skipped_rows: int = 0   # table rows load_benchmark could not use (no id, or a repeated id)


def benchmark_pairs(directory: str | Path, left: Listings, right: Listings) -> EMBenchmark:
    """The labelled pairs of a benchmark directory as rows into `left` (tableA) and `right` (tableB).

    left/right are the two platforms' listings (from the store after ingest, or built from records);
    a pair naming a listing that is not there (a quarantined row) is dropped and counted.
    """
    missing = [s for s in SPLITS if not (Path(directory) / f"{s}.csv").is_file()]
    if missing:
        raise BadFileError(f"{directory}: a matching benchmark needs {', '.join(s + '.csv' for s in missing)}")
    li, ri = left.index_of(), right.index_of()
    bench = EMBenchmark(Path(directory).name, Path(directory), (left.platform, right.platform))
    for split in SPLITS:
        rows, labels = [], []
        for a, b, label in read_pairs(Path(directory) / f"{split}.csv", left.platform, right.platform):
            if a in li and b in ri:
                rows.append((li[a], ri[b]))
                labels.append(label)
            else:
                bench.dropped_pairs += 1
        bench.splits[split] = PairSet(np.array(rows, dtype=np.int64).reshape(-1, 2), np.array(labels, dtype=np.int64))
    return bench


# The DeepMatcher layout's own field names (its convention, exact up to case): nothing else is read
# by name; every column, these included, is also an attribute.
LAYOUT_FIELDS = {"title": ("title", "name"), "description": ("description",), "brand": ("manufacturer", "brand"),
                 "price": ("price",)}


def _layout_fields(columns) -> dict[str, str | None]:
    """field -> the table's column for it (exact layout name, any case), or None."""
    by_case = {c.casefold(): c for c in columns}
    return {field: next((by_case[n] for n in names if n in by_case), None) for field, names in LAYOUT_FIELDS.items()}


def read_table(path: Path, platform: str, with_keys: bool = False) -> tuple[Listings, int]:
    """One DeepMatcher table as Listings (no vectors) and the number of rows skipped (no id, or an id
    seen before: such rows cannot be paired, so they are counted, not guessed at)."""
    from shopgraph.ingest.prices import read_price
    from shopgraph.ingest.readers import peek_columns, read_rows
    from shopgraph.records import product_id

    columns = peek_columns(path, "csv")
    if "id" not in columns:
        raise BadFileError(f"{path}: a DeepMatcher table needs an 'id' column (it has: {', '.join(sorted(columns))})")
    mapping = _layout_fields(columns)
    ids, titles, texts, brands, prices, attributes, skipped, seen = [], [], [], [], [], [], 0, set()
    for _line, row, error in read_rows(path, "csv"):
        raw_id = (row or {}).get("id")
        if error is not None or raw_id is None or not str(raw_id).strip() or str(raw_id).strip() in seen:
            skipped += 1
            continue
        seen.add(str(raw_id).strip())
        record = {k: " ".join(str(v).split()) for k, v in row.items() if k != "id" and v is not None}
        record = {k: v for k, v in record.items() if v}
        if mapping["title"] is not None:
            title = record.get(mapping["title"], "")
            description = record.get(mapping["description"], "") if mapping["description"] else ""
            text = f"{title}. {description}" if description else title
            brand = record.get(mapping["brand"], "") if mapping["brand"] else ""
            try:
                price = read_price(record.get(mapping["price"])).amount if mapping["price"] else None
            except ValueError:
                price = None
        else:
            title = text = serialise(record, with_keys)
            brand, price = "", None
        ids.append(product_id(platform, str(raw_id).strip()))
        titles.append(title)
        texts.append(text)
        brands.append(brand)
        prices.append(np.nan if price is None else price)
        attributes.append(record)
    return Listings(platform, ids, titles, texts, brands, prices=np.array(prices, dtype=np.float64),
                    attributes=attributes), skipped


def load_benchmark(directory: str | Path, with_keys: bool = False) -> tuple[Listings, Listings, EMBenchmark]:
    """(left = tableA, right = tableB, labelled pairs) of any DeepMatcher-layout directory, read
    straight from its files (see the module docstring); vectors are the caller's to add."""
    from shopgraph.ingest.layouts import deepmatcher_platforms, tables_share_records

    directory = Path(directory)
    for name in ("tableA.csv", "tableB.csv"):
        if not (directory / name).is_file():
            raise BadFileError(f"{directory}: not a DeepMatcher layout: missing {name}")
    platforms = deepmatcher_platforms(directory.resolve().name,
                                      tables_share_records(directory / "tableA.csv", directory / "tableB.csv"))
    left, skipped_a = read_table(directory / "tableA.csv", platforms[0], with_keys)
    right, skipped_b = read_table(directory / "tableB.csv", platforms[1], with_keys)
    bench = benchmark_pairs(directory, left, right)
    bench.skipped_rows = skipped_a + skipped_b
    return left, right, bench
