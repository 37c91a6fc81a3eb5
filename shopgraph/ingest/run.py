"""Ingest entry points used by the API and the CLI: a catalog file, an interaction file, a dataset."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterable

from shopgraph.errors import BadArgumentError
from shopgraph.ingest.interactions import (InteractionMapping, iter_interaction_source,
                                           load_interaction_mapping, read_interactions)
from shopgraph.ingest.layouts import load_layout, product_items
from shopgraph.ingest.mapping import ColumnMapping, load_mapping, mapping_from_flags
from shopgraph.ingest.pipeline import (IngestSummary, ingest_interactions, ingest_records, ingest_same_as,
                                       quarantine_folder)
from shopgraph.ingest.quarantine import QuarantineWriter, run_file, run_stamp
from shopgraph.ingest.validate import read_products
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
              total: int | None = None) -> IngestSummary:
    return _with_quarantine(graph, source_name, platform, stamp, lambda quarantine: ingest_records(
        graph.store, items, graph.encoder, graph.config, quarantine, progress, platform, graph.image_root,
        total=total))


def _interactions(graph, items: Iterable, source_name: str, namespace: str, stamp: str,
                  progress: bool, total: int | None = None) -> IngestSummary:
    return _with_quarantine(graph, source_name, namespace, stamp, lambda quarantine: ingest_interactions(
        graph.store, items, quarantine, progress=progress, total=total))


def _rows_expected(path, format: str | None, progress: bool) -> int | None:
    """The bar's total for a table file with one row per record (only counted when a bar is shown)."""
    return estimate_rows(path, format) if progress else None


def ingest_file(graph, path: Path, mapping, *, progress: bool = True, source_name: str | None = None) -> IngestSummary:
    """Ingest one catalog file; mapping is a ColumnMapping or the path of a mapping file.

    source_name: what quarantine records and file names call the file (default: its path); the server
    passes the uploaded file's own name instead of the temporary file it was saved to."""
    if mapping is None:
        raise BadArgumentError("a catalog file needs a column mapping (--mapping FILE or --platform/--id-col/--title-col)")
    if not isinstance(mapping, ColumnMapping):
        mapping = load_mapping(mapping)
    items = read_products(path, mapping, graph.config.ingest, source_name=source_name)
    return _products(graph, items, Path(source_name or path).name, mapping.platform, run_stamp(), progress,
                     _rows_expected(path, mapping.format, progress))


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
    for source in layout.products:
        items = product_items(source, graph.config.ingest)
        # a source with its own record reader may yield other than one record per row: no total
        expected = _rows_expected(source.path, source.mapping.format, progress) if source.records is None else None
        total.merge(_products(graph, items, source.path.name, source.mapping.platform, stamp, progress, expected))
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
    return total


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
                              image=args.image_col, image_dir=args.image_dir, format=args.format)
