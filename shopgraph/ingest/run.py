"""Ingest entry points used by the API and the CLI: a catalog file, an interaction file, a dataset."""

from __future__ import annotations

import logging
from pathlib import Path

from shopgraph.errors import BadArgumentError
from shopgraph.ingest.interactions import InteractionMapping, read_interactions, read_s3rec_sequences
from shopgraph.ingest.layouts import load_layout
from shopgraph.ingest.mapping import ColumnMapping, load_mapping, mapping_from_flags
from shopgraph.ingest.pipeline import (IngestSummary, ingest_interactions, ingest_records, ingest_same_as,
                                       quarantine_path)
from shopgraph.ingest.quarantine import QuarantineWriter
from shopgraph.ingest.readers import check_columns, peek_columns, read_rows
from shopgraph.ingest.validate import validate_product
from shopgraph.records import QuarantinedRow

log = logging.getLogger(__name__)

# Labelled pairs from these splits become SAME_AS edges; valid/test stay out of the graph so that
# models trained on the graph can still be evaluated on them.
SAME_AS_SPLITS = ("train",)


def _image_base(path: Path, mapping: ColumnMapping, mapping_dir: Path | None) -> Path:
    if mapping.image_dir:
        base = Path(mapping.image_dir)
        if not base.is_absolute():
            base = (mapping_dir or path.parent) / base
        return base
    return path.parent


def product_items(path: Path, mapping: ColumnMapping, config, mapping_dir: Path | None = None):
    """Validated ProductRecords and QuarantinedRows of one catalog file, in file order."""
    check_columns(path, peek_columns(path, mapping.format), mapping)
    image_base = _image_base(path, mapping, mapping_dir)
    for line, row, error in read_rows(path, mapping.format):
        if error is not None:
            yield QuarantinedRow(str(path), line, error, row or {})
        else:
            yield validate_product(row, mapping, config.ingest, str(path), line, image_base)


def ingest_file(graph, path: Path, mapping, *, progress: bool = True) -> IngestSummary:
    """Ingest one catalog file; mapping is a ColumnMapping or the path of a mapping file."""
    mapping_dir = None
    if not isinstance(mapping, ColumnMapping):
        if mapping is None:
            raise BadArgumentError("a catalog file needs a column mapping (--mapping FILE or --platform/--id-col/--title-col)")
        mapping_dir = Path(mapping).parent
        mapping = load_mapping(mapping)
    items = product_items(path, mapping, graph.config, mapping_dir)
    target = quarantine_path(graph.store_path, path, mapping.platform)
    with QuarantineWriter(target) as quarantine:
        summary = ingest_records(graph.store, items, graph.encoder, graph.config, quarantine, progress, mapping.platform)
    if summary.quarantined:
        summary.quarantine_files.append(str(target))
    return summary


def ingest_interaction_file(graph, path: Path, mapping, *, progress: bool = True) -> IngestSummary:
    """Ingest a user interaction file with an InteractionMapping (or a mapping file)."""
    if not isinstance(mapping, InteractionMapping):
        if mapping is None:
            raise BadArgumentError("an interaction file needs a mapping (--mapping FILE or --platform/--user-col/--item-col)")
        from shopgraph.ingest.interactions import load_interaction_mapping

        mapping = load_interaction_mapping(mapping)
    target = quarantine_path(graph.store_path, path, mapping.namespace)
    with QuarantineWriter(target) as quarantine:
        summary = ingest_interactions(graph.store, read_interactions(path, mapping), quarantine, progress=progress)
    if summary.quarantined:
        summary.quarantine_files.append(str(target))
    return summary


def ingest_layout(graph, directory: Path, name: str | None = None, *, progress: bool = True) -> IngestSummary:
    """Ingest every source of a dataset directory in a known layout."""
    layout = load_layout(directory, name)
    total = IngestSummary()
    for source in layout.products:
        if source.records is not None:
            label = source.mapping.platform if source.mapping else layout.name
            target = quarantine_path(graph.store_path, source.path, label)
            with QuarantineWriter(target) as quarantine:
                part = ingest_records(graph.store, source.records(), graph.encoder, graph.config, quarantine,
                                      progress, label)
            if part.quarantined:
                part.quarantine_files.append(str(target))
        else:
            part = ingest_file(graph, source.path, source.mapping, progress=progress)
        total.merge(part)
    for path, namespace in layout.interactions:
        target = quarantine_path(graph.store_path, path, namespace)
        with QuarantineWriter(target) as quarantine:
            part = ingest_interactions(graph.store, read_s3rec_sequences(path, namespace), quarantine, progress=progress)
        if part.quarantined:
            part.quarantine_files.append(str(target))
        total.merge(part)
    pairs = [(a, b) for split in SAME_AS_SPLITS for a, b, label in layout.labelled_pairs.get(split, []) if label]
    if pairs:
        total.same_as_written += ingest_same_as(graph.store, pairs, method="label", model_version=f"{layout.name}:train")
    return total


def mapping_from_args(args, interactions: bool):
    """A mapping from CLI flags, or from --mapping FILE."""
    if args.mapping:
        if interactions:
            from shopgraph.ingest.interactions import load_interaction_mapping

            return load_interaction_mapping(args.mapping)
        return args.mapping
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
                              description=tuple(args.description_col or ()), price=args.price_col,
                              currency=args.currency_col, default_currency=args.default_currency,
                              brand=args.brand_col, category=args.category_col,
                              category_separator=args.category_sep, image=args.image_col,
                              image_dir=args.image_dir, format=args.format)
