"""Entity-matching benchmarks in the DeepMatcher/Magellan layout, as Listings plus labelled pairs.

A directory holds tableA.csv and tableB.csv (two catalogs) and train/valid/test.csv with
ltable_id, rtable_id, label. Any directory in that layout works (ingest.layouts.load_deepmatcher reads
it); the tables go through ingest's row validation, so a bad row is quarantined, never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shopgraph.errors import BadFileError
from shopgraph.ingest.layouts import load_deepmatcher
from shopgraph.matching.listings import Listings

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


def benchmark_pairs(directory: str | Path, left: Listings, right: Listings) -> EMBenchmark:
    """The labelled pairs of a benchmark directory as rows into `left` (tableA) and `right` (tableB).

    left/right are the two platforms' listings (from the store after ingest, or built from records);
    a pair naming a listing that is not there (a quarantined row) is dropped and counted.
    """
    layout = load_deepmatcher(directory, (left.platform, right.platform))
    missing = [s for s in SPLITS if s not in layout.labelled_pairs]
    if missing:
        raise BadFileError(f"{directory}: a matching benchmark needs {', '.join(s + '.csv' for s in missing)}")
    li, ri = left.index_of(), right.index_of()
    bench = EMBenchmark(Path(directory).name, Path(directory), (left.platform, right.platform))
    for split in SPLITS:
        rows, labels = [], []
        for a, b, label in layout.labelled_pairs[split]:
            if a in li and b in ri:
                rows.append((li[a], ri[b]))
                labels.append(label)
            else:
                bench.dropped_pairs += 1
        bench.splits[split] = PairSet(np.array(rows, dtype=np.int64).reshape(-1, 2), np.array(labels, dtype=np.int64))
    return bench
