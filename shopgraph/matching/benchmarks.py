"""Entity-matching benchmarks in the DeepMatcher/Magellan layout, as Listings plus labelled pairs.

A directory holds tableA.csv and tableB.csv (two catalogs) and train/valid/test.csv with
ltable_id, rtable_id, label. Any directory in that layout works (ingest.layouts.load_deepmatcher reads
it); the tables go through ingest's row validation, so a bad row is quarantined, never fatal.

`load_benchmark(directory)` reads such a directory whatever its columns (no store, no title column
needed): every column but the id becomes an attribute (key -> raw text); the columns that fill the
Listings fields (name, description, brand, price) are chosen from their values (table_fields.py),
no column name is read. A table with no text column gets, as its title for the text channels, the
record serialised: its values alone by default, or "key: value ..." with `with_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shopgraph.errors import BadFileError
from shopgraph.ingest.layouts import read_pairs
from shopgraph.matching.listings import Listings
from shopgraph.matching.record_values import serialise
from shopgraph.matching.table_fields import TableFields, table_fields

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
    fields: TableFields | None = None  # the columns load_benchmark chose for the listing fields


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


def read_records(path: Path) -> tuple[list[str], list[dict[str, str]], int]:
    """One DeepMatcher table's (raw ids, records key -> text with blanks left out, rows skipped): a row
    with no id, or an id seen before, cannot be paired, so it is counted, not guessed at."""
    from shopgraph.ingest.readers import peek_columns, read_rows

    columns = peek_columns(path, "csv")
    if "id" not in columns:
        raise BadFileError(f"{path}: a DeepMatcher table needs an 'id' column (it has: {', '.join(sorted(columns))})")
    ids, records, skipped = [], [], 0
    seen = set()
    for _line, row, error in read_rows(path, "csv"):
        raw_id = str((row or {}).get("id") or "").strip()
        if error is not None or not raw_id or raw_id in seen:
            skipped += 1
            continue
        seen.add(raw_id)
        record = {k: " ".join(str(v).split()) for k, v in row.items() if k != "id" and v is not None}
        ids.append(raw_id)
        records.append({k: v for k, v in record.items() if v})
    return ids, records, skipped


def table_listings(platform: str, ids: list[str], records: list[dict[str, str]], fields: TableFields,
                   with_keys: bool = False) -> Listings:
    """Listings (no vectors) of one table's records, the fields filled from the `fields` columns;
    without a name column the title is the record serialised (values alone, or "key: value" text
    with `with_keys`)."""
    from shopgraph.ingest.prices import read_price
    from shopgraph.records import product_id

    titles, texts, brands, prices = [], [], [], []
    for record in records:
        if fields.name is not None:
            title = record.get(fields.name, "")
            description = record.get(fields.description, "") if fields.description else ""
            text = f"{title}. {description}" if description else title
        else:
            title = text = serialise(record, with_keys)
        try:
            price = read_price(record.get(fields.price)).amount if fields.price else None
        except ValueError:
            price = None
        titles.append(title)
        texts.append(text)
        brands.append(record.get(fields.brand, "") if fields.brand else "")
        prices.append(np.nan if price is None else price)
    return Listings(platform, [product_id(platform, i) for i in ids], titles, texts, brands,
                    prices=np.array(prices, dtype=np.float64), attributes=records)


def load_benchmark(directory: str | Path, with_keys: bool = False) -> tuple[Listings, Listings, EMBenchmark]:
    """(left = tableA, right = tableB, labelled pairs) of any DeepMatcher-layout directory, read
    straight from its files (see the module docstring; the field columns chosen from both tables'
    values together, bench.fields); vectors are the caller's to add."""
    from shopgraph.ingest.layouts import deepmatcher_platforms, tables_share_records

    directory = Path(directory)
    for name in ("tableA.csv", "tableB.csv"):
        if not (directory / name).is_file():
            raise BadFileError(f"{directory}: not a DeepMatcher layout: missing {name}")
    platforms = deepmatcher_platforms(directory.resolve().name,
                                      tables_share_records(directory / "tableA.csv", directory / "tableB.csv"))
    ids_a, records_a, skipped_a = read_records(directory / "tableA.csv")
    ids_b, records_b, skipped_b = read_records(directory / "tableB.csv")
    # One choice for both tables, from both tables' values: a column plays the same field on both sides.
    fields = table_fields(records_a + records_b)
    left = table_listings(platforms[0], ids_a, records_a, fields, with_keys)
    right = table_listings(platforms[1], ids_b, records_b, fields, with_keys)
    bench = benchmark_pairs(directory, left, right)
    bench.fields = fields
    bench.skipped_rows = skipped_a + skipped_b
    return left, right, bench
