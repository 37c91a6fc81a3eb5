"""Ingest throughput, an older checkout against this one (issue 18, round 5), on one bench.scale catalog.

bench.scale's `gen` stage makes one synthetic attribute-rich catalog with text vectors; then, per
round, the older code (`git archive BEFORE shopgraph bench`) and this checkout each ingest it into a
fresh database in a process of their own, alternating (the machine is shared: the load average at
each start is reported beside each figure). Per run: ShopGraph.ingest's time and rows/s, the close
that follows (it syncs the lexical index from the graph), rows/s with it, the time spent in COMMIT
statements (LadybugDB checkpoints after each batch's COPY), and the process's peak RSS.

    python -m bench.ingest_ab --before f6eca3b --size 10000 --rounds 2          # --batch-size 8192
    python -m bench.ingest_ab --before HEAD --size 20000 --batch-size 2048,8192  # batch sizes, same code
    python -m bench.ingest_ab --size 100000 --batch-size 8192 \
        --arms "ingest.commit_growth=0;ingest.commit_growth=1"                   # settings, this checkout

--arms runs this checkout once per arm (`;`-separated, each a `,`-separated list of --set
overrides) instead of an older checkout against it; --catalog reuses a bench.scale gen folder
(its first --size rows). Each run also lists its COMMITs: products written, seconds, peak and
resident MB just after the commit, its connection renewal and any release of freed memory, then
(Linux, glibc) the C heap's bytes in use and free (mallinfo2), and the resident MB of LadybugDB's
buffer-pool region and of glibc's heaps (/proc/self/smaps): where an ingest's memory is (round 7).
--no-close leaves out the close (the lexical sync, unchanged by settings of the write path).

    python -m bench.ingest_ab --size 300000 --batch-size 8192 --rounds 2 --catalog GEN_DIR --no-close \
        --arms "store.release_memory_rows=0;store.release_memory_rows=4096" --results ingest_round7
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import args_settings, peak_rss_mb, print_table, write_results
from bench.fused_storage import _checkout

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {"platform": "s", "id": "id", "title": "title", "description": "description", "brand": "brand",
           "category": "category", "category_separator": ">", "price": "price", "default_currency": "USD",
           "identifiers": {"mpn": "mpn"}}


def _rss_mb() -> float | None:
    """This process's resident memory now, MiB (Linux /proc; None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return None


def _heap_mb() -> list:
    """[C heap in use, C heap free but kept] MiB from glibc's mallinfo2; [None, None] elsewhere."""
    import ctypes

    class Info(ctypes.Structure):
        _fields_ = [(f, ctypes.c_size_t) for f in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                   "fsmblks", "uordblks", "fordblks", "keepcost")]
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return [None, None]
    mallinfo2.restype = Info
    info = mallinfo2()
    return [round((info.uordblks + info.hblkhd) / 2**20), round(info.fordblks / 2**20)]


def _regions_mb() -> list:
    """[LadybugDB's buffer-pool region, glibc's heaps] resident MiB from /proc/self/smaps: the pool is
    one reserved mapping of terabytes; glibc's heaps are [heap] and its thread arenas (anonymous
    mappings of at most 64 MiB at 64 MiB-aligned addresses). [None, None] without /proc."""
    pool = heaps = 0
    kind = None
    try:
        with open("/proc/self/smaps") as f:
            for line in f:
                head = line.split()
                if "-" in head[0] and len(head) >= 5 and not line.startswith(("Rss", "Size")) and ":" not in head[0]:
                    lo, hi = (int(x, 16) for x in head[0].split("-"))
                    name = head[5] if len(head) > 5 else ""
                    kind = "pool" if hi - lo > 1 << 40 else "heap" if name == "[heap]" or (
                        not name and lo % (64 << 20) == 0 and hi - lo <= 64 << 20) else None
                elif line.startswith("Rss:") and kind:
                    kb = int(head[1])
                    pool, heaps = (pool + kb, heaps) if kind == "pool" else (pool, heaps + kb)
    except OSError:
        return [None, None]
    return [round(pool / 1024), round(heaps / 1024)]


def run_one(catalog: Path, n: int, batch_size: int, db: Path, overrides: dict | None = None,
            close: bool = True) -> dict:
    """One ingest of catalog (bench.scale gen's folder) into db, in this process; COMMITs timed.
    overrides: dotted settings (--set) applied after the batch size. close=False: the process ends
    without closing the graph (no lexical sync; ingest figures only)."""
    import ladybug.connection as connection

    import bench.scale as scale
    from shopgraph.config import Config
    from shopgraph.queries.api import ShopGraph

    commits = [0, 0.0]
    each: list[list] = []  # [products before the commit's ingest batch ends, seconds]
    execute = connection.Connection.execute
    written = [0]

    def timed(self, query, parameters=None):
        started = time.perf_counter()
        try:
            return execute(self, query, parameters) if parameters is not None else execute(self, query)
        finally:
            if str(query).strip() == "COMMIT":
                commits[0] += 1
                seconds = time.perf_counter() - started
                commits[1] += seconds
                if seconds > 0.05:  # the ingest's own commits, not the read transactions'
                    each.append([written[0], round(seconds, 2), round(peak_rss_mb())])

    connection.Connection.execute = timed
    config = Config()
    config = dataclasses.replace(config, ingest=dataclasses.replace(config.ingest, batch_size=batch_size))
    if overrides:
        from shopgraph.config import with_overrides

        config = with_overrides(config, overrides)
    graph = ShopGraph.open(db, config=config)
    write = type(graph.store).write
    store_class = type(graph.store)
    end_group = getattr(store_class, "_end_group", None)

    def counted(store, batch):
        write(store, batch)
        written[0] += len(batch.nodes.get("Product", ()))

    def ended(store, group, *, commit):
        # resident memory once the commit, the connection renewal and any release are done
        end_group(store, group, commit=commit)
        if each and len(each[-1]) == 3:
            each[-1].extend([_rss_mb(), *_heap_mb(), *_regions_mb()])

    type(graph.store).write = counted
    if end_group is not None:
        store_class._end_group = ended
    graph._encoder = scale.VectorFileEncoder(catalog / "vectors.f32", graph.store.dims, graph.config)
    started = time.perf_counter()
    summary = graph.ingest(catalog / "catalog.csv", MAPPING, progress=False)
    ingested = time.perf_counter()
    peak_ingest = peak_rss_mb()
    if close:
        graph.close()
    closed = time.perf_counter()
    return {"ingest_s": round(ingested - started, 1), "rows_s": round(n / (ingested - started)),
            "close_s": round(closed - ingested, 1) if close else None,
            "rows_s_with_close": round(n / (closed - started)) if close else None,
            "ingest_peak_rss_mb": peak_ingest, "rss_end_mb": _rss_mb(),
            "commit_s": round(commits[1], 1), "commits": commits[0], "peak_rss_mb": peak_rss_mb(),
            "products": summary.products_written, "commit_list": each}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=None, help="the older commit (e.g. main before the change)")
    parser.add_argument("--arms", default=None, help="instead of --before: settings per arm, e.g. "
                        "'ingest.commit_growth=0;ingest.commit_growth=1'")
    parser.add_argument("--catalog", type=Path, default=None, help="a bench.scale gen folder to reuse")
    parser.add_argument("--size", type=int, default=10000, help="products (default 10000)")
    parser.add_argument("--rounds", type=int, default=2, help="old/new pairs (default 2)")
    parser.add_argument("--batch-size", default="2048", help="ingest.batch_size, or several comma-separated")
    parser.add_argument("--results", default=None, help="results name: bench/results/NAME.json "
                        "(default ingest_ab_SIZE)")
    parser.add_argument("--no-close", action="store_true", help="leave out the close (lexical sync)")
    parser.add_argument("--one", nargs=4, metavar=("CATALOG", "BATCH", "DB", "SETTINGS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # a child: one ingest, JSON on stdout
        print(json.dumps(run_one(Path(args.one[0]), args.size, int(args.one[1]), Path(args.one[2]),
                                 json.loads(args.one[3]), close=not args.no_close)), flush=True)
        if args.no_close:
            os._exit(0)  # the graph is left open: no close, no lexical sync
        return
    if (args.before is None) == (args.arms is None):
        raise SystemExit("give --before COMMIT or --arms SETTINGS")
    rows = []
    with tempfile.TemporaryDirectory(prefix="ingest-ab-", dir=args.catalog.parent if args.catalog else None) as tmp:
        work = Path(tmp)
        if args.arms is not None:
            from shopgraph.config import parse_overrides

            arms = {arm or "defaults": (ROOT, parse_overrides([s for s in arm.split(",") if s]))
                    for arm in args.arms.split(";")}
        else:
            arms = {"before": (_checkout(args.before, work / "before"), {}), "now": (ROOT, {})}
        gen = work / "gen"
        gen.mkdir()
        if args.catalog is not None:  # its first args.size rows
            with (args.catalog / "catalog.csv").open(encoding="utf-8") as src, \
                    (gen / "catalog.csv").open("w", encoding="utf-8") as dst:
                for line_no, line in enumerate(src):
                    if line_no > args.size:
                        break
                    dst.write(line)
            (gen / "vectors.f32").symlink_to((args.catalog / "vectors.f32").resolve())
        else:
            subprocess.run([sys.executable, "-m", "bench.scale", "--stage", "gen", "--dir", str(gen),
                            "--sizes", str(args.size), "--queries", "30"], cwd=ROOT, check=True, capture_output=True)
        for round_no in range(1, args.rounds + 1):
            for batch in (int(b) for b in args.batch_size.split(",")):
                for n_arm, (label, (code, settings)) in enumerate(arms.items()):
                    db = work / f"arm{n_arm}-{batch}-{round_no}.db"
                    load = round(os.getloadavg()[0], 1)
                    # this checkout's bench/ingest_ab.py drives either code (the older one may not have it)
                    done = subprocess.run([sys.executable, str(ROOT / "bench" / "ingest_ab.py"),
                                           "--size", str(args.size), *(["--no-close"] if args.no_close else []), "--one", str(gen), str(batch), str(db),
                                           json.dumps(settings)],
                                          cwd=code, capture_output=True, text=True,
                                          env={**os.environ, "PYTHONPATH": f"{code}{os.pathsep}{ROOT}"})
                    if done.returncode != 0:
                        raise SystemExit(f"{label} ingest failed: {done.stderr.strip().splitlines()[-3:]}")
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                    print(f"{label} batch {batch} round {round_no} (load {load}): "
                          f"{json.dumps({k: v for k, v in result.items() if k != 'commit_list'})}", flush=True)
                    print(f"  commits [products written, s, peak MB, MB after, heap used/free MB, pool/heaps MB]: {result['commit_list']}", flush=True)
                    rows.append({"code": label, "batch": batch, "round": round_no, "load": load, **result})
                    for path in work.glob(f"{db.name}*"):
                        subprocess.run(["rm", "-rf", str(path)], check=True)
    print_table([{k: v for k, v in r.items() if k != "commit_list"} for r in rows],
                title=f"{args.size:,} products: " + (f"{args.before} vs this checkout" if args.before else "arms"))
    path = write_results(args.results or f"ingest_ab_{args.size}", args_settings(args), rows)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
