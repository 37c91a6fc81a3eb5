"""How a full lexical (BM25) sync reads a large graph: products by key against scanned pages.

    python -m bench.lexical_sync --db DIR/n1000000/scale.db --pages 3

A sync reads each changed product's document (title, brand, description, identifiers, attributes)
and writes it into the tantivy index. Read by key (`GraphDocs.documents`, three UNWIND lookups a
batch), a large embedded graph pays random page reads per product; read by node-offset pages
(`GraphStore.product_pages` + `GraphDocs._page`, three scans a page), it pays sequential ones. For
`--pages` pages of `lexical_sync.PAGE` products taken from the middle of the graph (opened read-only,
nothing written to it), each page is read by scanning, then as many products by key, in batches of
the id order a sync by key reads (from the middle of that order: other pages than the scan's, so
neither read warms the other's pages), and the page's documents are written to a throwaway index in
a temporary folder; the last page is also read by key to check both reads give the same documents. Reported: ms per product of each read and of the write, the read's ratio, and the full sync
projected from them for the graph's product count.

With `--full`, the whole sync a closing writer runs on a graph whose lexical index is missing (every
product read, analysed and written, `lexical_sync.sync` from revision -1 into a throwaway index) is
run and timed instead of projected: wall and CPU seconds, documents, peak RSS, beside the projection
from `--pages` pages timed first in the same process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import args_settings, print_table, write_results


def _same(a: list[dict], b: list[dict]) -> bool:
    norm = lambda d: {k: sorted(v) if isinstance(v, list) else v for k, v in d.items()}  # noqa: E731
    return [norm(d) for d in a] == [norm(d) for d in b]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="an embedded graph (opened read-only)")
    parser.add_argument("--pages", type=int, default=3, help="pages of lexical_sync.PAGE products timed (default 3)")
    parser.add_argument("--full", action="store_true",
                        help="also run the whole sync into a throwaway index and time it (a long run at 1M)")
    parser.add_argument("--out", default="lexical_sync")
    args = parser.parse_args(argv)
    from shopgraph.graph import stores

    if not stores.exists(args.db):
        raise SystemExit(f"--db {args.db}: no shopgraph database there")
    from shopgraph.graph.stores import open_store
    from shopgraph.search.lexical_index import LexicalIndex
    from shopgraph.search.lexical_sync import BATCH, PAGE, GraphDocs

    store, _ = open_store(args.db, read_only=True)
    try:
        docs = GraphDocs(store)
        products = store.count_nodes("Product")
        pages = store.product_pages(-1, PAGE)
        if pages is None:
            raise SystemExit(f"{args.db} has {products} products: at most one page ({PAGE}), nothing to page")
        middle = len(pages) // 2
        chosen = pages[max(0, middle - args.pages // 2):][:args.pages]
        # A sync by key lists the changed ids in id order and reads them BATCH at a time
        # (GraphDocs.changed_since): batches of that order from the middle, as many products as the pages.
        ordered = [r["id"] for r in store.cypher("MATCH (p:Product) RETURN p.id AS id, p.gone AS gone ORDER BY id")
                   if not r["gone"]]
        seconds = {"read by key": 0.0, "read by pages": 0.0, "index write": 0.0}
        n = n_key = 0
        with tempfile.TemporaryDirectory() as tmp:
            index = LexicalIndex.open(Path(tmp) / "lexical", database_id="bench")
            for turn, (where, params) in enumerate(chosen):
                start = time.perf_counter()
                ids, paged, _ = docs._page(where, params)
                seconds["read by pages"] += time.perf_counter() - start
                lo = len(ordered) // 2 + n_key
                for first in range(lo, lo + len(ids), BATCH):
                    batch_ids = ordered[first:min(first + BATCH, lo + len(ids))]
                    start = time.perf_counter()
                    docs.documents(batch_ids)
                    seconds["read by key"] += time.perf_counter() - start
                    n_key += len(batch_ids)
                start = time.perf_counter()
                index.upsert(ids, paged)
                seconds["index write"] += time.perf_counter() - start
                n += len(ids)
            # the same documents either way: the last page's products read by key
            key_docs = dict(zip(ids, docs.documents(ids)))
            same = _same(paged, [key_docs[i] for i in ids])
        full = _full_sync(store, docs) if args.full else None
    finally:
        store.close()
    per = {name: 1000 * s / max(n_key if name == "read by key" else n, 1) for name, s in seconds.items()}
    rows = [{"phase": name, "ms per product": ms, "full sync projected s": ms * products / 1000}
            for name, ms in per.items()]
    ratio = per["read by key"] / per["read by pages"] if per["read by pages"] else float("nan")
    print(f"{args.db}: {products} products, {len(chosen)} pages of {PAGE} ({n} products timed); "
          f"documents equal both ways: {same}; read by key / by pages: {ratio:.1f}x")
    print_table(rows)
    results = {"products": products, "page": PAGE, "timed_products": n, "documents_equal": same,
               "ms_per_product": per, "read_ratio_key_over_pages": ratio,
               "full_sync_projected_s": {"by key": (per["read by key"] + per["index write"]) * products / 1000,
                                         "by pages": (per["read by pages"] + per["index write"]) * products / 1000}}
    if full is not None:
        projected = results["full_sync_projected_s"]["by pages"]
        full["projected_by_pages_s"] = round(projected, 1)
        full["measured_over_projected"] = round(full["wall_s"] / projected, 2) if projected else None
        print("whole sync, measured:")
        print_table([full])
        results["full_sync"] = full
    write_results(args.out, args_settings(args), results)
    return results


def _full_sync(store, docs) -> dict:
    """The whole sync of the graph from nothing into a throwaway index (what a writer's close runs
    when the lexical index is missing): wall and CPU seconds, documents written, peak RSS so far."""
    from bench.common import peak_rss_mb
    from shopgraph.search.lexical_index import LexicalIndex
    from shopgraph.search.lexical_sync import sync

    version = docs.version()
    with tempfile.TemporaryDirectory() as tmp:
        index = LexicalIndex.open(Path(tmp) / "lexical", database_id="bench")
        wall, cpu = time.perf_counter(), time.process_time()
        changed = sync(index, docs, version)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        documents = len(index)
        index.close()
    return {"documents": documents, "changes": changed, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "ms_per_product": round(1000 * wall / max(documents, 1), 3), "peak_rss_mb": round(peak_rss_mb())}


if __name__ == "__main__":
    main()
