"""Catalog sync: take products out of the graph (a full snapshot of a platform, or a delete).

`remove_products(store, ids)` retires products in chunks (REMOVE_CHUNK, or the ingest's batch_size), one transaction each
(GraphStore.retire_products: deleted, or kept as a `gone` tombstone when a SAME_AS / DIFFERENT_FROM
decision names them). `sync_platform(store, platform, present)` removes the platform's products whose
source id is not in `present` (the ids a full snapshot file holds). Both are idempotent: a run killed
between chunks and run again removes the rest and ends with the same graph.
"""

from __future__ import annotations

from typing import Iterable, Sequence

REMOVE_CHUNK = 1000


def remove_products(store, ids: Sequence[str], chunk: int = REMOVE_CHUNK) -> tuple[int, int]:
    """(deleted, kept as tombstones) over every id (unknown ids are ignored), `chunk` ids a transaction."""
    deleted = retired = 0
    ids = list(dict.fromkeys(ids))
    chunk = max(1, int(chunk))
    for start in range(0, len(ids), chunk):
        d, r = store.retire_products(ids[start:start + chunk])
        deleted, retired = deleted + d, retired + r
    return deleted, retired


def absent_products(store, platform: str, present: Iterable[str]) -> list[str]:
    """Ids of the platform's live (not gone) products whose source id is not in present, sorted."""
    present = set(present)
    rows = store.cypher("MATCH (p:Product) WHERE p.platform = $platform AND NOT coalesce(p.gone, false) "
                        "RETURN p.id AS id, p.source_id AS source_id", {"platform": platform})
    return sorted(r["id"] for r in rows if r["source_id"] not in present)


def sync_platform(store, platform: str, present: Iterable[str], chunk: int = REMOVE_CHUNK) -> tuple[int, int]:
    """Make the platform's products those of `present` (source ids): remove the others."""
    return remove_products(store, absent_products(store, platform, present), chunk)
