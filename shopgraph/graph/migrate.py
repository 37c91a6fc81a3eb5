"""Copy a graph from one store to another (embedded <-> Neo4j, or embedded -> embedded), resumably.

    report = migrate(source_store, target_store, batch_size=1000)
    print(report.render())

What is copied: every node of every label with all its properties and vectors, every relationship with
its properties, and the source's Meta entries that describe the graph (vector widths, model names;
not the target's own bookkeeping: schema version, write generation, database id). Only through the GraphStore
interface, so any pair of stores works.

Resumable: each batch is written together with a progress record (a Meta entry `migration.progress`,
JSON: source fingerprint, step, position) in the same GraphBatch, so both commit in one transaction.
Run again after an interruption, the copy continues after the last committed batch; since writes are
idempotent upserts, nothing is doubled. A target that holds a graph but no progress record from this
source is refused.

Verification at the end: the counts of every label and relationship type, and a checksum over every
node (properties and vectors, in key order sorted in Python) and every relationship (sorted) must be
equal on both sides. `rev` (each store's own write stamp) is left out of the checksum. A failed
verification means the finished copy differs: the target has to be emptied and the migration rerun.

Only the graph is copied: trained models, the vector cache and quarantine files kept beside an
embedded database (`<db>.models/`, `<db>.cache.sqlite`, `<db>.quarantine/`) stay where they are.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from shopgraph.errors import BadArgumentError, StoreError
from shopgraph.graph import schema as S
from shopgraph.graph.mirror_state import EPOCH, EPOCHS
from shopgraph.graph.store import ANY_PRODUCT_CHANGED, DATABASE_ID, GraphBatch, GraphStore

log = logging.getLogger(__name__)

PROGRESS_KEY = "migration.progress"
DONE_KEY = "migration.done"
# The target's own bookkeeping: never copied from the source (its write epochs are its own lineage, and
# the unstamped-write marker is a generation of the source's counter, which would make every mirror
# sync of the target re-read every product until its own generation passed that number).
OWN_META = ("schema_version", "generation", DATABASE_ID, PROGRESS_KEY, DONE_KEY, EPOCH, EPOCHS, ANY_PRODUCT_CHANGED)
NODE_ORDER = ("Platform", "Brand", "Category", "Identifier", "Attribute", "User", "Product")  # endpoints before relationships
SKIPPED_PROPERTIES = ("rev",)


@dataclass
class MigrationReport:
    """What a migrate run did. counts: label/rel -> count on both sides; checksum: the shared one."""

    nodes: dict[str, int] = field(default_factory=dict)
    relationships: dict[str, int] = field(default_factory=dict)
    resumed_from: str | None = None
    seconds: float = 0.0
    checksum: str = ""
    verified: bool = False

    def render(self) -> str:
        lines = [f"{'copied':<16}{'count':>10}"]
        lines += [f"{name:<16}{n:>10,}" for name, n in {**self.nodes, **self.relationships}.items()]
        if self.resumed_from:
            lines.append(f"resumed after {self.resumed_from}")
        lines.append(f"checksum {self.checksum[:16]}  counts and checksum equal on both sides"
                     if self.verified else "not verified")
        lines.append(f"{self.seconds:.1f} s")
        return "\n".join(lines)


def migrate(source: GraphStore, target: GraphStore, *, batch_size: int = 1000, verify: bool = True,
            on_batch: Callable[[str, int], None] | None = None) -> MigrationReport:
    """Copy source into target (see the module doc). on_batch(step, rows) is called after each
    committed batch (progress display; tests interrupt a migration from it)."""
    if batch_size <= 0:
        raise BadArgumentError("batch_size must be positive")
    started = time.perf_counter()
    _check_dims(source, target)
    fingerprint = source_fingerprint(source)
    state = _resume_state(target, fingerprint)
    report = MigrationReport(resumed_from=_describe(state) if state else None)

    def commit(batch: GraphBatch, step: str, position, rows: int) -> None:
        progress = json.dumps({"source": fingerprint, "step": step, "position": position})
        batch.nodes.setdefault("Meta", []).append({"key": PROGRESS_KEY, "value": progress})
        target.write(batch)  # the rows and the progress record commit together
        if on_batch is not None:
            on_batch(step, rows)

    steps = [f"node:{label}" for label in NODE_ORDER] + [f"rel:{rel}" for rel in S.REL_TYPES] + ["meta"]
    start_at = steps.index(state["step"]) if state else 0
    for step in steps[start_at:]:
        position = state["position"] if state and state["step"] == step else None
        kind, _, name = step.partition(":")
        if kind == "node":
            for rows, last_key in _node_batches(source, name, batch_size, after=position):
                commit(GraphBatch(nodes={name: rows}), step, last_key, len(rows))
        elif kind == "rel":
            done = int(position or 0)
            for rows, end in _relationship_batches(source, name, batch_size, skip=done):
                commit(GraphBatch(relationships={name: rows}), step, end, len(rows))
        else:
            meta = [{"key": k, "value": v} for k, v in _meta(source).items() if k not in OWN_META]
            commit(GraphBatch(nodes={"Meta": meta}), "meta", None, len(meta))
        # Mark the step finished, so a resume starts at the next one.
        next_step = steps[steps.index(step) + 1] if step != steps[-1] else "done"
        target.set_meta(PROGRESS_KEY, json.dumps({"source": fingerprint, "step": next_step, "position": None}))

    report.nodes = {label: target.count_nodes(label) for label in S.DATA_LABELS}
    report.relationships = {rel: target.count_relationships(rel) for rel in S.REL_TYPES}
    if verify:
        try:
            report.checksum = verify_equal(source, target)
        except StoreError as e:
            # Every step is marked done, so running migrate again would not copy anything anew.
            raise StoreError(f"{e}; the copy finished but does not match the source: empty the target "
                             f"(or use a new one) and migrate again") from None
        report.verified = True
        target.set_meta(DONE_KEY, json.dumps({"source": fingerprint, "checksum": report.checksum}))
    report.seconds = time.perf_counter() - started
    return report


def verify_equal(source: GraphStore, target: GraphStore) -> str:
    """Raise StoreError unless both stores hold the same graph; returns the checksum."""
    theirs = target.stats()  # once: each stats() is a count query per label and relationship type
    differences = [f"{name}: {a} vs {theirs[name]}" for name, a in source.stats().items() if theirs[name] != a]
    if differences:
        raise StoreError("migration incomplete, counts differ (source vs target): " + "; ".join(differences))
    a, b = graph_checksum(source), graph_checksum(target)
    if a != b:
        raise StoreError(f"migration verification failed: checksums differ ({a[:16]} vs {b[:16]})")
    return a


def graph_checksum(store: GraphStore, batch_size: int = 2000) -> str:
    """SHA-256 over every node (all properties, vectors as float32 bytes, in key order) and every
    relationship (sorted rows), label by label. Store-independent: both sides give the same value for
    the same graph. rev (each store's write stamp) is left out."""
    digest = hashlib.sha256()
    for label in S.DATA_LABELS:
        digest.update(f"\x00node:{label}".encode())
        # Each row is hashed on its own and the row hashes are taken in key order sorted here, not
        # in the store's order (collations differ); only (key, 32 bytes) per node is held.
        key = S.node_type(label).key
        rows_by_key = []
        for rows, _ in _node_batches(store, label, batch_size):
            for row in rows:
                one = hashlib.sha256()
                for name in sorted(row):
                    if name not in SKIPPED_PROPERTIES:
                        one.update(_encode(name, row[name]))
                rows_by_key.append((str(row[key]), one.digest()))
        for _, row_digest in sorted(rows_by_key):
            digest.update(row_digest)
    for rel, spec in S.REL_TYPES.items():
        digest.update(f"\x00rel:{rel}".encode())
        for row in _sorted_pairs(store, rel):
            for name in ("src", "dst", *spec.properties):
                digest.update(_encode(name, row.get(name)))
    return digest.hexdigest()


def source_fingerprint(store: GraphStore) -> str:
    """Identifies a source graph (counts per label and type + vector widths), so a progress record
    from another source is never taken for this one."""
    text = json.dumps({"stats": store.stats(), "dims": str(store.dims)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


# -- internals -------------------------------------------------------------------------------------
def _check_dims(source: GraphStore, target: GraphStore) -> None:
    if source.dims != target.dims:
        raise StoreError(f"the target stores vectors of widths {target.dims}, the source {source.dims}; "
                         f"migrate into a new (empty) target")


def _resume_state(target: GraphStore, fingerprint: str) -> dict | None:
    raw = target.get_meta(PROGRESS_KEY)
    state = json.loads(raw) if raw else None
    if state is not None and state.get("source") == fingerprint:
        if state["step"] == "done":
            return {"source": fingerprint, "step": "meta", "position": None}  # rerun: only meta + verify
        return state
    if any(target.count_nodes(label) for label in S.DATA_LABELS):
        raise StoreError("the target already holds a graph that is not a partial copy of this source; "
                         "migrate into an empty database")
    return None


def _describe(state: dict) -> str:
    return f"{state['step']}" + (f" (position {state['position']})" if state.get("position") is not None else "")


def _vector_props(label: str) -> list[str]:
    return [p for p, t in S.node_type(label).properties.items() if t == S.VECTOR]


def _node_batches(store: GraphStore, label: str, batch_size: int, after=None) -> Iterator[tuple[list[dict], str]]:
    """(rows with all properties and vectors, last key) in key order, starting after `after`."""
    node = S.node_type(label)
    plain = [p for p, t in node.properties.items() if t != S.VECTOR]
    vectors = _vector_props(label)
    for rows in store.iter_nodes(label, plain, batch_size=batch_size):
        if after is not None:
            rows = [r for r in rows if r[node.key] > after]
        if not rows:        # an empty label (Identifier, Attribute in a catalog without them) may yield one empty batch
            continue
        ids = [r[node.key] for r in rows]
        for prop in vectors:
            got, matrix = store.get_vectors(label, prop, ids)
            found = dict(zip(got, matrix))
            for row in rows:
                row[prop] = found.get(row[node.key])
        yield rows, ids[-1]


def _sorted_pairs(store: GraphStore, rel: str) -> list[dict]:
    spec = S.rel_type(rel)
    rows = store.relationship_pairs(rel, list(spec.properties))
    return sorted(rows, key=lambda r: json.dumps([r["src"], r["dst"], *(r.get(p) for p in spec.properties)],
                                                 default=str))


def _relationship_batches(store: GraphStore, rel: str, batch_size: int, skip: int) -> Iterator[tuple[list[dict], int]]:
    """(rows, rows done after this batch) in a fixed order, skipping the first `skip` rows."""
    rows = _sorted_pairs(store, rel)
    for start in range(skip, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        yield [{k: v for k, v in r.items()} for r in chunk], start + len(chunk)


def _meta(store: GraphStore) -> dict[str, str]:
    """Every Meta entry of a store (through iter_nodes: Meta is a label like any other)."""
    return {row["key"]: row["value"] for rows in store.iter_nodes("Meta", ["key", "value"]) for row in rows}


def _encode(name: str, value) -> bytes:
    """A value's canonical bytes: type tag + content; floats as float64, vectors as float32."""
    head = name.encode() + b"="
    if value is None:
        return head + b"N;"
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return head + b"L" + json.dumps(list(value), ensure_ascii=False).encode("utf-8") + b";"
    if isinstance(value, (np.ndarray, list, tuple)):
        return head + b"V" + np.asarray(value, dtype=np.float32).tobytes() + b";"
    if isinstance(value, bool) or isinstance(value, np.bool_):
        return head + (b"T;" if value else b"F;")
    if isinstance(value, (int, np.integer)):
        return head + b"I" + str(int(value)).encode() + b";"
    if isinstance(value, (float, np.floating)):
        return head + b"D" + struct.pack("<d", float(value)) + b";"
    return head + b"S" + str(value).encode("utf-8") + b";"
