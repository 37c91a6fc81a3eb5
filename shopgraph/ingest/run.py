"""Ingest entry points used by the API and the CLI: a catalog file, an in-memory table (pandas or
Arrow), an interaction file, a dataset directory; and deleting products.

Every product ingest ends by merging brand variants (brands.py) and, for a full snapshot, removing the
platform's products the source no longer holds (sync.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterable

from shopgraph.errors import BadArgumentError
from shopgraph.ingest.interactions import (InteractionMapping, iter_interaction_source,
                                           load_interaction_mapping, read_interactions)
from shopgraph.ingest.brands import BrandMerger, load_aliases, merge_existing
from shopgraph.ingest.columns import script_warning
from shopgraph.ingest.layouts import load_layout, product_items
from shopgraph.ingest.mapping import ColumnMapping, load_mapping, mapping_from_dict, mapping_from_flags
from shopgraph.ingest.pipeline import (IngestSummary, ingest_interactions, ingest_records, ingest_same_as,
                                       quarantine_folder)
from shopgraph.ingest.quarantine import QuarantineWriter, run_file, run_stamp
from shopgraph.ingest.sync import remove_products, sync_platform
from shopgraph.ingest.validate import ProductStream, read_products
from shopgraph.progress import estimate_rows

log = logging.getLogger(__name__)

# Labelled pairs from these splits become SAME_AS edges; valid/test stay out of the graph so that
# models trained on the graph can still be evaluated on them.
SAME_AS_SPLITS = ("train",)


def _with_quarantine(graph, source_name: str, namespace: str, stamp: str,
                     ingest: Callable[[QuarantineWriter], IngestSummary]) -> IngestSummary:
    """Run one source's ingest with a quarantine file of its own for this run (created only when a row
    goes to it); the file is listed in the summary when it got rows."""
    target = run_file(quarantine_folder(graph.store_path), namespace, source_name, stamp)
    with QuarantineWriter(target) as quarantine:
        summary = ingest(quarantine)
    if quarantine.path is not None:
        summary.quarantine_files.append(str(quarantine.path))
    summary.platforms.append(namespace)
    return summary


def _products(graph, items: Iterable, source_name: str, platform: str, stamp: str, progress: bool,
              brands: BrandMerger | None = None, total: int | None = None) -> IngestSummary:
    summary = _with_quarantine(graph, source_name, platform, stamp, lambda quarantine: ingest_records(
        graph.store, items, graph.encoder, graph.config, quarantine, progress, platform, graph.image_root, brands,
        total=total))
    plan = getattr(items, "plan", None)
    if plan is not None:
        summary.columns.append(f"{source_name}: {plan.describe()}")
        for warning in plan.warnings:
            summary.warn(f"{source_name}: {warning}")
        script = script_warning(plan.title_script, graph.config.text.model_path)
        if script:
            summary.warn(f"{source_name}: {script}")
    return summary


def brand_merger(graph) -> BrandMerger:
    """A BrandMerger knowing the graph's brands and the configured alias file."""
    known = [r["name"] for r in graph.store.cypher("MATCH (b:Brand) RETURN b.name AS name")]
    return BrandMerger(known, load_aliases(graph.config.ingest.brand_aliases or None))


def _finish(graph, summary: IngestSummary, brands: BrandMerger) -> IngestSummary:
    """Merge brand variants left in the graph (written before their stem appeared) and list the merges."""
    merge_existing(graph.store, brands)
    summary.brand_merges = brands.lines()
    return summary


def _coerce_mapping(mapping) -> ColumnMapping:
    if mapping is None:
        raise BadArgumentError("a catalog needs a column mapping (--mapping FILE or --platform/--id-col/--title-col, "
                               "or a dict / ColumnMapping)")
    if isinstance(mapping, dict):
        return mapping_from_dict(mapping)
    return mapping if isinstance(mapping, ColumnMapping) else load_mapping(mapping)


def _fetcher(graph, fetch_images: bool | None):
    """The image downloader when fetching is on (argument, else config ingest.fetch_images)."""
    on = graph.config.ingest.fetch_images if fetch_images is None else fetch_images
    if not on:
        return None
    from shopgraph.ingest.images import ImageFetcher

    return ImageFetcher(Path(f"{graph.store_path or 'shopgraph'}.images"), graph.config.ingest)


def _snapshot(graph, stream: ProductStream, platform: str, summary: IngestSummary) -> None:
    deleted, retired = sync_platform(graph.store, platform, stream.seen_ids, graph.config.ingest.batch_size)
    summary.products_removed += deleted + retired
    summary.products_retired += retired


def _interactions(graph, items: Iterable, source_name: str, namespace: str, stamp: str,
                  progress: bool, total: int | None = None) -> IngestSummary:
    return _with_quarantine(graph, source_name, namespace, stamp, lambda quarantine: ingest_interactions(
        graph.store, items, quarantine, progress=progress, total=total))


def _rows_expected(path, format: str | None, progress: bool) -> int | None:
    """The bar's total for a table file with one row per record (only counted when a bar is shown)."""
    return estimate_rows(path, format) if progress else None


def ingest_file(graph, path: Path, mapping, *, progress: bool = True, source_name: str | None = None,
                full_snapshot: bool = False, fetch_images: bool | None = None) -> IngestSummary:
    """Ingest one catalog file; mapping is a ColumnMapping, a dict of mapping keys, or the path of a
    mapping file.

    source_name: what quarantine records and file names call the file (default: its path); the server
    passes the uploaded file's own name instead of the temporary file it was saved to. full_snapshot:
    the file is the platform's whole catalog: afterwards the platform's products it does not hold are
    removed (sync.py). fetch_images: download URL images (None: config ingest.fetch_images)."""
    mapping = _coerce_mapping(mapping)
    brands = brand_merger(graph)
    stream = read_products(path, mapping, graph.config.ingest, source_name=source_name,
                           fetch=_fetcher(graph, fetch_images))
    summary = _products(graph, stream, Path(source_name or path).name, mapping.platform, run_stamp(), progress, brands,
                        _rows_expected(path, mapping.format, progress))
    if full_snapshot:
        _snapshot(graph, stream, mapping.platform, summary)
    return _finish(graph, summary, brands)


def ingest_table(graph, table, mapping, *, progress: bool = True, source_name: str = "table",
                 full_snapshot: bool = False, fetch_images: bool | None = None) -> IngestSummary:
    """Ingest an in-memory table (a pandas DataFrame or a pyarrow Table) exactly as a file: the same
    mapping (dict or ColumnMapping; image names are relative to the working directory unless
    image_dir says otherwise), validation, quarantine and summary. source_name names it in quarantine
    records and the summary; line numbers are row index + 1."""
    from shopgraph.ingest.validate import read_table

    mapping = _coerce_mapping(mapping)
    brands = brand_merger(graph)
    stream = read_table(table, mapping, graph.config.ingest, source_name=source_name,
                        fetch=_fetcher(graph, fetch_images))
    summary = _products(graph, stream, source_name, mapping.platform, run_stamp(), progress, brands,
                        len(table) if progress else None)
    if full_snapshot:
        _snapshot(graph, stream, mapping.platform, summary)
    return _finish(graph, summary, brands)


def delete_products(graph, ids) -> IngestSummary:
    """Remove products by id (sync.remove_products); the summary counts products_removed / _retired."""
    ids = [ids] if isinstance(ids, str) else list(ids)
    if not ids or not all(isinstance(i, str) and i for i in ids):
        raise BadArgumentError("give one or more product ids (platform:id)")
    summary = IngestSummary()
    deleted, retired = remove_products(graph.store, ids)
    summary.products_removed, summary.products_retired = deleted + retired, retired
    return summary


def ingest_interaction_file(graph, path: Path, mapping, *, progress: bool = True) -> IngestSummary:
    """Ingest a user interaction file with an InteractionMapping (or a mapping file)."""
    if mapping is None:
        raise BadArgumentError("an interaction file needs a mapping (--mapping FILE or --platform/--user-col/--item-col)")
    if not isinstance(mapping, InteractionMapping):
        mapping = load_interaction_mapping(mapping)
    return _interactions(graph, read_interactions(path, mapping), Path(path).name, mapping.namespace, run_stamp(),
                         progress, _rows_expected(path, mapping.format, progress))


def ingest_layout(graph, directory: Path, name: str | None = None, *, progress: bool = True) -> IngestSummary:
    """Ingest every source of a dataset directory in a known layout (products, interactions, train pairs)."""
    layout = load_layout(directory, name)
    total = IngestSummary()
    stamp = run_stamp()
    brands = brand_merger(graph)
    for source in layout.products:
        items = product_items(source, graph.config.ingest)
        # a source with its own record reader may yield other than one record per row: no total
        expected = _rows_expected(source.path, source.mapping.format, progress) if source.records is None else None
        total.merge(_products(graph, items, source.path.name, source.mapping.platform, stamp, progress, brands,
                              expected))
    for path, spec in layout.interactions:
        table = isinstance(spec, InteractionMapping)  # else an S3-Rec file: many interactions per line
        namespace = spec.namespace if table else spec
        expected = _rows_expected(path, spec.format, progress) if table else None
        total.merge(_interactions(graph, iter_interaction_source(path, spec), Path(path).name, namespace, stamp,
                                  progress, expected))
    labelled = [p for split in SAME_AS_SPLITS for p in layout.labelled_pairs.get(split, [])]
    version = f"{layout.name}:train"
    positives = [(a, b) for a, b, label in labelled if label]
    negatives = [(a, b) for a, b, label in labelled if not label]
    if positives:
        total.same_as_written += ingest_same_as(graph.store, positives, method="label", model_version=version)
    if negatives:
        total.different_written += ingest_same_as(graph.store, negatives, method="label", model_version=version,
                                                  different=True)
    return _finish(graph, total, brands)


def mapping_from_args(args, interactions: bool):
    """A mapping from CLI flags, or loaded from the --mapping FILE (ConfigError when it is bad)."""
    if args.mapping:
        return load_interaction_mapping(args.mapping) if interactions else load_mapping(args.mapping)
    if not args.platform:
        raise BadArgumentError("give --mapping FILE, or --platform with the column flags")
    if interactions:
        if not (args.user_col and args.item_col):
            raise BadArgumentError("interactions need --user-col and --item-col")
        return InteractionMapping(namespace=args.platform, user=args.user_col, item=args.item_col,
                                  kind=args.kind_col, value=args.value_col, timestamp=args.timestamp_col)
    if not (args.id_col and args.title_col):
        raise BadArgumentError("a catalog needs --id-col and --title-col (or --mapping FILE)")
    return mapping_from_flags(args.platform, args.id_col, args.title_col,
                              description=",".join(args.description_col) if args.description_col else None,
                              price=args.price_col, currency=args.currency_col,
                              default_currency=args.default_currency, brand=args.brand_col,
                              category=args.category_col, category_separator=args.category_sep,
                              image=args.image_col, image_dir=args.image_dir, format=args.format,
                              identifiers=",".join(args.identifier_col) if getattr(args, "identifier_col", None) else None,
                              attributes=",".join(args.attribute_col) if getattr(args, "attribute_col", None) else None,
                              ignore=",".join(args.ignore_col) if getattr(args, "ignore_col", None) else None)
