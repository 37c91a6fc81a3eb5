"""The ingest pipeline: read -> validate (bad rows to quarantine) -> skip unchanged -> encode -> write.

Each batch is written atomically, in a transaction that holds it whole (one or more batches: commit_rows),
so an ingest killed at any point and run again ends with the graph of an uninterrupted run: committed
batches come back unchanged (same content hash) and are skipped; the rest are written. Running the same ingest twice changes nothing.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from shopgraph.config import Config, IngestConfig
from shopgraph.graph.store import GraphStore
from shopgraph.ingest.graph_rows import different_from_batch, interaction_batch, product_batch, same_as_batch
from shopgraph.ingest.quarantine import QuarantineWriter
from shopgraph.ingest.summary import IngestSummary
from shopgraph.progress import bar, bars_and_logs
from shopgraph.records import InteractionRecord, ProductRecord, QuarantinedRow

__all__ = ["IngestSummary", "ingest_records", "ingest_interactions", "ingest_same_as", "quarantine_folder"]

log = logging.getLogger(__name__)


def quarantine_folder(store_path: Path | str | None) -> Path:
    """The folder of a database's quarantine files: `<db>.quarantine/`."""
    return Path(f"{store_path}.quarantine") if store_path else Path("shopgraph.quarantine")


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def ingest_records(store: GraphStore, items: Iterable[ProductRecord | QuarantinedRow], encoder, config: Config,
                   quarantine: QuarantineWriter, progress: bool = True, label: str = "products",
                   image_root: Path | None = None, brands=None, total: int | None = None) -> IngestSummary:
    """Write products (skipping unchanged ones) and send QuarantinedRows to the quarantine.

    Ids repeated within one source keep their first row; later ones are quarantined with the line of
    the first, never dropped silently. A product already in the graph with other content is replaced
    and counted (summary.products_replaced; a warning names the first); when the graph says another
    file wrote it (Product.source), summary.replaced_from_other_files counts it too. Each record's
    notes are counted (summary.notes). image_root: see graph_rows.product_batch. brands: a
    brands.BrandMerger (None: brand keys as normalise_brand gives them). total: the rows expected
    (progress.estimate_rows), for the bar's percentage and ETA; None when unknown.
    """
    summary = IngestSummary()
    started = time.perf_counter()
    first_line: dict[str, int] = {}
    stored = store.count_nodes("Product")  # products in the graph at the last commit
    committed = 0  # of summary.products_written
    unreported = 0  # rows read since the bar last moved
    with bars_and_logs(progress), bar(total, f"ingest {label}", "row", enabled=progress) as shown, \
            store.grouped_writes():
        for chunk in _batches(items, config.ingest.batch_size):
            records: list[ProductRecord] = []
            for item in chunk:
                summary.rows_read += 1
                if isinstance(item, QuarantinedRow):
                    quarantine.write(item)
                    continue
                if item.id in first_line:
                    quarantine.write(QuarantinedRow(item.source_file, item.source_line,
                                                    f"duplicate id {item.source_id!r} (first at line {first_line[item.id]})",
                                                    {"id": item.source_id, "title": item.title}))
                    continue
                first_line[item.id] = item.source_line
                records.append(item)
            # The bar counts committed rows; while a batch is encoded and written it says so.
            _write_products(store, records, encoder, summary, image_root, brands,
                            stage=shown.set_postfix_str)
            unreported += len(chunk)
            uncommitted = summary.products_written - committed
            if uncommitted >= commit_rows(config.ingest, stored):
                shown.set_postfix_str(f"committing {uncommitted:,} rows")
                store.commit_writes()
                stored, committed = stored + uncommitted, summary.products_written
            elif uncommitted:
                shown.set_postfix_str(f"{uncommitted:,} rows written, to commit at {commit_rows(config.ingest, stored):,}")
                continue
            # update first: clearing the stage text redraws at once, so the committed count shows
            # even when the batch took less than tqdm's minimum interval between draws.
            shown.update(unreported)
            unreported = 0
            shown.set_postfix_str("")
        if unreported:
            shown.set_postfix_str("committing")
            store.commit_writes()
            shown.update(unreported)
            shown.set_postfix_str("")
    summary.quarantined = quarantine.count
    summary.seconds = time.perf_counter() - started
    if summary.replaced_from_other_files:
        summary.warn(f"{label}: {summary.replaced_from_other_files} products another file had written were replaced "
                     f"(same ids; first: {summary.replaced[0]}); give each file a platform of its own")
    if summary.products_replaced:
        log.warning("%s: %d products already in the graph with other content were replaced (first: %s); "
                    "if another file's products share these ids, give that file a platform of its own",
                    label, summary.products_replaced, summary.replaced[0])
    return summary


def commit_rows(config: IngestConfig, stored: int) -> int:
    """Rows an ingest writes per transaction when the graph holds `stored` products: a share of the
    graph (config.commit_growth), at least one batch (config.batch_size), at most
    config.commit_max_rows. LadybugDB checkpoints at each commit of a COPY, at a cost that grows with
    the database, so a commit every batch made an ingest's commits quadratic in the catalog; commits
    that grow with it keep them linear up to the cap (each costs about as much as the rows written
    since the last one), and above it commit_max_rows / batch_size times fewer than per batch. The
    cap bounds the memory LadybugDB holds for a transaction's rows until its commit."""
    share = int(stored * config.commit_growth)
    return max(config.batch_size, min(share, config.commit_max_rows))


def _write_products(store: GraphStore, records: list[ProductRecord], encoder, summary: IngestSummary,
                    image_root: Path | None = None, brands=None, stage=lambda text: None) -> None:
    if not records:
        return
    for record in records:
        for kind, detail in record.notes:
            summary.note(kind, f"{record.id}: {detail}")
    stored = store.product_hashes([r.id for r in records])
    changed = [r for r in records if stored.get(r.id) != r.content_hash()]
    summary.products_unchanged += len(records) - len(changed)
    replaced = [r for r in changed if r.id in stored]
    summary.products_replaced += len(replaced)
    if replaced:
        sources = {row["id"]: row.get("source") for row in store.get_nodes("Product", [r.id for r in replaced],
                                                                             ["id", "source"])}
        elsewhere = [r for r in replaced if sources.get(r.id) and not _same_file(sources[r.id], r.source_file)]
        summary.replaced_from_other_files += len(elsewhere)
        first = elsewhere or replaced
        summary.replaced += [f"{r.id} (line {r.source_line} of {r.source_file}"
                             + (f"; was from {sources[r.id]})" if r in elsewhere else ")")
                             for r in first[:5 - len(summary.replaced)]]
    if not changed:
        return
    stage(f"encoding {len(changed):,} rows")
    encoded = encoder.encode(changed)
    summary.vectors_from_cache += encoded.cache_hits
    for record, ok, error in zip(changed, encoded.image_ok, encoded.image_errors):
        if not ok:  # no image column, a missing file, or one that does not decode: flagged, kept
            summary.images_missing += 1
            if record.image_path is not None:
                summary.image_problems.append(f"{record.id}: {error}")
    stage(f"writing {len(changed):,} rows")
    store.write(product_batch(changed, encoded, encoded.image_ok, image_root,
                              brands.resolve if brands is not None else None))
    summary.products_written += len(changed)
    summary.identifiers_written += sum(len(r.identifiers) for r in changed)
    summary.attributes_written += sum(len(r.attributes) for r in changed)


def _same_file(stored: str, current: str) -> bool:
    """Whether a product's recorded source file is the file being read: the same text, or the same
    path once resolved (a relative path from the CLI against the absolute one the demo recorded)."""
    if stored == current:
        return True
    try:
        return Path(stored).resolve() == Path(current).resolve()
    except (OSError, ValueError):
        return False


def ingest_interactions(store: GraphStore, items: Iterable[InteractionRecord | QuarantinedRow],
                        quarantine: QuarantineWriter, batch_size: int = 5000, progress: bool = True,
                        total: int | None = None) -> IngestSummary:
    """Write users and INTERACTED edges; rows naming an unknown product are quarantined. total: the
    rows expected, for the progress bar (None when unknown)."""
    summary = IngestSummary()
    started = time.perf_counter()
    with bars_and_logs(progress), bar(total, "ingest interactions", "row", enabled=progress) as shown:
        for chunk in _batches(items, batch_size):
            good: list[InteractionRecord] = []
            for item in chunk:
                summary.rows_read += 1
                if isinstance(item, QuarantinedRow):
                    quarantine.write(item)
                else:
                    good.append(item)
            known = set(store.product_hashes(sorted({r.product_id for r in good})))
            for record in good:
                if record.product_id not in known:
                    quarantine.write(QuarantinedRow(record.source_file, record.source_line,
                                                    f"unknown product {record.product_id!r}",
                                                    {"user": record.user_id, "item": record.product_id}))
            good = [r for r in good if r.product_id in known]
            if good:
                store.write(interaction_batch(good))
                summary.interactions_written += len(good)
            shown.update(len(chunk))
    summary.quarantined = quarantine.count
    summary.seconds = time.perf_counter() - started
    return summary


def ingest_same_as(store: GraphStore, pairs: Sequence[tuple[str, str]], method: str, model_version: str,
                   *, different: bool = False) -> int:
    """Write known matching pairs (or, with different=True, known non-matching pairs as DIFFERENT_FROM)
    whose both products exist; returns how many were written."""
    ids = sorted({i for pair in pairs for i in pair})
    known = set(store.product_hashes(ids))
    good = [(a, b) for a, b in pairs if a in known and b in known]
    for start in range(0, len(good), 5000):
        chunk = good[start:start + 5000]
        store.write(different_from_batch(chunk, method, model_version) if different
                    else same_as_batch(chunk, method, model_version))
    return len(good)
