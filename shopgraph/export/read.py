"""Read an export folder (write.py) back into a graph: `shopgraph ingest --dataset DIR`,
`ShopGraph.ingest_export(DIR)`.

Before anything is written, the manifest and every file are checked (manifest.read_manifest), the
schema version must be one this shopgraph reads, every label, type and column must be in the schema,
and exported vectors must have the target's widths: a bad folder is one error naming the file.

Then nodes are written label by label in the schema's order, then relationships type by type, in
batches, each batch one transaction of upserts, so a killed import run again ends with the same graph.
Products keep their exported properties (content_hash and rev included). Their vectors are the
exported ones, or, for an export without vectors, encoded here from the title, description and photo
as ingest does (photos found through the export's image_root, else this graph's; a photo that cannot be
found leaves image_missing set and is counted). Products already in the graph with the same content
hash are not encoded again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from shopgraph.errors import BadFileError, SchemaError
from shopgraph.export.manifest import FileEntry, Manifest, read_manifest
from shopgraph.graph import schema as S
from shopgraph.graph.store import GraphBatch

BATCH_ROWS = 2_000


def _read_table(folder: Path, manifest: Manifest, entry: FileEntry):
    """The file as an Arrow table with the manifest's column types (CSV ids stay strings)."""
    import pyarrow as pa

    from shopgraph.export.write import LIST_KINDS, arrow_type

    path = folder / entry.path
    try:
        if manifest.file_format == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            import pyarrow.csv as pacsv

            types = {c: (pa.string() if k in LIST_KINDS else arrow_type(k)) for c, k in entry.columns.items()}
            table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(newlines_in_values=True),
                                   convert_options=pacsv.ConvertOptions(
                column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False))
    except (OSError, pa.ArrowException) as e:
        raise BadFileError(f"{path}: cannot be read ({_first_line(e)})") from None
    if table.num_rows != entry.rows or set(table.column_names) != set(entry.columns):
        raise BadFileError(f"{path}: {table.num_rows} rows and columns {table.column_names}, the manifest says "
                           f"{entry.rows} rows and {list(entry.columns)}")
    return table


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _check_schema(manifest: Manifest, store) -> None:
    ours = store.get_meta("schema_version") or "0"
    theirs = manifest.schema_version or "0"
    if not theirs.isdigit() or int(theirs) > int(ours):
        raise SchemaError(f"the export has schema version {theirs}, this graph {ours}: read it with a shopgraph "
                          f"at least as new as the one that wrote it")
    for entry in manifest.files:
        known = (S.node_type(entry.name).properties if entry.kind == "node"
                 else {"src": S.STRING, "dst": S.STRING, **S.rel_type(entry.name).properties})
        unknown = [c for c in entry.columns if c not in known]
        if unknown:
            raise SchemaError(f"{entry.path}: columns {unknown} are not in this shopgraph's {entry.name} schema")
    if manifest.vectors:
        for key in ("text", "image", "lexical", "aligned", "gnn"):
            if int(manifest.vector_dims.get(key, getattr(store.dims, key))) != getattr(store.dims, key):
                raise SchemaError(f"the export's {key} vectors have width {manifest.vector_dims[key]}, this graph's "
                                  f"{getattr(store.dims, key)}; import into a new graph made with the same encoders")


def _slices(table):
    """(index of the first row, rows as dicts) of the table, BATCH_ROWS at a time."""
    for start in range(0, table.num_rows, BATCH_ROWS):
        yield start, table.slice(start, BATCH_ROWS).to_pylist()


def _decode_lists(rows: list[dict], columns: dict[str, str], csv: bool, path: Path, first: int) -> None:
    """Vector cells to float32 arrays and string-list cells to lists (CSV holds both as JSON arrays).
    A cell that is no array (an edited file) is a BadFileError naming path, column and row
    (first: the index of rows[0] in the file)."""
    for name, kind in columns.items():
        if kind not in (S.VECTOR, S.STRING_LIST):
            continue
        for i, row in enumerate(rows):
            value = row.get(name)
            try:
                if isinstance(value, str) and csv:
                    value = json.loads(value)
                if value is not None and not isinstance(value, list):
                    raise ValueError
                if kind == S.VECTOR:
                    row[name] = None if value is None else np.asarray(value, dtype=np.float32)
                else:
                    row[name] = None if value is None else [str(v) for v in value]
            except (ValueError, TypeError):
                raise BadFileError(f"{path}: column {name}, row {first + i + 1}: not a JSON array"
                                   + (" of numbers" if kind == S.VECTOR else "")) from None


def _check_list_cells(tables: dict, entries: dict, folder: Path) -> None:
    """Decode every list cell of the CSV tables once, before anything is written, so an edited cell
    in a late file or batch is an error with the graph untouched (not after earlier labels were
    written). Only the list columns are decoded, a slice at a time, and then dropped: holding them all
    decoded would cost the vectors' full size in memory. Parquet needs no pass: its list columns are typed."""
    for key, entry in entries.items():
        lists = [c for c, kind in entry.columns.items() if kind in (S.VECTOR, S.STRING_LIST)]
        if lists:
            for start, rows in _slices(tables[key].select(lists)):
                _decode_lists(rows, {c: entry.columns[c] for c in lists}, True, folder / entry.path, start)


def import_export(graph, folder: str | Path, *, progress: bool = False):
    """Read the export in folder into graph (a ShopGraph); returns an IngestSummary (rows read =
    nodes + relationships read; products written, unchanged, without image)."""
    from shopgraph.ingest.pipeline import IngestSummary
    from shopgraph.progress import bar

    folder = Path(folder)
    started = time.perf_counter()
    manifest = read_manifest(folder)
    store = graph.store
    _check_schema(manifest, store)
    entries = {(e.kind, e.name): e for e in manifest.files}
    summary = IngestSummary()
    tables = {key: _read_table(folder, manifest, e) for key, e in entries.items()}  # read all before writing
    csv = manifest.file_format == "csv"
    if csv:
        _check_list_cells(tables, entries, folder)
    with bar(total=sum(e.rows for e in manifest.files), desc="import", unit="row", enabled=progress) as shown:
        for label in S.DATA_LABELS:
            entry = entries.get(("node", label))
            if entry is None:
                continue
            for start, rows in _slices(tables[("node", label)]):
                read = len(rows)
                _decode_lists(rows, entry.columns, csv, folder / entry.path, start)
                summary.rows_read += len(rows)
                if label == "Product":
                    rows = _products(graph, rows, manifest, summary)
                if rows:
                    store.write(GraphBatch(nodes={label: rows}))
                shown.update(read)
        for name in S.REL_TYPES:
            entry = entries.get(("relationship", name))
            if entry is None:
                continue
            for _, rows in _slices(tables[("relationship", name)]):
                summary.rows_read += len(rows)
                store.write(GraphBatch(relationships={name: rows}))
                if name == "SAME_AS":
                    summary.same_as_written += len(rows)
                elif name == "DIFFERENT_FROM":
                    summary.different_written += len(rows)
                elif name == "INTERACTED":
                    summary.interactions_written += len(rows)
                shown.update(len(rows))
    platforms = tables.get(("node", "Platform"))
    summary.platforms = platforms.column("name").to_pylist() if platforms is not None else []
    summary.seconds = time.perf_counter() - started
    return summary


def _products(graph, rows: list[dict], manifest: Manifest, summary) -> list[dict]:
    """Product rows to write: unchanged ones (same content hash in the graph) left out; without
    exported vectors, the others encoded here."""
    stored = graph.store.product_hashes([r["id"] for r in rows])
    changed = [r for r in rows if stored.get(r["id"]) is None or stored[r["id"]] != r.get("content_hash")]
    summary.products_unchanged += len(rows) - len(changed)
    summary.products_written += len(changed)
    if manifest.vectors or not changed:
        return changed
    from shopgraph.ingest.image_refs import from_ref
    from shopgraph.records import CATEGORY_SEPARATOR, ProductRecord

    root = Path(manifest.image_root) if manifest.image_root and Path(manifest.image_root).is_dir() else graph.image_root
    records = []
    for r in changed:
        image = from_ref(r.get("image_ref"), root) if not r.get("image_missing") else None
        records.append(ProductRecord(
            platform=r.get("platform") or "", source_id=r.get("source_id") or "", title=r.get("title") or "",
            description=r.get("description") or "", price=r.get("price"), currency=r.get("currency"),
            brand=r.get("brand"), category_path=tuple((r.get("category") or "").split(CATEGORY_SEPARATOR))
            if r.get("category") else (), image_path=str(image) if image is not None else None))
    encoded = graph.encoder.encode(records)
    for i, row in enumerate(changed):
        ok = bool(encoded.image_ok[i])
        row.update({"text_vec": encoded.text[i], "lex_vec": encoded.lexical[i], "fused_vec": encoded.fused[i],
                    "image_vec": encoded.image[i] if ok else None})
        if encoded.aligned is not None:
            row.update({"txt_emb": encoded.aligned["text"][i], "mm_vec": encoded.aligned["fused"][i],
                        "img_emb": encoded.aligned["image"][i] if ok else None})
        if not ok:
            summary.images_missing += 1
            if row.get("image_ref") and not row.get("image_missing"):
                summary.image_problems.append(f"{row['id']}: {encoded.image_errors[i]}")
            row["image_missing"] = True
    return changed
