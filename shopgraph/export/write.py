"""Write a graph to a folder of files: nodes/<Label>.<ext> and relationships/<TYPE>.<ext> for every
label and relationship type of the schema, plus manifest.json.

Driven by schema.NODE_TYPES and REL_TYPES: a label or type added there is exported unchanged. Nodes
carry every property (vectors only with vectors=True); relationship rows are src and dst (the keys of
their two ends) and every property. Store bookkeeping (Meta) is left out; the manifest keeps what of
it matters (schema version, vector widths).

The folder is written as `<DIR>.partial-*` beside DIR and renamed to DIR when complete, so DIR
either does not exist or holds a whole export; an existing non-empty DIR is refused.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from shopgraph.errors import BadArgumentError
from shopgraph.export.manifest import FileEntry, Manifest, sha256
from shopgraph.graph import schema as S

BATCH_ROWS = 10_000

# Plain words for the manifest beside the generic description.
NOTES = {
    "SAME_AS": "status: label (known pair), matched, review (waiting for a person), accepted (a person "
               "said yes); evidence: JSON list of the feature groups behind score",
    "DIFFERENT_FROM": "known non-matches; method 'review' = a person rejected the proposed match",
    "INTERACTED": "kind: view, cart, purchase or rating; timestamp: seconds since the epoch or the "
                  "position in the user's sequence",
}


def arrow_type(kind: str):
    import pyarrow as pa

    return {S.STRING: pa.string(), S.DOUBLE: pa.float64(), S.INT64: pa.int64(), S.BOOL: pa.bool_(),
            S.VECTOR: pa.list_(pa.float32()), S.STRING_LIST: pa.list_(pa.string())}[kind]


LIST_KINDS = (S.VECTOR, S.STRING_LIST)  # written to CSV as JSON arrays


def _node_columns(label: str, vectors: bool) -> dict[str, str]:
    return {name: kind for name, kind in S.node_type(label).properties.items() if vectors or kind != S.VECTOR}


def _rel_columns(name: str) -> dict[str, str]:
    return {"src": S.STRING, "dst": S.STRING, **S.rel_type(name).properties}


class _TableFile:
    """Batches of rows appended to one Parquet or CSV file with a fixed schema."""

    def __init__(self, path: Path, columns: dict[str, str], file_format: str):
        import pyarrow as pa

        self.path, self.columns, self.file_format, self.rows = path, columns, file_format, 0
        self.schema = pa.schema([(name, arrow_type(kind)) for name, kind in columns.items()])
        self._writer = None

    def append(self, rows: list[dict]) -> None:
        import pyarrow as pa

        table = pa.Table.from_pylist(rows, schema=self.schema)
        if self.file_format == "csv":
            table = _lists_as_json(table, self.columns)
        if self._writer is None:
            if self.file_format == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self.path, self.schema)
            else:
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(self.path, table.schema)
        self._writer.write_table(table)
        self.rows += len(rows)

    def close(self) -> None:
        if self._writer is None:
            self.append([])  # an empty file still has its header / schema
        self._writer.close()


def _lists_as_json(table, columns: dict[str, str]):
    """CSV has no lists: vector and string-list cells as JSON arrays."""
    import pyarrow as pa

    for name, kind in columns.items():
        if kind in LIST_KINDS:
            i = table.schema.get_field_index(name)
            text = [None if v is None else json.dumps(v, ensure_ascii=False) for v in table.column(i).to_pylist()]
            table = table.set_column(i, name, pa.array(text, type=pa.string()))
    return table


def _node_batches(store, label: str, columns: dict[str, str]):
    """Rows of a label in key order, with their vectors when columns name any."""
    plain = [c for c, kind in columns.items() if kind != S.VECTOR]
    vectors = [c for c, kind in columns.items() if kind == S.VECTOR]
    key = S.node_type(label).key
    for rows in store.iter_nodes(label, plain, batch_size=BATCH_ROWS):
        ids = [r[key] for r in rows]
        for prop in vectors:
            got, values = store.get_vectors(label, prop, ids)
            found = dict(zip(got, values))
            for row in rows:
                vector = found.get(row[key])
                row[prop] = None if vector is None else vector.tolist()
        yield rows


def _holds_node(label: str, columns: dict[str, str]) -> str:
    return (f"{label} nodes, one row each, key {S.node_type(label).key}; columns: {', '.join(columns)}")


def _holds_rel(name: str) -> str:
    rel = S.rel_type(name)
    text = (f"(:{rel.src})-[:{name}]->(:{rel.dst}) relationships, one row each: src = the {rel.src}'s "
            f"{S.node_type(rel.src).key}, dst = the {rel.dst}'s {S.node_type(rel.dst).key}"
            + (f", then {', '.join(rel.properties)}" if rel.properties else ""))
    return f"{text}; {NOTES[name]}" if name in NOTES else text


def export_graph(graph, folder: str | Path, *, file_format: str = "parquet", vectors: bool = False) -> Manifest:
    """Write graph (a ShopGraph) to folder; returns the manifest. file_format: parquet or csv;
    vectors: include the vector properties (they are derived from the rest and large)."""
    from shopgraph import __version__

    if file_format not in ("parquet", "csv"):
        raise BadArgumentError(f"export format must be parquet or csv, got {file_format!r}")
    target = Path(folder)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BadArgumentError(f"{target} already exists and is not an empty folder; export to a new folder")
    if not target.parent.is_dir():
        raise BadArgumentError(f"{target}: the folder {target.parent} does not exist")
    store = graph.store
    partial = Path(tempfile.mkdtemp(prefix=f"{target.name}.partial-", dir=target.parent))
    try:
        manifest = Manifest(schema_version=store.get_meta("schema_version"), file_format=file_format,
                            vectors=vectors, vector_dims={"text": store.dims.text, "image": store.dims.image,
                                                          "lexical": store.dims.lexical, "aligned": store.dims.aligned,
                                                          "gnn": store.dims.gnn},
                            image_root=str(graph.image_root) if graph.image_root else None,
                            shopgraph_version=__version__, created=datetime.now(timezone.utc).isoformat())
        (partial / "nodes").mkdir()
        (partial / "relationships").mkdir()
        for label in S.DATA_LABELS:
            columns = _node_columns(label, vectors)
            out = _TableFile(partial / "nodes" / f"{label}.{file_format}", columns, file_format)
            for rows in _node_batches(store, label, columns):
                out.append(rows)
            out.close()
            manifest.files.append(_entry(partial, out, "node", label, _holds_node(label, columns)))
        for name, rel in S.REL_TYPES.items():
            columns = _rel_columns(name)
            out = _TableFile(partial / "relationships" / f"{name}.{file_format}", columns, file_format)
            rows = store.relationship_pairs(name, list(rel.properties))
            rows.sort(key=lambda r: (r["src"], r["dst"], *(str(r.get(k)) for k in rel.key)))
            for start in range(0, len(rows), BATCH_ROWS):
                out.append(rows[start:start + BATCH_ROWS])
            out.close()
            manifest.files.append(_entry(partial, out, "relationship", name, _holds_rel(name)))
        manifest.write(partial)
        if target.exists():
            target.rmdir()  # empty (checked above)
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def _entry(root: Path, out: _TableFile, kind: str, name: str, holds: str) -> FileEntry:
    return FileEntry(path=out.path.relative_to(root).as_posix(), kind=kind, name=name, rows=out.rows,
                     sha256=sha256(out.path), columns=dict(out.columns), holds=holds)
