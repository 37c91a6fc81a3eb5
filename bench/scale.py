"""Scale: ingest, index, open and search an attribute-rich catalog of 10k, 100k, 1M products.

Per size, each stage runs in a fresh process, so its peak resident memory (ru_maxrss) is its own:
- gen: a synthetic catalog (bench/synthetic_catalog.py entities: brand, line, model number, category
  with its attributes, price) as a CSV with an identifier column (mpn) and one column per attribute,
  and text-only vectors (384-d) from the calibrated MiniLM-like mixture (bench/vector.py), whose
  clusters also give each product its brand (~1% each) and top category (~20% each);
- ingest: the real ingest path (ShopGraph.ingest of the CSV: validation, identifiers, attributes,
  brands, categories, batches) with the encoder replaced by a reader of those vectors (the models'
  cost is bench/ingest.py's subject, not this one's), into a fresh LadybugDB store;
- build: the first search, which reads every vector from the graph, builds the HNSW index and saves it;
- query: open time, first query after opening (the saved index is loaded), then per case (unfiltered,
  brand, category, price+category, a Cypher `where`) the API (ShopGraph.vector_search) and the store
  (EmbeddedStore.vector_search) p50/p99 side by side, recall@10 against exact search in Cypher; and a
  graph workload: a 2-hop neighbourhood query and a product page (ShopGraph.neighbourhood);
  attributes: a value filter over one key, the same within a brand, a vector search restricted to it;
- peer: LanceDB (IVF_HNSW_SQ, cosine) on the same vectors with the same kinds of filters, as the
  reference an embedded vector database gives (its own process: its Arrow/Rust runtime beside ours).
- storage: where the database's bytes are (LadybugDB pages per vector column against its values).
Disk: the database and the index folder against the raw float32 vectors they hold.

Cold open (--cold, on databases an earlier run kept): the query stage's open, first query and per-case
latencies measured twice, each in a fresh process: first "cold" (every file of the database and its index
folder evicted from the OS page cache with posix_fadvise(DONTNEED) before opening: what a user meets the
morning after), then "warm" (right after, nothing evicted: what the cold run read is cached). Each reports
how much of the database and of the index was resident when it started (mincore). --baseline DIR runs the
same on another kept folder (e.g. the same catalog with its index in an earlier format) and reports the
ratios; --baseline-code REV runs the baseline with the shopgraph package of git revision REV (on the
--keep folder unless --baseline names another), and --repeat N alternates before and after N times
(ratios of the medians). Recall@10 against exact search (Cypher) on the warm run's first --recall-queries queries per case.

    python -m bench.scale --quick                       # 10k
    python -m bench.scale --sizes 10000,100000          # --sizes 10000,100000,1000000
    python -m bench.scale --sizes 10000,100000 --keep DIR --rerun build,query,peer
    python -m bench.scale --cold --sizes 1000000 --keep DIR [--baseline DIR2] --results scale_cold_1m
    python -m bench.scale --cold --sizes 1000000 --keep DIR --baseline-code main --repeat 3 --results NAME
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import args_settings, peak_rss_mb, percentiles, print_table, write_results

DIM = 384
ROOT = Path(__file__).resolve().parents[1]
CASES = ("unfiltered", "brand ~1%", "category ~20%", "price+category", "cypher where")


# -- stages (each in its own process) ------------------------------------------------------------
def stage_gen(d: Path, n: int, queries: int) -> dict:
    from bench.synthetic_catalog import CATEGORIES, description, make_entities, title_a
    from bench.vector import make_mixture

    base, held = make_mixture(n, queries, DIM, seed=0)
    base.vectors.astype(np.float32).tofile(d / "vectors.f32")
    np.save(d / "queries.npy", held.vectors.astype(np.float32))
    slots = sorted({name for spec in CATEGORIES.values() for name, _ in spec})
    entities = make_entities(n, np.random.default_rng(7))
    rng = np.random.default_rng(8)
    with (d / "catalog.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["id", "title", "description", "brand", "category", "price", "mpn", *slots])
        for i, e in enumerate(entities):
            values = dict(zip((name for name, _ in CATEGORIES[e.category]), e.attributes))
            # brand and top category follow the vector clusters, as they do for real titles
            top = f"Top{int(base.category[i])}"
            out.writerow([f"a{i:07d}", title_a(e, rng), description(e, rng), f"Brand{int(base.brand[i]):03d}",
                          f"{top} > {e.category.split(' > ')[1]}", e.price, e.model,
                          *(values.get(s, "") for s in slots)])
    return {"attribute_columns": len(slots)}


class VectorFileEncoder:
    """Stands in for ProductEncoder's text model: product a<N>'s text vector is row N of vectors.f32
    (read per batch, never all at once). The rest is what a real ingest of a product without an image
    stores: the real lexical vector of its title (LexicalEncoder, cheap) and the real fusion of the
    channels (fuse), so the graph holds the same vectors, with the same zero image block, as real
    text-only products (a zero lexical block would make LadybugDB store fused_vec at 1.47x its size:
    see docs/benchmarks.md, bench.scale)."""

    def __init__(self, path: Path, dims, config):
        from shopgraph.ingest.encoders.lexical import LexicalEncoder

        self.path, self.dims, self.fusion = path, dims, config.fusion
        self.lexical = LexicalEncoder(config.lexical)

    def encode(self, records):
        from shopgraph.ingest.encoders.fusion import fuse, fusion_weights
        from shopgraph.ingest.encoders.product import EncodedProducts

        rows = np.array([int(r.source_id[1:]) for r in records], dtype=np.int64)
        lo, hi = int(rows.min()), int(rows.max())
        block = np.fromfile(self.path, dtype=np.float32, count=(hi - lo + 1) * DIM, offset=lo * DIM * 4)
        text = block.reshape(-1, DIM)[rows - lo]
        n = len(records)
        image, ok = np.zeros((n, self.dims.image), np.float32), np.zeros(n, bool)
        lexical = self.lexical.encode([r.title for r in records])
        return EncodedProducts(text=text, image=image, image_ok=ok, image_errors=[None] * n, lexical=lexical,
                               fused=fuse(text, image, lexical, self.fusion, image_ok=ok), encoded=n,
                               fusion=fusion_weights(self.fusion))


def stage_ingest(d: Path, n: int, queries: int) -> dict:
    from shopgraph.queries.api import ShopGraph

    graph = ShopGraph.open(d / "scale.db")
    graph._encoder = VectorFileEncoder(d / "vectors.f32", graph.store.dims, graph.config)
    started = time.perf_counter()
    summary = graph.ingest(d / "catalog.csv", {"platform": "s", "id": "id", "title": "title",
                                               "description": "description", "brand": "brand",
                                               "category": "category", "category_separator": ">",
                                               "price": "price", "default_currency": "USD",
                                               "identifiers": {"mpn": "mpn"}}, progress=False)
    seconds = time.perf_counter() - started
    graph.close()  # syncs the lexical (BM25) index from the graph: part of what an ingest costs
    closed = time.perf_counter() - started
    # ingest_rows_s is ShopGraph.ingest alone, as in rounds 1-4; ingest_close_s is the lexical index
    # sync that closing the graph runs, which those rounds left out of the rate.
    return {"ingest_s": round(seconds, 1), "ingest_rows_s": round(n / seconds),
            "ingest_close_s": round(closed - seconds, 1), "ingest_with_close_rows_s": round(n / closed),
            "products": summary.products_written,
            "attributes": summary.attributes_written, "quarantined": summary.quarantined,
            "ingest_peak_rss_mb": peak_rss_mb()}


def stage_build(d: Path, n: int, queries: int) -> dict:
    from shopgraph.graph.embedded import EmbeddedStore

    q = np.load(d / "queries.npy")
    store = EmbeddedStore.open(d / "scale.db")
    started = time.perf_counter()
    store.vector_search("text_vec", q[0], 10)  # reads every vector, builds HNSW, saves the index
    seconds = time.perf_counter() - started
    store.close()
    return {"index_build_s": round(seconds, 1), "build_peak_rss_mb": peak_rss_mb()}


def _cases(store):
    from shopgraph.graph.store import Filters

    brand = store.cypher("MATCH (p:Product)-[:OF_BRAND]->(b:Brand) RETURN b.name AS b, count(p) AS n "
                         "ORDER BY n DESC, b SKIP 10 LIMIT 1")[0]["b"]
    leaf = store.cypher("MATCH (c:Category) WHERE c.depth = 2 RETURN c.path AS leaf ORDER BY leaf LIMIT 1")[0]["leaf"]
    return {"unfiltered": {}, "brand ~1%": {"filters": Filters(brand=brand)},
            "category ~20%": {"filters": Filters(category="Top3")},
            "price+category": {"filters": Filters(category="Top3", price_min=100.0, price_max=800.0, currency="USD")},
            "cypher where": {"where": "(p)-[:IN_CATEGORY]->(c:Category) WHERE c.path = $leaf",
                             "params": {"leaf": leaf}}}


def paired_ratio(api: list[float], store: list[float]) -> float:
    """Median over queries of (API ms / store ms) of the same query, whose two calls ran back to back:
    a busy spell on a shared machine slows both calls of a query, so this ratio holds where the ratio
    of the two p50s (each taken over the whole run) swings with the load."""
    return round(float(np.median(np.asarray(api) / np.maximum(np.asarray(store), 1e-6))), 2)


def stage_query(d: Path, n: int, queries: int) -> dict:
    from shopgraph.queries.api import ShopGraph

    q = np.load(d / "queries.npy")
    started = time.perf_counter()
    graph = ShopGraph.open(d / "scale.db", read_only=True)
    open_s = time.perf_counter() - started
    store = graph.store
    started = time.perf_counter()
    graph.vector_search(q[0], 10, prop="text_vec")
    first_ms = (time.perf_counter() - started) * 1000
    out = {"open_ms": round(open_s * 1000, 1), "first_query_ms": round(first_ms, 1), "cases": {}}
    for name, kw in _cases(store).items():
        for _ in range(2):  # prepares this filter and its block (made at its second exact search; kept until a write)
            graph.vector_search(q[1], 10, prop="text_vec", **kw)
        api, raw, recall, found = [], [], [], []
        for n_query, v in enumerate(q[2:]):
            # the first call of a query vector warms the pages the second one reads: alternate the order
            for which in ((0, 1) if n_query % 2 else (1, 0)):
                t = time.perf_counter()
                if which == 0:
                    found.append({h.product.id for h in graph.vector_search(v, 10, prop="text_vec", **kw)})
                else:
                    store.vector_search("text_vec", v, 10, **kw)
                (api if which == 0 else raw).append((time.perf_counter() - t) * 1000)
        # exact search scans every vector in the graph and evicts the pages the timed calls use:
        # it runs in its own pass after them
        for v, hits in zip(q[2:], found):
            truth = store.vector_search("text_vec", v, 10, exact=True, **kw)
            if truth:
                recall.append(len(hits & {i for i, _ in truth}) / len(truth))
        a, s = percentiles(api), percentiles(raw)
        out["cases"][name] = {"api_p50_ms": a["p50"], "api_p99_ms": a["p99"], "store_p50_ms": s["p50"],
                              "store_p99_ms": s["p99"], "api_over_store_p50": round(a["p50"] / s["p50"], 2),
                              "api_over_store_paired": paired_ratio(api, raw),
                              "recall@10": round(float(np.mean(recall)), 4) if recall else None}
    ids = [r["id"] for r in store.cypher("MATCH (p:Product) RETURN p.id AS id ORDER BY id LIMIT 50")]
    two_hop, page = [], []
    for pid in ids:
        t = time.perf_counter()
        store.cypher("MATCH (p:Product {id: $id})-[:HAS_ATTRIBUTE|IN_CATEGORY|OF_BRAND]->(x)"
                     "<-[:HAS_ATTRIBUTE|IN_CATEGORY|OF_BRAND]-(q:Product) RETURN count(DISTINCT q) AS n", {"id": pid})
        two_hop.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        graph.neighbourhood(pid, similar_k=0)
        page.append((time.perf_counter() - t) * 1000)
    out["two_hop_p50_ms"] = percentiles(two_hop)["p50"]
    out["product_page_p50_ms"] = percentiles(page)["p50"]
    out["attribute_queries"] = _attribute_queries(store, graph, q[2:12])
    out["query_peak_rss_mb"] = peak_rss_mb()
    graph.close()
    return out


def _database_files(d: Path) -> dict[str, list[Path]]:
    """The files a database opened from d/scale.db reads: the database's own (scale.db*) and its index
    folder's (vector and lexical indexes)."""
    index = d / "scale.db.index"
    db = [p for p in d.glob("scale.db*") if p.is_file()]
    return {"db": db, "index": [p for p in index.rglob("*") if p.is_file()] if index.is_dir() else []}


def _resident_mb(paths: list[Path]) -> float:
    """MiB of these files now in the OS page cache (mincore over a private map of each)."""
    import ctypes
    import mmap

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)
    pages = 0
    for path in paths:
        size = path.stat().st_size
        if size == 0:
            continue
        with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as m:
            address = ctypes.addressof(ctypes.c_char.from_buffer(m))
            vec = ctypes.create_string_buffer((size + mmap.PAGESIZE - 1) // mmap.PAGESIZE)
            if libc.mincore(ctypes.c_void_p(address), size, vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
            pages += sum(b & 1 for b in vec.raw)
            del address  # the c_char view must go before the map closes
    return round(pages * mmap.PAGESIZE / 2**20, 1)


def _evict(paths: list[Path]) -> None:
    """Drop these files' pages from the OS page cache (posix_fadvise DONTNEED; dirty or mapped pages stay)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _open_and_query(d: Path, n: int, queries: int, cache: str, recall_queries: int) -> dict:
    """The query stage's open, first query and per-case API/store p50/p99 with the page cache `cache`:
    "cold" evicts every file of the database and its index folder first, "warm" evicts nothing. Per case
    also the first call's ms (it prepares the filter). recall@10 (exact search in Cypher) over the first
    recall_queries queries of each case, after the timed passes (0: none)."""
    from bench.common import rss_mb

    files = _database_files(d)
    if cache == "cold":
        _evict(files["db"] + files["index"])
    out = {"cache": cache, "resident_db_mb": _resident_mb(files["db"]),
           "resident_index_mb": _resident_mb(files["index"]), "cases": {}}
    q = np.load(d / "queries.npy")
    import shopgraph
    from shopgraph.queries.api import ShopGraph  # imports are not part of the open

    out["package"] = str(Path(shopgraph.__file__).parent)  # which shopgraph (--baseline-code: another revision's)

    started = time.perf_counter()
    graph = ShopGraph.open(d / "scale.db", read_only=True)
    out["open_ms"] = round((time.perf_counter() - started) * 1000, 1)
    store = graph.store
    started = time.perf_counter()
    graph.vector_search(q[0], 10, prop="text_vec")
    out["first_query_ms"] = round((time.perf_counter() - started) * 1000, 1)
    started = time.perf_counter()
    graph.vector_search(q[1], 10, prop="text_vec")
    out["second_query_ms"] = round((time.perf_counter() - started) * 1000, 1)
    out["rss_after_first_mb"] = rss_mb()
    found: dict[str, list[set]] = {}
    for name, kw in _cases(store).items():
        started = time.perf_counter()
        graph.vector_search(q[1], 10, prop="text_vec", **kw)
        first = (time.perf_counter() - started) * 1000
        graph.vector_search(q[1], 10, prop="text_vec", **kw)  # a prepared filter makes its block at its second exact search
        api, raw, hits = [], [], []
        for n_query, v in enumerate(q[2:]):
            for which in ((0, 1) if n_query % 2 else (1, 0)):
                t = time.perf_counter()
                if which == 0:
                    hits.append({h.product.id for h in graph.vector_search(v, 10, prop="text_vec", **kw)})
                else:
                    store.vector_search("text_vec", v, 10, **kw)
                (api if which == 0 else raw).append((time.perf_counter() - t) * 1000)
        a, s = percentiles(api), percentiles(raw)
        out["cases"][name] = {"first_ms": round(first, 1), "api_p50_ms": a["p50"], "api_p99_ms": a["p99"],
                              "store_p50_ms": s["p50"], "store_p99_ms": s["p99"]}
        found[name] = hits
    out["query_peak_rss_mb"] = peak_rss_mb()
    for name, kw in _cases(store).items():  # after every timed pass: exact search reads every vector
        recall = []
        for v, hits in list(zip(q[2:], found[name]))[:recall_queries]:
            truth = store.vector_search("text_vec", v, 10, exact=True, **kw)
            if truth:
                recall.append(len(hits & {i for i, _ in truth}) / len(truth))
        out["cases"][name]["recall@10"] = round(float(np.mean(recall)), 4) if recall else None
    graph.close()
    return out


def stage_query_cold(d: Path, n: int, queries: int) -> dict:
    return _open_and_query(d, n, queries, "cold", 0)


def stage_query_warm(d: Path, n: int, queries: int) -> dict:
    return _open_and_query(d, n, queries, "warm", int(os.environ.get("SCALE_RECALL_QUERIES", "20")))


def _code_of(revision: str, into: Path) -> Path:
    """The shopgraph package of a git revision of this repository, extracted under into; returns the
    folder to put first on sys.path."""
    archive = subprocess.run(["git", "archive", revision, "shopgraph"], capture_output=True, cwd=ROOT)
    if archive.returncode != 0:
        raise SystemExit(f"--baseline-code {revision}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def cold(sizes: list[int], queries: int, workdir: Path | None, baseline: Path | None, results: str,
         recall_queries: int, settings: dict, baseline_code: str | None = None, repeat: int = 1) -> dict:
    """--cold: per size, the cold then the warm query stage on the database kept in workdir (and on the
    one in baseline, first, when given), printed side by side with after/before ratios; written to
    bench/results/RESULTS.json. baseline_code: a git revision whose shopgraph the baseline runs use (the
    folder defaults to workdir: the same database, before and after a code change). repeat: before and
    after alternate this many times (recall checked in the first round only); the ratios compare medians."""
    if workdir is None:
        raise SystemExit("--cold needs --keep DIR, a folder an earlier run kept (DIR/nN/scale.db)")
    if baseline_code is not None and baseline is None:
        baseline = workdir
    if baseline_code is not None:
        commit = subprocess.run(["git", "rev-parse", "--short=10", baseline_code], capture_output=True, text=True, cwd=ROOT)
        settings["baseline_code"] = f"{baseline_code} ({commit.stdout.strip() or 'unknown'})"
    with tempfile.TemporaryDirectory(prefix="scale-code-") as tmp:
        code = _code_of(baseline_code, Path(tmp)) if baseline_code is not None else None
        return _cold_runs(sizes, queries, workdir, baseline, results, recall_queries, settings, code, repeat)


def _cold_runs(sizes, queries, workdir, baseline, results, recall_queries, settings, code, repeat) -> dict:
    runs = [("before", baseline, code), ("after", workdir, None)] if baseline is not None else [("after", workdir, None)]
    rows: list[dict] = []
    for n in sizes:
        for round_ in range(repeat):
            # recall (exact search over every vector) once: it reads the whole float32 file
            os.environ["SCALE_RECALL_QUERIES"] = str(recall_queries if round_ == 0 else 0)  # the warm stage's
            for label, folder, stage_code in runs:
                d = folder / f"n{n}"
                if not (d / "scale.db").exists():
                    raise SystemExit(f"no database at {d / 'scale.db'}: --keep/--baseline name the folder holding n{n}")
                for stage in ("query_cold", "query_warm"):
                    row = {"products": n, "run": label, "round": round_ + 1, "folder": str(folder),
                           "code": baseline_code_label(stage_code, settings),
                           **_run_stage(stage, d, n, queries, stage_code)}
                    row.update(_disk(d, n))
                    rows.append(row)
                    write_results(results, settings, {"runs": rows, "partial": True})
    columns = ("products", "run", "round", "cache", "resident_db_mb", "resident_index_mb", "open_ms", "first_query_ms",
               "second_query_ms", "rss_after_first_mb", "query_peak_rss_mb", "index_mb")
    print_table([{c: r.get(c) for c in columns} for r in rows], title="open and first queries: cold then warm page cache")
    table = [{"products": r["products"], "run": r["run"], "cache": r["cache"], "case": c, **m}
             for r in rows for c, m in r["cases"].items()]
    print_table(table, title="per case after opening (API = ShopGraph.vector_search, store = EmbeddedStore.vector_search)")
    ratios = []
    if baseline is not None:
        for n in sizes:
            for cache in ("cold", "warm"):
                before, after = (_median_row([r for r in rows if r["products"] == n and r["cache"] == cache
                                              and r["run"] == label]) for label in ("before", "after"))
                ratio = {"products": n, "cache": cache}
                for key in ("open_ms", "first_query_ms", "second_query_ms"):
                    ratio[key] = round(after[key] / before[key], 3) if before[key] else None
                for case in after["cases"]:
                    for key in ("api_p50_ms", "api_p99_ms"):
                        b = before["cases"][case][key]
                        ratio[f"{case} {key}"] = round(after["cases"][case][key] / b, 3) if b else None
                ratios.append(ratio)
        print_table(ratios, title="after / before")
    medians = [{"products": n, "run": label, "cache": cache,
                **{k: v for k, v in _median_row([r for r in rows if (r["products"], r["run"], r["cache"]) ==
                                                 (n, label, cache)]).items() if k.endswith("_ms")}}
               for n in sizes for label, _, _ in runs for cache in ("cold", "warm")]
    if repeat > 1:
        print_table(medians, title=f"medians of {repeat} rounds (open, first and second query, ms)")
    out = {"runs": rows, "medians": medians, "ratios": ratios}
    path = write_results(results, settings, out, notes=[
        "cold: every file of the database and its index folder evicted (posix_fadvise DONTNEED) before opening; "
        "warm: the run right after, nothing evicted; resident_*_mb: page cache held at the start (mincore)"])
    print(f"\nwrote {path}")
    return out


def baseline_code_label(code: Path | None, settings: dict) -> str:
    """Which shopgraph a row measured: this tree's, or the --baseline-code revision's."""
    return "this tree" if code is None else f"revision {settings.get('baseline_code')}"


def _median_row(rows: list[dict]) -> dict:
    """Per key, the median over rows of the open/query ms and of each case's figures (one row: itself)."""
    if len(rows) == 1:
        return rows[0]
    out = {k: float(np.median([r[k] for r in rows])) for k in ("open_ms", "first_query_ms", "second_query_ms")}
    out["cases"] = {case: {key: float(np.median([r["cases"][case][key] for r in rows]))
                           for key in rows[0]["cases"][case] if key != "recall@10"}
                    for case in rows[0]["cases"]}
    return out


def _attribute_queries(store, graph, vectors: np.ndarray, rounds: int = 5) -> dict:
    """p50 ms of the attribute workload over the catalog's most common (key, value) among its first
    1,000 products: a value filter over one key (every product with it: from the Attribute hub, whose
    HAS_ATTRIBUTE edges are stored forward only), the same value within one brand (from the Brand), and
    `ShopGraph.vector_search` (k 10) restricted to that value by a Cypher `where`; rows = matching products."""
    from collections import Counter

    ids = [r["id"] for r in store.cypher("MATCH (p:Product) RETURN p.id AS id ORDER BY id LIMIT 1000")]
    sample = store.cypher("MATCH (p:Product)-[e:HAS_ATTRIBUTE]->(a:Attribute) WHERE p.id IN $ids "
                          "RETURN a.key AS k, e.norm AS v, p.id AS id ORDER BY id, k", {"ids": ids})
    (key, value), _ = Counter((r["k"], r["v"]) for r in sample if r["v"]).most_common(1)[0]
    brand = store.cypher("MATCH (p:Product {id: $id})-[:OF_BRAND]->(b:Brand) RETURN b.name AS b",
                         {"id": next(r["id"] for r in sample if (r["k"], r["v"]) == (key, value))})[0]["b"]
    params = {"k": key, "v": value, "b": brand}
    queries = {
        "value filter": "MATCH (p:Product)-[e:HAS_ATTRIBUTE]->(:Attribute {key: $k}) WHERE e.norm = $v "
                        "RETURN count(p) AS n",
        "brand then value": "MATCH (:Brand {name: $b})<-[:OF_BRAND]-(p:Product)-[e:HAS_ATTRIBUTE]->(:Attribute {key: $k}) "
                            "WHERE e.norm = $v RETURN count(p) AS n"}
    out = {"key": key, "value": value, "brand": brand}
    for name, query in queries.items():
        times, rows = [], 0
        for _ in range(rounds):
            t = time.perf_counter()
            rows = store.cypher(query, params)[0]["n"]
            times.append((time.perf_counter() - t) * 1000)
        out[name] = {"p50_ms": percentiles(times)["p50"], "rows": rows}
    where = "(p)-[e:HAS_ATTRIBUTE]->(:Attribute {key: $k}) WHERE e.norm = $v"
    graph.vector_search(vectors[0], 10, prop="text_vec", where=where, params={"k": key, "v": value})  # prepares it
    times = []
    for v in vectors:
        t = time.perf_counter()
        graph.vector_search(v, 10, prop="text_vec", where=where, params={"k": key, "v": value})
        times.append((time.perf_counter() - t) * 1000)
    out["vector search where value"] = {"p50_ms": percentiles(times)["p50"], "rows": out["value filter"]["rows"]}
    return out


def stage_storage(d: Path, n: int, queries: int) -> dict:
    """Where the database's bytes are: LadybugDB's pages per vector column (CALL storage_info) against
    the float32 values they hold. Opens the file read-only beside no writer (the run's own database)."""
    import ladybug

    db = ladybug.Database(str(d / "scale.db"), read_only=True)
    conn = ladybug.Connection(db)
    rows = conn.execute("CALL storage_info('Product') RETURN column_name, num_pages, num_values").get_as_df()
    out = {}
    for prop in ("text_vec", "lex_vec", "fused_vec"):
        part = rows[rows["column_name"] == f"{prop}_data"]
        pages, values = int(part["num_pages"].sum()), int(part["num_values"].sum())
        out[f"{prop}_mb"] = round(pages * 4096 / 2**20, 1)
        out[f"{prop}_over_raw"] = round(pages * 4096 / (values * 4), 2) if values else None
    out["product_table_mb"] = round(int(rows["num_pages"].sum()) * 4096 / 2**20, 1)
    conn.close()
    db.close()
    return out


def _ann_filters(d: Path, n: int) -> dict:
    """Slots (= catalog rows = ann ids) of the brand / category / price+category cases, from catalog.csv."""
    from pyarrow import csv as pacsv

    cols = pacsv.read_csv(d / "catalog.csv", convert_options=pacsv.ConvertOptions(
        include_columns=["brand", "category", "price"])).to_pydict()
    brands: dict[str, int] = {}
    for b in cols["brand"]:
        brands[b] = brands.get(b, 0) + 1
    brand = sorted(brands, key=lambda b: (-brands[b], b))[10]
    top3 = np.array([c.startswith("Top3 ") for c in cols["category"]])
    price = np.array(cols["price"], dtype=np.float64)
    return {"brand ~1%": np.flatnonzero(np.array(cols["brand"]) == brand), "category ~20%": np.flatnonzero(top3),
            "price+category": np.flatnonzero(top3 & (price >= 100) & (price <= 800))}


def stage_ann_build(d: Path, n: int, queries: int) -> dict:
    """Index only (no graph): the store's AnnIndex over vectors.f32 with the default IndexConfig,
    upserted in chunks, built and saved to d/ann, as the store does after reading the vectors."""
    import shutil

    from shopgraph.config import IndexConfig
    from shopgraph.graph.vector_index import AnnIndex

    shutil.rmtree(d / "ann", ignore_errors=True)
    started = time.perf_counter()
    index = AnnIndex.from_config(DIM, IndexConfig())
    index.reserve(n)
    for lo in range(0, n, 20_000):  # read per chunk, as the store pages through the graph (no map of the file)
        m = min(20_000, n - lo)
        chunk = np.fromfile(d / "vectors.f32", dtype=np.float32, count=m * DIM, offset=lo * DIM * 4)
        index.upsert([f"a{i:07d}" for i in range(lo, lo + m)], chunk.reshape(m, DIM))
    index.build(progress=False)
    index.save(d / "ann")
    return {"ann_build_s": round(time.perf_counter() - started, 1), "ann_build_peak_rss_mb": peak_rss_mb(),
            "ann_index_mb": _size_mb(list((d / "ann").rglob("*")))}


def _exact_top10(d: Path, n: int, unit_q: np.ndarray, rows: np.ndarray | None) -> list[list[int]]:
    """Exact cosine top-10 rows per query, over rows (None: all), reading vectors.f32 once in chunks."""
    best_rows = np.empty((unit_q.shape[0], 0), dtype=np.int64)
    best_scores = np.empty((unit_q.shape[0], 0), dtype=np.float32)
    for lo in range(0, n, 100_000):
        m = min(100_000, n - lo)
        chunk = np.fromfile(d / "vectors.f32", dtype=np.float32, count=m * DIM, offset=lo * DIM * 4).reshape(m, DIM)
        ids = np.arange(lo, lo + m)
        if rows is not None:
            keep = rows[(rows >= lo) & (rows < lo + m)]
            chunk, ids = chunk[keep - lo], keep
        if ids.size == 0:
            continue
        scores = (unit_q @ (chunk / np.linalg.norm(chunk, axis=1, keepdims=True)).T).astype(np.float32)
        best_rows = np.hstack([best_rows, np.broadcast_to(ids, scores.shape)])
        best_scores = np.hstack([best_scores, scores])
        top = np.argsort(-best_scores, axis=1)[:, :10]
        best_rows = np.take_along_axis(best_rows, top, axis=1)
        best_scores = np.take_along_axis(best_scores, top, axis=1)
    return best_rows.tolist()


def stage_ann_query(d: Path, n: int, queries: int) -> dict:
    """Index only: load time, first query after loading, then per case p50/p99 of AnnIndex.search
    (prepared filters, warm) and recall@10 against exact numpy search under the same filter."""
    q = np.load(d / "queries.npy")
    started = time.perf_counter()
    from shopgraph.graph.vector_index import AnnIndex

    index = AnnIndex.load(d / "ann")
    load_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    index.search(q[0], 10)
    out = {"ann_load_ms": round(load_ms, 1), "ann_first_query_ms": round((time.perf_counter() - started) * 1000, 1),
           "ann_cases": {}}
    unit_q = q / np.linalg.norm(q, axis=1, keepdims=True)
    cases = {"unfiltered": None, **_ann_filters(d, n)}
    for name, rows in cases.items():
        allowed = None if rows is None else index.id_filter([f"a{i:07d}" for i in rows])
        prepare_started = time.perf_counter()
        index.search(q[1], 10, allowed=allowed)  # prepares the filter (its block when it has one)
        prepare_ms = (time.perf_counter() - prepare_started) * 1000
        ms, found = [], []
        for v in q[2:]:
            t = time.perf_counter()
            found.append({int(i[1:]) for i, _ in index.search(v, 10, allowed=allowed)})
            ms.append((time.perf_counter() - t) * 1000)
        truth = _exact_top10(d, n, unit_q[2:], rows)
        recall = [len(set(t) & got) / len(t) for t, got in zip(truth, found)]
        p = percentiles(ms)
        out["ann_cases"][name] = {"p50_ms": p["p50"], "p99_ms": p["p99"], "first_use_ms": round(prepare_ms, 1),
                                  "recall@10": round(float(np.mean(recall)), 4),
                                  "allowed": None if rows is None else int(rows.size)}
    out["ann_query_peak_rss_mb"] = peak_rss_mb()
    out["loadavg"] = [round(x, 2) for x in __import__("os").getloadavg()]
    return out


def stage_peer(d: Path, n: int, queries: int) -> dict:
    """LanceDB (IVF_HNSW_SQ, cosine) on the same vectors and columns, with the same kinds of filters
    as SQL prefilters; recall against exact numpy search under the same filter."""
    import lancedb
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as pacsv

    vectors = np.fromfile(d / "vectors.f32", dtype=np.float32).reshape(n, DIM)
    q = np.load(d / "queries.npy")
    cols = pacsv.read_csv(d / "catalog.csv", convert_options=pacsv.ConvertOptions(
        include_columns=["id", "brand", "category", "price"])).combine_chunks()
    top = pc.utf8_slice_codeunits(cols["category"], 0, 4)
    table = pa.table({"id": cols["id"], "brand": cols["brand"], "top": top, "leaf": cols["category"],
                      "price": pc.cast(cols["price"], pa.float64()),
                      "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM)})
    started = time.perf_counter()
    db = lancedb.connect(str(d / "lance"))
    tbl = db.create_table("products", data=table, mode="overwrite")
    if n >= 10000:
        tbl.create_index(metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_SQ")
    load_s = time.perf_counter() - started
    brands = pc.value_counts(cols["brand"]).to_pylist()
    brand = sorted(brands, key=lambda c: (-c["counts"], c["values"]))[10]["values"]
    leaf = sorted(set(cols["category"].to_pylist()))[0]
    price = table["price"].to_numpy(zero_copy_only=False)
    masks = {"unfiltered": (None, np.ones(n, bool)),
             "brand ~1%": (f"brand = '{brand}'", pc.equal(cols["brand"], brand).to_numpy(zero_copy_only=False)),
             "category ~20%": ("top = 'Top3'", pc.equal(top, "Top3").to_numpy(zero_copy_only=False))}
    masks["price+category"] = ("top = 'Top3' AND price >= 100 AND price <= 800",
                               masks["category ~20%"][1] & (price >= 100) & (price <= 800))
    masks["cypher where"] = (f"leaf = '{leaf}'", pc.equal(cols["category"], leaf).to_numpy(zero_copy_only=False))
    out = {"peer": f"lancedb {lancedb.__version__} IVF_HNSW_SQ" if n >= 10000 else "lancedb (flat)",
           "peer_load_index_s": round(load_s, 1), "cases": {}}
    for name, (where, mask) in masks.items():
        allowed = np.flatnonzero(mask)
        ms, recall = [], []
        for v in q[1:]:
            search = tbl.search(v).distance_type("cosine").limit(10).select(["id"])
            if where:
                search = search.where(where, prefilter=True)
            t = time.perf_counter()
            got = search.to_arrow()["id"].to_pylist()
            ms.append((time.perf_counter() - t) * 1000)
            scores = vectors[allowed] @ v
            truth = {f"a{i:07d}" for i in allowed[np.argsort(-scores)[:10]]}
            recall.append(len(truth & set(got)) / max(1, len(truth)))
        p = percentiles(ms[1:])
        out["cases"][name] = {"peer_p50_ms": p["p50"], "peer_p99_ms": p["p99"],
                              "peer_recall@10": round(float(np.mean(recall)), 4)}
    out["peer_disk_mb"] = round(sum(f.stat().st_size for f in (d / "lance").rglob("*") if f.is_file()) / 2**20, 1)
    out["peer_peak_rss_mb"] = peak_rss_mb()
    return out


STAGES = {"gen": stage_gen, "ingest": stage_ingest, "build": stage_build, "query": stage_query,
          "storage": stage_storage, "peer": stage_peer, "ann_build": stage_ann_build, "ann_query": stage_ann_query,
          "query_cold": stage_query_cold, "query_warm": stage_query_warm}


def _need_peer() -> None:
    """Stop before the first stage, not an hour in, when the LanceDB reference cannot run."""
    import importlib.util

    if importlib.util.find_spec("lancedb") is None:
        raise SystemExit("the LanceDB reference needs the bench extra: `make bench-install` (or "
                         "pip install -c constraints.txt -e '.[bench]'); or pass --no-peer to skip it")


# -- driver --------------------------------------------------------------------------------------
def _run_stage(name: str, d: Path, n: int, queries: int, code: Path | None = None) -> dict:
    """One stage in a fresh process; code: a folder holding another version's `shopgraph` package, which
    the stage then imports instead of this tree's (the stage's own code stays this bench's)."""
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    args = ["--stage", name, "--dir", str(d), "--sizes", str(n), "--queries", str(queries)]
    if code is None:
        command = [sys.executable, "-m", "bench.scale", *args]
    else:
        command = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(code)!r}); "
                   f"import bench.scale; bench.scale.main({args!r})"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"stage {name} at {n:,} failed: {done.stderr.strip().splitlines()[-3:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # The machine is shared: the 1-minute load average before and after each stage, beside its timings.
    result[f"{name}_load"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    print(f"  {name:7s} {n:>9,}  {time.perf_counter() - started:7.1f} s  load {result[f'{name}_load']}", flush=True)
    return result


def _size_mb(paths) -> float:
    return round(sum(p.stat().st_size for p in paths if p.is_file()) / 2**20, 1)


def run_size(n: int, queries: int, workdir: Path, peer: bool = True, done=lambda row: None) -> dict:
    """All stages at one size; done(row) after each, so a run stopped part-way keeps what it measured."""
    d = workdir / f"n{n}"
    d.mkdir(parents=True, exist_ok=True)
    row = {"products": n}
    for stage in ("gen", "ingest", "build", "query", "storage"):
        row.update(_run_stage(stage, d, n, queries))
        if stage != "gen":
            row.update(_disk(d, n))
        done(row)
    if peer:
        result = _run_stage("peer", d, n, queries)
        for case, figures in result.pop("cases").items():
            row["cases"][case].update(figures)
        row.update(result)
    row.update(_disk(d, n))
    return row


def _growth(rows: list[dict]) -> list[dict]:
    """How each measure grows from the first size to the last (printed)."""
    if len(rows) < 2:
        return []
    first, last = rows[0], rows[-1]
    growth = [{"measure": key, str(first["products"]): first[key], str(last["products"]): last[key],
               "ratio": round(last[key] / first[key], 2) if first[key] else None}
              for key in ("ingest_rows_s", "ingest_peak_rss_mb", "index_build_s", "build_peak_rss_mb", "db_mb",
                          "index_mb", "open_ms", "first_query_ms", "query_peak_rss_mb", "two_hop_p50_ms",
                          "product_page_p50_ms")]
    print_table(growth, title=f"growth {first['products']:,} -> {last['products']:,} products")
    return growth


def _attribute_table(rows: list[dict]) -> None:
    """Prints the attribute workload of each size that measured it (stage_query's "attribute_queries")."""
    table = [{"products": r["products"], "query": name, "key = value": f"{a['key']} = {a['value']}", **figures}
             for r in rows if isinstance(a := r.get("attribute_queries"), dict)
             for name, figures in a.items() if isinstance(figures, dict)]
    if table:
        print_table(table, title="attribute workload (HAS_ATTRIBUTE stored forward only), p50 ms")


def _disk(d: Path, n: int) -> dict:
    from shopgraph.graph.schema import VectorDims

    db = [p for p in d.glob("scale.db*") if p.is_file()]
    row = {"db_mb": _size_mb(db), "index_mb": _size_mb(list((d / "scale.db.index").rglob("*")))}
    # vectors each product has: text_vec (384), lex_vec (512) and fused_vec (384 + 1280 + 512). A
    # text-only product's fused_vec is derived on read, not stored (graph/derived_fused.py), so the
    # vectors kept on disk are text_vec and lex_vec; both ratios are reported.
    dims = VectorDims(text=DIM)
    stored = n * (dims.text + dims.lexical + dims.fused) * 4 / 2**20
    kept = n * (dims.text + dims.lexical) * 4 / 2**20
    row["raw_vectors_mb"] = round(stored, 1)
    row["disk_over_raw_vectors"] = round((row["db_mb"] + row["index_mb"]) / stored, 2)
    row["raw_vectors_kept_mb"] = round(kept, 1)
    row["disk_over_kept_vectors"] = round((row["db_mb"] + row["index_mb"]) / kept, 2)
    row["index_over_raw_text_vectors"] = round(row["index_mb"] / (n * DIM * 4 / 2**20), 2)
    return row


def rerun(stages: list[str], sizes: list[int], queries: int, workdir: Path | None, results: str = "scale") -> None:
    """Run some stages again on the catalogs and databases an earlier run kept (--keep) and replace
    their figures in its results file, bench/results/RESULTS.json (e.g. build,query,peer after a
    change to the index)."""
    import shutil

    from bench.common import RESULTS_DIR

    if workdir is None:
        raise SystemExit("--rerun needs --keep DIR, the folder of the earlier run")
    path = RESULTS_DIR / f"{results}.json"
    if not path.is_file():
        raise SystemExit(f"--rerun replaces figures in {path}, which does not exist: pass the --results of the earlier run")
    saved = json.loads(path.read_text(encoding="utf-8"))
    for row in saved["results"]["sizes"]:
        n = row["products"]
        if n not in sizes:
            continue
        d = workdir / f"n{n}"
        if "build" in stages:
            shutil.rmtree(d / "scale.db.index", ignore_errors=True)
        for stage in stages:
            result = _run_stage(stage, d, n, queries)
            cases = result.pop("cases", None)
            if cases and stage == "peer":
                for case, figures in cases.items():
                    row["cases"].setdefault(case, {}).update(figures)
            elif cases:
                row["cases"] = {c: {**{k: v for k, v in row["cases"].get(c, {}).items() if k.startswith("peer")},
                                    **m} for c, m in cases.items()}
            row.update(result)
        row.update(_disk(d, n))
    saved.setdefault("notes", []).append(f"stages {','.join(stages)} rerun on the same catalogs and databases "
                                         f"(--rerun), {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")
    rows = saved["results"]["sizes"]
    print_table([{k: v for k, v in r.items() if k not in ("cases", "attribute_queries")} for r in rows], title="scale: per size")
    print_table([{"products": r["products"], "case": c, **m} for r in rows for c, m in r["cases"].items()],
                title="vector search, k=10, 384-d text vectors: API vs store (warm filters) vs LanceDB")
    _attribute_table(rows)
    saved["results"]["growth"] = _growth(rows)
    path.write_text(json.dumps(saved, indent=2), encoding="utf-8")
    print(f"\nupdated {path}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma list of catalog sizes (default 10000,100000)")
    parser.add_argument("--quick", action="store_true", help="10k products, 30 queries per case")
    parser.add_argument("--queries", type=int, default=100, help="queries per case (default 100)")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it (default: a temp folder)")
    parser.add_argument("--no-peer", action="store_true", help="skip the LanceDB reference")
    parser.add_argument("--results", default="scale",
                        help="results name: bench/results/NAME.json (default scale), written after every stage")
    parser.add_argument("--rerun", default=None,
                        help="with --keep: run only these stages (e.g. build,query,peer) again on what an earlier "
                             "run left there and replace their figures in bench/results/RESULTS.json")
    parser.add_argument("--cold", action="store_true",
                        help="with --keep: open the kept databases with a cold then a warm page cache (see above); "
                             "results default scale_cold")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="with --cold: also measure the databases kept in this folder first, as the baseline")
    parser.add_argument("--recall-queries", type=int, default=20,
                        help="with --cold: queries per case whose recall@10 the warm run checks by exact search (default 20)")
    parser.add_argument("--baseline-code", default=None,
                        help="with --cold: a git revision whose shopgraph package the baseline runs import (the "
                             "baseline folder defaults to --keep's: the same database before and after a code change)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="with --cold: before and after alternate this many times; ratios of the medians (default 1)")
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:  # a child process: one stage, one JSON line
        print(json.dumps(STAGES[args.stage](args.dir, int(args.sizes), args.queries + 2)))
        return
    if args.quick:
        args.sizes, args.queries = "10000", 30
    sizes = [int(s) for s in args.sizes.split(",")]
    if not args.no_peer and not args.cold and (not args.rerun or "peer" in args.rerun.split(",")):
        _need_peer()
    if args.cold:
        cold(sizes, args.queries, args.keep, args.baseline, "scale_cold" if args.results == "scale" else args.results,
             args.recall_queries, args_settings(args), args.baseline_code, max(1, args.repeat))
        return
    if args.rerun:
        rerun(args.rerun.split(","), sizes, args.queries, args.keep, args.results)
        return
    rows: list[dict] = []

    def partial(row: dict) -> None:
        write_results(args.results, args_settings(args), {"sizes": rows + [row], "growth": [], "partial": True})

    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        for n in sizes:
            rows.append(run_size(n, args.queries, args.keep or Path(tmp), peer=not args.no_peer, done=partial))
    summary = [{k: v for k, v in r.items() if k not in ("cases", "attribute_queries")} for r in rows]
    print_table(summary, title="scale: per size (each stage in its own process; RSS = that stage's peak)")
    search = [{"products": r["products"], "case": c, **m} for r in rows for c, m in r["cases"].items()]
    print_table(search, title="vector search, k=10, 384-d text vectors: API vs store (warm filters) vs LanceDB")
    _attribute_table(rows)
    growth = _growth(rows)
    path = write_results(args.results, args_settings(args), {"sizes": rows, "growth": growth})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
