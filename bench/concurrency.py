"""Readers beside a writer on one embedded database: reader errors and latency while writing vs idle,
writer rows/s with vs without readers, and whether the vector index equals the graph afterwards.

    python -m bench.concurrency                     # 30 s per phase, 3 readers, batches of 20
    python -m bench.concurrency --seconds 20 --workdir /tmp/cc

Processes (all real, spawned): one writer (`EmbeddedStore.write` of batches of new products, with
re-written vectors of earlier products in every batch, a whole earlier batch deleted every 7th batch
and a Cypher write every 11th), and readers of three kinds:
- api:   one long-lived `ShopGraph` (read-only) answering text searches (MiniLM query encoding);
- store: one long-lived read-only `EmbeddedStore`: vector_search on fused_vec and text_vec (with and
         without filters), get_nodes, and a Cypher check that no batch is seen half-written (every
         batch's products share a brand; a brand counts exactly --batch products or none);
- cli:   opens the database afresh for each search, as `shopgraph search` does.
A reader counts every error; StoreBusyError is the only retryable one. A reader that dies (e.g. a
segfault in the database binding) shows as a non-zero exit code.

Phases: (1) writer alone for --seconds (rows/s baseline); (2) readers alone on the still database
(idle latency); (3) writer and readers together. Then the index check in a fresh process: each
searched property's index, loaded from disk and synced, holds exactly the graph's products with their
stored vectors, every product's own text_vec finds itself first with its exact score, and fused_vec
top-10 lists equal exact scoring in the database for sampled products. Last, in this process on the
still database: what the protocol costs one read (a Meta read and a search through a read-only
store, beside the same query on a raw connection and the same search on the index alone, calls
alternating), and reads alone vs beside four Cypher queries running to their time limit.

The bounded form runs in `make test` (tests/graph/test_readers_beside_writer.py calls `stress` and
`verify_index` with a few seconds per phase).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import shutil
import time
import traceback
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.common import args_settings, peak_rss_mb, percentiles, print_table, report_bars, write_results

PACKAGES = ("numpy", "ladybug", "faiss-cpu", "sentence-transformers")
PLATFORM = "shop_w"
WORDS = ("red", "travel", "backpack", "steel", "bottle", "wireless", "headphones", "black", "linen", "lamp")
INDEX_MIN_ANN = 256  # small enough that the stress graph uses HNSW, not only exact scans
SEARCHED = ("fused_vec", "text_vec")


# -- the writer -----------------------------------------------------------------------------------
def _unit(rng, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _products(rng, batch_no: int, n: int, dims) -> list[dict]:
    text, image, lexical = _unit(rng, n, dims.text), _unit(rng, n, dims.image), _unit(rng, n, dims.lexical)
    fused = np.concatenate([text, 0.6 * image, 0.5 * lexical], axis=1) / np.sqrt(1 + 0.36 + 0.25)
    rows = []
    for i in range(n):
        words = " ".join(rng.choice(WORDS, 3))
        rows.append({"id": f"{PLATFORM}:{batch_no}-{i}", "platform": PLATFORM, "source_id": f"{batch_no}-{i}",
                     "title": f"{words} item {batch_no}-{i}", "description": "", "price": float(rng.uniform(5, 200)),
                     "currency": "USD", "brand": f"batch{batch_no:05d}", "category": "Home > Things",
                     "image_ref": None, "image_missing": False, "content_hash": f"h{batch_no}-{i}",
                     "text_vec": text[i].tolist(), "image_vec": image[i].tolist(), "lex_vec": lexical[i].tolist(),
                     "fused_vec": (fused[i] * rng.uniform(0.6, 1.0)).tolist()})
    return rows


def _batch(products: list[dict]):
    from shopgraph.graph.store import GraphBatch

    categories = [{"path": "Home", "name": "Home", "depth": 1}, {"path": "Home > Things", "name": "Things", "depth": 2}]
    brands = {p["brand"] for p in products}
    return GraphBatch(
        nodes={"Platform": [{"name": PLATFORM}], "Brand": [{"name": b, "display_name": b} for b in brands],
               "Category": categories, "Product": products},
        relationships={"LISTED_ON": [{"src": p["id"], "dst": PLATFORM} for p in products],
                       "OF_BRAND": [{"src": p["id"], "dst": p["brand"]} for p in products],
                       "IN_CATEGORY": [{"src": p["id"], "dst": p["category"]} for p in products],
                       "SUBCATEGORY_OF": [{"src": "Home > Things", "dst": "Home"}]},
        replace_outgoing={r: [p["id"] for p in products] for r in ("LISTED_ON", "OF_BRAND", "IN_CATEGORY")})


def writer_main(db: str, seconds: float, batch: int, seed: int, start_batch: int, ready: str, go: str,
                out: str) -> None:
    """Write one batch, touch `ready`, wait for the file `go`, then write batches for `seconds`;
    results (batches, rows, write latencies) as JSON to out."""
    from shopgraph.config import IndexConfig
    from shopgraph.graph.embedded import EmbeddedStore

    rng = np.random.default_rng(seed)
    result = {"batches": 0, "rows": 0, "write_ms": [], "deleted_batches": 0, "errors": []}
    store = EmbeddedStore.open(db, index_config=IndexConfig(min_ann_size=INDEX_MIN_ANN))
    live = [int(r["b"][5:]) for r in store.cypher("MATCH (p:Product) RETURN DISTINCT p.brand AS b")]
    batch_no = start_batch
    if not live:  # readers start on a database with products
        batch_no += 1
        store.write(_batch(_products(rng, batch_no, batch, store.dims)))
        live.append(batch_no)
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.01)
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            batch_no += 1
            products = _products(rng, batch_no, batch, store.dims)
            if live:  # new vectors for two products of earlier batches (index slots replaced)
                for old in rng.choice(live, 2):
                    again = _products(rng, int(old), batch, store.dims)[int(rng.integers(batch))]
                    products.append(again)
            t = time.perf_counter()
            store.write(_batch(products))
            result["write_ms"].append((time.perf_counter() - t) * 1000)
            result["rows"] += len(products)
            live.append(batch_no)
            if batch_no % 7 == 0 and len(live) > 3:  # a whole earlier batch goes (index removals)
                gone = live.pop(int(rng.integers(len(live) - 1)))
                store.delete_nodes("Product", [f"{PLATFORM}:{gone}-{i}" for i in range(batch)])
                result["deleted_batches"] += 1
            if batch_no % 11 == 0:  # a Cypher write restamps every product
                store.cypher("MATCH (p:Product) WHERE p.brand = $b SET p.price = p.price + 1",
                             {"b": f"batch{live[0]:05d}"}, allow_write=True)
            result["batches"] += 1
    except Exception as e:  # recorded, not raised: the parent reports it
        result["errors"].append(f"{type(e).__name__}: {e}")
    finally:
        result["seconds"] = time.perf_counter() - started
        result["lock_wait_ms"] = [w * 1000 for w in store._access.write_waits]
        result["peak_rss_mb"] = peak_rss_mb()
        store.close()
        Path(out).write_text(json.dumps(result))


# -- the readers ----------------------------------------------------------------------------------
class _Tally:
    def __init__(self):
        self.ms: dict[str, list[float]] = defaultdict(list)
        self.retryable: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.inconsistent = 0

    def time(self, name: str, fn):
        from shopgraph.errors import StoreBusyError

        t = time.perf_counter()
        try:
            value = fn()
        except StoreBusyError as e:
            self.retryable[str(e)[:160]] += 1
            return None
        except Exception as e:
            self.errors[f"{name}: {type(e).__name__}: {str(e)[:200]}"] += 1
            return None
        self.ms[name].append((time.perf_counter() - t) * 1000)
        return value

    def to_dict(self) -> dict:
        return {"ms": self.ms, "retryable": self.retryable, "errors": self.errors,
                "inconsistent": self.inconsistent}


def reader_main(kind: str, db: str, batch: int, seed: int, stop: str, out: str) -> None:
    """Set up, touch `<out>.ready`, read until the file `stop` exists; results as JSON to out."""
    from shopgraph.config import Config, IndexConfig
    from shopgraph.graph.embedded import EmbeddedStore
    from shopgraph.graph.store import Filters

    rng = np.random.default_rng(seed)
    tally = _Tally()
    index = IndexConfig(min_ann_size=INDEX_MIN_ANN)
    try:
        if kind == "api":
            import torch

            from shopgraph.queries.api import ShopGraph

            torch.set_num_threads(1)  # as `shopgraph serve` does: requests, not one query, share the cores

            graph = ShopGraph.open(db, config=Config(index=index), read_only=True)
            graph.encoder.encode_query(text="warm up")  # model load is not a search
            Path(f"{out}.ready").touch()
            while not Path(stop).exists():
                text = " ".join(rng.choice(WORDS, 2))
                tally.time("api search", lambda: graph.search(text=text, k=10))
            graph.close()
        elif kind == "store":
            store = EmbeddedStore.open(db, read_only=True, index_config=index)
            ids: list[str] = []
            step = 0
            Path(f"{out}.ready").touch()
            while not Path(stop).exists():
                step += 1
                query = _unit(rng, 1, store.dims.fused)[0]
                tally.time("vector_search fused", lambda: store.vector_search("fused_vec", query, 10))
                text_query = _unit(rng, 1, store.dims.text)[0]
                filters = Filters(category="Home") if step % 2 else None
                tally.time("vector_search text", lambda: store.vector_search("text_vec", text_query, 10, filters=filters))
                counts = tally.time("cypher", lambda: store.cypher(
                    "MATCH (p:Product) RETURN p.brand AS b, count(*) AS n, collect(p.id)[1] AS one"))
                if counts is not None:
                    if any(r["n"] != batch for r in counts):
                        tally.inconsistent += 1
                    ids = [r["one"] for r in counts]
                if ids:
                    asked = [str(i) for i in rng.choice(ids, min(5, len(ids)))]
                    tally.time("get_nodes", lambda: store.get_nodes("Product", asked))
            store.close()
        elif kind == "cli":
            Path(f"{out}.ready").touch()
            while not Path(stop).exists():
                def one_search():
                    with EmbeddedStore.open(db, read_only=True, index_config=index) as store:
                        store.vector_search("fused_vec", _unit(rng, 1, store.dims.fused)[0], 10)
                        return store.vector_search("text_vec", _unit(rng, 1, store.dims.text)[0], 10)

                tally.time("open + 2 searches", one_search)
        else:
            raise ValueError(kind)
    except Exception:
        tally.errors["reader setup: " + traceback.format_exc(limit=3)[-300:]] += 1
        Path(f"{out}.ready").touch()
    Path(out).write_text(json.dumps(tally.to_dict()))


# -- running a phase ------------------------------------------------------------------------------
def stress(db: Path, workdir: Path, *, seconds: float, kinds: tuple[str, ...], batch: int = 20,
           write: bool = True, seed: int = 0, start_batch: int = 0) -> dict:
    """One phase: the writer (if write) for `seconds` and readers of the given kinds, in their own
    processes. Readers start once the database exists and stop when the writer is done (or after
    `seconds` without a writer). Returns {"writer": ..., "readers": [...], "exit_codes": {...}}."""
    ctx = mp.get_context("spawn")
    workdir.mkdir(parents=True, exist_ok=True)
    ready, go, stop = workdir / "ready", workdir / "go", workdir / "stop"
    for flag in (ready, go, stop):
        flag.unlink(missing_ok=True)
    procs = {}
    if write:
        procs["writer"] = ctx.Process(target=writer_main, args=(str(db), seconds, batch, seed, start_batch, str(ready),
                                                                 str(go), str(workdir / "writer.json")))
        procs["writer"].start()
        _wait_for([(ready, procs["writer"])])
    readers = []
    for n, kind in enumerate(kinds):
        name = f"reader{n}-{kind}"
        out = workdir / f"{name}.json"
        Path(f"{out}.ready").unlink(missing_ok=True)
        procs[name] = ctx.Process(target=reader_main, args=(kind, str(db), batch, seed + 1 + n, str(stop), str(out)))
        procs[name].start()
        readers.append((Path(f"{out}.ready"), procs[name]))
    _wait_for(readers)
    go.touch()  # the timed part starts with every reader reading
    if write:
        procs["writer"].join()
        time.sleep(0.5)  # readers see the last commit too
    else:
        time.sleep(seconds)
    stop.touch()
    for proc in procs.values():
        proc.join(timeout=120)
        if proc.is_alive():
            proc.kill()
            proc.join()
    out = {"exit_codes": {name: proc.exitcode for name, proc in procs.items()}, "readers": {}}
    if write and (workdir / "writer.json").exists():
        out["writer"] = json.loads((workdir / "writer.json").read_text())
    for name in procs:
        path = workdir / f"{name}.json"
        if name != "writer" and path.exists():
            out["readers"][name] = json.loads(path.read_text())
    return out


def _wait_for(flags: list[tuple[Path, object]], limit: float = 180.0) -> None:
    """Until each (flag file, process) pair has its flag, or its process has ended."""
    deadline = time.time() + limit
    while time.time() < deadline and not all(f.exists() or not p.is_alive() for f, p in flags):
        time.sleep(0.05)


def problems(phase: dict) -> list[str]:
    """What went wrong in a phase: crashes, non-retryable reader errors, half-written batches seen,
    writer errors. Empty when everything held."""
    found = [f"{name} exited with {code}" for name, code in phase["exit_codes"].items() if code != 0]
    for name, tally in phase["readers"].items():
        found += [f"{name}: {message} (x{count})" for message, count in tally["errors"].items()]
        if tally["inconsistent"]:
            found.append(f"{name}: saw a half-written batch {tally['inconsistent']} times")
    found += [f"writer: {e}" for e in phase.get("writer", {}).get("errors", [])]
    missing = [name for name in phase["exit_codes"] if name != "writer" and name not in phase["readers"]]
    found += [f"{name} wrote no results" for name in missing]
    return found


# -- the index check ------------------------------------------------------------------------------
def verify_main(db: str, out: str) -> None:
    try:
        result = verify_index(Path(db))
    except Exception:
        result = {"problems": ["verify failed: " + traceback.format_exc(limit=4)[-500:]]}
    Path(out).write_text(json.dumps(result))


def verify_in_fresh_process(db: Path, workdir: Path) -> dict:
    """verify_index in a process that has never opened the database (the index comes from disk)."""
    ctx = mp.get_context("spawn")
    out = workdir / "verify.json"
    out.unlink(missing_ok=True)
    proc = ctx.Process(target=verify_main, args=(str(db), str(out)))
    proc.start()
    proc.join()
    if proc.exitcode != 0 or not out.exists():
        return {"problems": [f"verify process exited with {proc.exitcode}"]}
    return json.loads(out.read_text())


def verify_index(db: Path, sample: int = 200) -> dict:
    """Each searched property's index (loaded from disk, synced) against the graph: same ids and
    count, mirror rows equal the stored vectors, every product's own text_vec first with its exact
    score, fused_vec top-10 equal to exact scoring in the database for `sample` products."""
    from shopgraph.config import IndexConfig
    from shopgraph.graph.embedded import EmbeddedStore
    from shopgraph.graph.vector_index import AnnIndex, IndexUnavailable

    found: list[str] = []
    report: dict = {"problems": found}
    with EmbeddedStore.open(db, read_only=True, index_config=IndexConfig(min_ann_size=INDEX_MIN_ANN)) as store:
        database_id, generation = store.get_meta("database_id"), store.generation()
        report["generation"] = generation
        for prop in SEARCHED:
            path = Path(f"{db}.index") / prop
            try:
                saved = AnnIndex.load(path)
                report[f"{prop} on disk"] = {"revision": saved.revision, "vectors": len(saved)}
                if saved.source != database_id:
                    found.append(f"{prop}: the saved index names database {saved.source}, not {database_id}")
                if not isinstance(saved.revision, int) or saved.revision > generation:
                    found.append(f"{prop}: the saved index claims generation {saved.revision} > {generation}")
            except IndexUnavailable as e:
                found.append(f"{prop}: no saved index ({e})")
            ids = sorted(store.ids_with_vector(prop))
            stored_ids, stored = store.get_vectors("Product", prop, ids) if prop != "fused_vec" else _db_vectors(store, prop, ids)
            with store.vector_index(prop) as index:
                if sorted(index.ids()) != ids:
                    found.append(f"{prop}: the index holds {len(index)} ids, the graph {len(ids)}; "
                                 f"{len(set(ids) - set(index.ids()))} missing")
                got, mirror = index.vectors(stored_ids)
                expected = stored if not index.normalize else stored / np.linalg.norm(stored, axis=1, keepdims=True)
                if got != stored_ids or not np.allclose(mirror, expected, atol=1e-6):
                    found.append(f"{prop}: index vectors differ from the stored ones")
            report[f"{prop} vectors"] = len(ids)
        text_ids, text = store.get_vectors("Product", "text_vec", sorted(store.ids_with_vector("text_vec")))
        wrong = 0
        for pid, vector in zip(text_ids, text):
            top = store.vector_search("text_vec", vector, 1)
            if not top or top[0][0] != pid or abs(top[0][1] - 1.0) > 1e-5:
                wrong += 1
        if wrong:
            found.append(f"text_vec: {wrong} of {len(text_ids)} products do not find themselves first")
        rng = random.Random(0)
        fused_ids = sorted(store.ids_with_vector("fused_vec"))
        picked = rng.sample(fused_ids, min(sample, len(fused_ids)))
        _, fused = _db_vectors(store, "fused_vec", picked)
        differ = 0
        for vector in fused:
            fast = store.vector_search("fused_vec", vector, 10)
            exact = store.vector_search("fused_vec", vector, 10, exact=True)
            if [i for i, _ in fast] != [i for i, _ in exact] or not np.allclose(
                    [s for _, s in fast], [s for _, s in exact], atol=1e-4):
                differ += 1
        if differ:
            found.append(f"fused_vec: {differ} of {len(picked)} top-10 lists differ from exact scoring")
        report["checked"] = {"text_vec self-search": len(text_ids), "fused_vec top-10 vs exact": len(picked)}
    return report


def _db_vectors(store, prop: str, ids: list[str]):
    """Vectors read from the database itself (get_vectors may answer fused_vec from the index mirror)."""
    rows = store.cypher(f"MATCH (p:Product) WHERE p.id IN $ids RETURN p.id AS id, p.{prop} AS v", {"ids": ids})
    by_id = {r["id"]: r["v"] for r in rows}
    got = [i for i in ids if by_id.get(i) is not None]
    return got, np.array([by_id[i] for i in got], dtype=np.float32).reshape(len(got), -1)


# -- what the protocol costs one read ---------------------------------------------------------------
def protocol_cost(db: Path, repeats: int = 300) -> list[dict]:
    """On a still database, in this process: a one-row Meta read and a text_vec search through a
    read-only EmbeddedStore (access lock, commit marker, borrowed connection, snapshot transaction,
    index sync check), beside the same query on a raw LadybugDB connection and the same search on the
    synced index object itself. Calls alternate, so machine noise hits both arms alike."""
    import ladybug

    from shopgraph.config import IndexConfig
    from shopgraph.graph.embedded import EmbeddedStore

    rng = np.random.default_rng(7)
    store = EmbeddedStore.open(db, read_only=True, index_config=IndexConfig(min_ann_size=INDEX_MIN_ANN))
    raw_db = ladybug.Database(str(db), read_only=True)
    raw = ladybug.Connection(raw_db)
    query = "MATCH (m:Meta {key: $key}) RETURN m.value"
    queries = _unit(rng, repeats, store.dims.text)
    store.vector_search("text_vec", queries[0], 10)  # index loaded and synced
    with store.vector_index("text_vec") as index:
        pass
    arms: dict[str, list[float]] = defaultdict(list)
    for vector in queries:
        for name, call in (("meta read: store", lambda: store.get_meta("generation")),
                           ("meta read: raw connection", lambda: raw.execute(query, {"key": "generation"}).get_all()),
                           ("search: store", lambda: store.vector_search("text_vec", vector, 10)),
                           ("search: index alone", lambda: index.search(vector, 10))):
            t = time.perf_counter()
            call()
            arms[name].append((time.perf_counter() - t) * 1000)
    raw.close()
    raw_db.close()
    store.close()
    rows = []
    for what, base in (("meta read", "raw connection"), ("search", "index alone")):
        through, direct = percentiles(arms[f"{what}: store"]), percentiles(arms[f"{what}: {base}"])
        rows.append({"read": what, "through the store p50": through["p50"], "direct p50": direct["p50"],
                     "ratio p50": round(through["p50"] / direct["p50"], 2), "through the store p99": through["p99"],
                     "direct p99": direct["p99"], "direct": base})
    return rows


# -- reads beside long Cypher queries -------------------------------------------------------------
LONG_CYPHER = ("MATCH (a:Product), (b:Product), (c:Product) "
               "WHERE a.title + b.title + c.title = 'no such title' RETURN count(*) AS n")


def beside_long_queries(db: Path, long_queries: int = 4, limit: float = 3.0, reads: int = 100) -> dict:
    """In one process on a still database: point reads (get_nodes) and text_vec searches alone, then
    while `long_queries` Cypher queries run to their time limit on other threads; and how far apart
    the long queries ended (side by side: about 0; one after another: (long_queries - 1) x limit)."""
    import threading

    from shopgraph.config import IndexConfig
    from shopgraph.errors import QueryTimeoutError
    from shopgraph.graph.embedded import EmbeddedStore

    rng = np.random.default_rng(3)
    with EmbeddedStore.open(db, read_only=True, index_config=IndexConfig(min_ann_size=INDEX_MIN_ANN)) as store:
        ids = [r["id"] for r in store.cypher("MATCH (p:Product) RETURN p.id AS id LIMIT 50")]

        def sample() -> dict[str, list[float]]:
            out: dict[str, list[float]] = defaultdict(list)
            for _ in range(reads):
                for name, call in (("get_nodes", lambda: store.get_nodes("Product", [str(i) for i in rng.choice(ids, 5)])),
                                   ("vector_search text", lambda: store.vector_search(
                                       "text_vec", _unit(rng, 1, store.dims.text)[0], 10))):
                    t = time.perf_counter()
                    call()
                    out[name].append((time.perf_counter() - t) * 1000)
            return out

        alone = sample()
        ends: list[float] = []

        def long_query():
            try:
                store.cypher(LONG_CYPHER, timeout=limit)
            except QueryTimeoutError:
                pass
            ends.append(time.perf_counter())

        threads = [threading.Thread(target=long_query) for _ in range(long_queries)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        beside = sample()
        still_running = sum(t.is_alive() for t in threads)
        for t in threads:
            t.join()
    rows = [{"read": name, "alone p50": percentiles(alone[name])["p50"],
             "beside long queries p50": percentiles(beside[name])["p50"],
             "beside long queries p99": percentiles(beside[name])["p99"]} for name in alone]
    return {"rows": rows, "long_queries": long_queries, "limit_s": limit,
            "long_queries_running_after_the_reads": still_running,
            "long_queries_ended_apart_s": round(max(ends) - min(ends), 2)}


# -- the benchmark --------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.concurrency", description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--seconds", type=float, default=30.0,
                   help="length of each phase (default 30; the writer's memory grows with every batch it writes)")
    p.add_argument("--readers", default="api,store,cli", help="reader kinds, comma separated (default api,store,cli)")
    p.add_argument("--batch", type=int, default=20, help="new products per write batch (default 20)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/shopgraph-bench-concurrency"),
                   help="scratch folder; its database is made anew")
    return p.parse_args(argv)


def _latency_rows(phase: dict, label: str) -> list[dict]:
    merged: dict[str, list[float]] = defaultdict(list)
    for tally in phase["readers"].values():
        for name, values in tally["ms"].items():
            merged[name] += values
    return [{"phase": label, "operation": name, "n": len(values), **percentiles(values)}
            for name, values in sorted(merged.items()) if values]


def main(argv=None) -> None:
    args = parse_args(argv)
    kinds = tuple(k.strip() for k in args.readers.split(",") if k.strip())
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    db = args.workdir / "stress.db"
    alone = stress(db, args.workdir / "writer-alone", seconds=args.seconds, kinds=(), batch=args.batch)
    idle = stress(db, args.workdir / "readers-idle", seconds=args.seconds, kinds=kinds, batch=args.batch, write=False)
    both = stress(db, args.workdir / "together", seconds=args.seconds, kinds=kinds, batch=args.batch,
                  start_batch=alone["writer"]["batches"] + 1000, seed=1)
    check = verify_in_fresh_process(db, args.workdir)
    cost = protocol_cost(db)
    parallel = beside_long_queries(db)

    def rate(phase):
        w = phase["writer"]
        return round(w["rows"] / w["seconds"], 1), percentiles(w["write_ms"])

    rows_alone, commit_alone = rate(alone)
    rows_both, commit_both = rate(both)
    latency = _latency_rows(idle, "idle") + _latency_rows(both, "writing")
    print_table(latency, title="reader latency (ms), readers on a still database vs beside the writer")
    wait_alone, wait_both = percentiles(alone["writer"]["lock_wait_ms"]), percentiles(both["writer"]["lock_wait_ms"])
    print_table([{"writer": "alone", "rows/s": rows_alone, **{f"write {k}": v for k, v in commit_alone.items()},
                  **{f"lock wait {k}": v for k, v in wait_alone.items()}, "batches": alone["writer"]["batches"],
                  "peak RSS MB": alone["writer"]["peak_rss_mb"]},
                 {"writer": "with readers", "rows/s": rows_both, **{f"write {k}": v for k, v in commit_both.items()},
                  **{f"lock wait {k}": v for k, v in wait_both.items()}, "batches": both["writer"]["batches"],
                  "peak RSS MB": both["writer"]["peak_rss_mb"]},
                 {"writer": "ratio", "rows/s": round(rows_both / rows_alone, 3)}],
                title="writer throughput (rows/s), write latency and its wait for readers' locks (ms)")
    print_table(cost, title="what the protocol costs one read on a still database (ms, same process, alternating)")
    print_table(parallel["rows"], title=f"reads (ms) alone and beside {parallel['long_queries']} Cypher queries "
                                        f"running to their {parallel['limit_s']:g} s limit, one process")
    print(f"long queries still running when those reads were done: {parallel['long_queries_running_after_the_reads']}"
          f" of {parallel['long_queries']}; they ended {parallel['long_queries_ended_apart_s']} s apart")
    troubles = problems(alone) + problems(idle) + problems(both) + check["problems"]
    retryable = {n: sum(t["retryable"].values()) for n, t in both["readers"].items()}
    print(f"\nreader retryable errors while writing: {retryable}")
    print(f"index check: {json.dumps({k: v for k, v in check.items() if k != 'problems'})}")
    print("problems: " + ("; ".join(troubles) if troubles else "none"))
    results = {"latency": latency, "protocol_cost": cost, "beside_long_queries": parallel,
               "writer": {"alone": {"rows_per_s": rows_alone, "write_ms": commit_alone, "lock_wait_ms": wait_alone},
                          "with_readers": {"rows_per_s": rows_both, "write_ms": commit_both, "lock_wait_ms": wait_both},
                          "ratio": round(rows_both / rows_alone, 3)},
               "retryable_while_writing": retryable, "index_check": check, "problems": troubles,
               "phases": {"alone": alone["exit_codes"], "idle": idle["exit_codes"], "together": both["exit_codes"]}}
    report_bars(results, {"no reader crashed or failed": not troubles, "index equals the graph": not check["problems"]})
    path = write_results("concurrency", args_settings(args), results, packages=PACKAGES,
                         notes=["latency per operation, merged over the readers of each kind"])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
