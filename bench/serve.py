"""HTTP serving: requests/s and p50/p99 latency of text search and of a product page under a bounded
concurrent load, on the Flipkart catalog.

    python -m bench.serve                      # 8 clients, 400 requests per scenario
    python -m bench.serve --clients 4 --requests 1000 --data DIR --workdir /tmp/fk

The graph is the real shopgraph store of Flipkart 1050 (ingested into --workdir once, reused). The
server is `python -m shopgraph serve` in its own process on 127.0.0.1; this process is the load: a
fixed pool of --clients threads, each with one keep-alive HTTP connection, sending the next request as
soon as its previous answer arrived (closed loop, so at most --clients requests are in flight). Latency
is measured per request by the client (connect, server, transfer, JSON decode).

Baseline, measured in this process before the server starts: the same queries through the Python API
(`ShopGraph.search`, `ShopGraph.neighbourhood`), one at a time, with one torch thread as the server. The ratio HTTP p50 / API p50 is what
the server and the concurrency add.

Queries: text search with the first 2-5 words of random catalog titles (seeded), k=20, as the page
sends them; product pages of random products (brand, category path, SAME_AS listings, neighbours and
the 8 nearest products).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from bench.common import percentiles, print_table, write_results
from bench.learned import WORK_DIR, data_root, run_checked

BAR_P99_MS = 100.0
PACKAGES = ("numpy", "torch", "ladybug", "sentence-transformers", "fastapi", "uvicorn", "httpx")
KEY = "bench-serve-key-0123456789"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=data_root() / "multimodal" / "flipkart_1050",
                   help="the flipkart_1050 directory (default ../shared/data/multimodal/flipkart_1050)")
    p.add_argument("--workdir", type=Path, default=WORK_DIR, help="where the graph and caches are kept")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--requests", type=int, default=400, help="requests per scenario (default 400)")
    p.add_argument("--warmup", type=int, default=40, help="untimed requests before each scenario (default 40)")
    p.add_argument("--k", type=int, default=20, help="results per search (default 20)")
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument("--out", default="serve", help="results name (bench/results/NAME.json)")
    return p.parse_args(argv)


def build_graph(args) -> Path:
    from shopgraph.queries.api import ShopGraph

    args.workdir.mkdir(parents=True, exist_ok=True)
    db = args.workdir / "serve_flipkart.db"
    with ShopGraph.open(db) as sg:
        summary = sg.ingest_dataset(args.data, "flipkart", progress=False)
        print(f"graph: {summary.products_written} products written, {summary.products_unchanged} unchanged", flush=True)
    return db


def workload(db: Path, n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """(search texts, product ids), n of each, seeded."""
    from shopgraph.queries.api import ShopGraph

    with ShopGraph.open(db, read_only=True) as sg:
        rows = sg.cypher("MATCH (p:Product) RETURN p.id AS id, p.title AS title ORDER BY id")
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        words = rng.choice(rows)["title"].split()
        texts.append(" ".join(words[:rng.randint(2, 5)]))
    return texts, [rng.choice(rows)["id"] for _ in range(n)]


def api_baseline(db: Path, texts: list[str], ids: list[str], k: int, warmup: int) -> dict:
    """The same work through the Python API in this process, one call at a time."""
    from shopgraph.queries.api import ShopGraph
    from shopgraph.serve.run import limit_threads

    limit_threads(1)  # as the server runs its model and BLAS calls (ServeSettings.torch_threads)
    out = {}
    with ShopGraph.open(db, read_only=True) as sg:
        for name, call, items in (("search", lambda q: sg.search(text=q, k=k), texts),
                                  ("product", lambda i: sg.neighbourhood(i), ids)):
            for item in items[:warmup]:
                call(item)
            latencies = []
            started = time.perf_counter()
            for item in items:
                t = time.perf_counter()
                call(item)
                latencies.append((time.perf_counter() - t) * 1000)
            wall = time.perf_counter() - started
            out[name] = {"requests": len(items), "rps": round(len(items) / wall, 1), **percentiles(latencies)}
    return out


class Server:
    """`python -m shopgraph serve` in a child process, stopped on exit."""

    def __init__(self, db: Path, port: int):
        import socket

        if port == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(Path(f"{db}.serve.log"), "w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shopgraph", "serve", "--db", str(db), "--port", str(port), "--api-key", KEY],
            stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"error: the server exited (status {self.process.returncode}); see {self.log.name}")
            try:
                if httpx.get(self.url + "/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"error: the server did not answer within {timeout:.0f} s; see {self.log.name}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def load(url: str, requests: list[tuple[str, dict]], clients: int) -> dict:
    """Send requests with `clients` closed-loop workers; latency per request (ms), requests/s."""
    import httpx

    latencies = np.zeros(len(requests))
    statuses = np.zeros(len(requests), dtype=int)
    cursor = iter(range(len(requests)))
    lock = threading.Lock()

    def worker():
        with httpx.Client(base_url=url, timeout=60) as http:
            while True:
                with lock:
                    n = next(cursor, None)
                if n is None:
                    return
                path, params = requests[n]
                t = time.perf_counter()
                response = http.get(path, params=params)
                response.json()
                latencies[n] = (time.perf_counter() - t) * 1000
                statuses[n] = response.status_code

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    bad = int((statuses != 200).sum())
    return {"requests": len(requests), "errors": bad, "rps": round(len(requests) / wall, 1), **percentiles(latencies)}


def run(args) -> dict:
    if args.clients < 1 or args.requests < 1:
        raise SystemExit("error: --clients and --requests must be positive")
    db = build_graph(args)
    texts, ids = workload(db, args.requests + args.warmup)
    print(f"baseline: {args.requests} searches and product pages through the Python API, one at a time ...", flush=True)
    baseline = api_baseline(db, texts[args.warmup:], ids[args.warmup:], args.k, args.warmup)
    server = Server(db, args.port)
    try:
        server.wait()
        scenarios = {
            "search": [("/api/search", {"q": q, "k": args.k}) for q in texts],
            "product": [("/api/product", {"id": i}) for i in ids],
        }
        http = {}
        for name, requests in scenarios.items():
            print(f"{name}: {args.requests} requests from {args.clients} clients ...", flush=True)
            load(server.url, requests[:args.warmup], args.clients)
            http[name] = load(server.url, requests[args.warmup:], args.clients)
    finally:
        server.stop()
    rows = []
    for name in ("search", "product"):
        h, b = http[name], baseline[name]
        rows.append({"scenario": name, "clients": args.clients, "requests": h["requests"], "errors": h["errors"],
                     "req/s": h["rps"], "p50 ms": h["p50"], "p99 ms": h["p99"], "api req/s": b["rps"],
                     "api p50 ms": b["p50"], "api p99 ms": b["p99"], "p50 ratio": round(h["p50"] / b["p50"], 2)})
    print_table(rows, title=f"HTTP under {args.clients} concurrent clients vs the Python API one call at a time "
                            f"(Flipkart, {len(set(ids))} products asked for; load average {os.getloadavg()[0]:.1f} "
                            f"on {os.cpu_count()} cores)")
    met = http["search"]["p99"] < BAR_P99_MS and http["search"]["errors"] == 0
    print(f"\nbar: p99 search latency < {BAR_P99_MS:.0f} ms at {args.clients} clients: "
          f"{'met' if met else 'NOT met'} ({http['search']['p99']:.1f} ms)")
    results = {"http": http, "api": baseline, "rows": rows, "bar_p99_ms": BAR_P99_MS, "bar_met": met}
    path = write_results(args.out, {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                         results, notes=[f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"], packages=PACKAGES)
    print(f"results: {path}")
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    return 0 if run_checked(args, run, "flipkart_1050") is not None else 1


if __name__ == "__main__":
    sys.exit(main())
