"""Matching at scale: two synthetic shops of N products each, end to end, on this machine.

A synthetic catalog (bench/synthetic_catalog.py: made-up brands, model numbers one digit apart,
shop-specific titles, known truth) is ingested once into a graph under --workdir; a share of the
true pairs is written as SAME_AS labels and the pair scorer is trained on them. Then the timed run:
`match_platforms` (load both platforms, blocking, scoring, writing SAME_AS edges with evidence),
and, in the same process, the baseline a vector-database user would write: for every source
product the nearest target product by MiniLM text vector through the store's vector index, a match
when the cosine clears a threshold chosen on the same labels. Quality (precision/recall/F1 of
"matched" on the unlabelled true pairs) and seconds for both; the bar is end to end under 5 minutes
(at --products >= 100000, issue 18's: under 15 minutes and 6 GB).

--encoder standin ingests with stand-in text vectors instead of MiniLM (which encodes ~136 titles/s:
~25 minutes for 2 x 100k): bench.synthetic_catalog.stand_in_vectors (a 32-d latent per product from
its brand, category, line and own key, projected to 384-d, plus listing noise), read per batch by
bench.scale's VectorFileEncoder; the lexical vector and the fusion are the real ones. Only the
ingest's encoder changes: the timed part (match_platforms) is the real code on the stored vectors.
Its quality figures then say nothing about MiniLM; the dense channel's cost and the index are real.

    python -m bench.match_scale --products 100000 --encoder standin --workdir DIR --out match_scale_100k
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import args_settings, print_table, report_bars, reset_peak_rss, vm_hwm_mb, write_results
from bench.learned import WORK_DIR, training_cost
from bench.synthetic_catalog import write_catalog

PACKAGES = ("numpy", "scikit-learn", "rapidfuzz", "ladybug", "faiss-cpu", "sentence-transformers")
SECONDS_BAR = 300.0
# Issue 18's bar for 100k x 100k listings: end to end under 15 minutes and 6 GB resident.
LARGE_PRODUCTS, LARGE_SECONDS_BAR, LARGE_MB_BAR = 100_000, 900.0, 6 * 1024


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.match_scale", description=__doc__.split("\n")[0])
    p.add_argument("--products", type=int, default=10_000, help="listings per shop (default 10000)")
    p.add_argument("--labels", type=int, default=1000, help="true pairs given as labels (default 1000)")
    p.add_argument("--seed", type=int, default=7, help="catalog seed (default 7)")
    p.add_argument("-k", type=int, default=20, help="blocking candidates per source listing (default 20)")
    p.add_argument("--workdir", type=Path, default=WORK_DIR, help="where the catalog and graph are kept")
    p.add_argument("--encoder", choices=("minilm", "standin"), default="minilm",
                   help="text vectors at ingest: the real MiniLM encoder (default) or the fast deterministic "
                        "stand-in (see above); the graph is kept per encoder")
    p.add_argument("--model", type=Path, help="match with this saved scorer (e.g. one trained on a smaller "
                                              "catalog of the same generator) instead of training one here")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the nearest-vector baseline (one store search per source listing)")
    p.add_argument("--workers", type=int, default=0,
                   help="cores the matching may use (config matching.workers): 0 = those available to the "
                        "process (default), 1 = the single-threaded path")
    p.add_argument("--out", default="match_scale", help="results name (bench/results/NAME.json)")
    p.add_argument("--phase", choices=tuple(PHASES), help=argparse.SUPPRESS)      # internal: one phase
    p.add_argument("--phase-out", type=Path, help=argparse.SUPPRESS)              # its JSON
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def graph_name(args) -> str:
    return f"match_scale_{args.products}_{args.seed}" + ("_standin" if args.encoder == "standin" else "")


def build_graph(args):
    """The synthetic catalog ingested into a graph (kept between runs); returns (ShopGraph, truth
    pairs as ids, ingest seconds or None when the graph was already there, ingest peak RSS MB or None)."""
    from shopgraph.ingest.mapping import ColumnMapping
    from shopgraph.queries.api import ShopGraph

    standin = args.encoder == "standin"
    name = graph_name(args)
    files = write_catalog(args.workdir / name, args.products, args.seed, vectors=standin)
    with files["truth"].open(encoding="utf-8") as f:
        truth = [(f"shop_a:{a}", f"shop_b:{b}") for a, b in list(csv.reader(f))[1:]]
    sg = ShopGraph.open(args.workdir / f"{name}.db")
    seconds = peak = None
    if sg.store.count_nodes("Product") < 2 * args.products:
        from bench.scale import VectorFileEncoder

        reset_peak_rss()
        start = time.perf_counter()
        for shop in ("a", "b"):
            if standin:  # listing <shop><n>'s text vector is row n of its shop's file
                sg._encoder = VectorFileEncoder(files[f"vectors_{shop}"], sg.store.dims, sg.config)
            mapping = ColumnMapping(platform=f"shop_{shop}", id="id", title="title", description=("description",),
                                    price="price", default_currency="USD", brand="brand", category="category")
            summary = sg.ingest(files[shop], mapping, progress=False)
            print(f"ingested shop_{shop}: {summary.products_written} products, {summary.quarantined} quarantined", flush=True)
        seconds, peak = round(time.perf_counter() - start, 1), vm_hwm_mb()
        sg._encoder = None  # nothing after the ingest encodes; never leave a shop's file reader behind
    return sg, truth, seconds, peak


def reset_matches(sg) -> None:
    """Remove the edges an earlier run proposed, so every run writes the same number of edges."""
    for status in ("matched", "review"):
        sg.store.cypher("MATCH (a:Product)-[e:SAME_AS]->(b:Product) WHERE e.status = $s DELETE e",
                        {"s": status}, allow_write=True)


def quality(predicted: set[tuple[str, str]], truth: set[tuple[str, str]]) -> dict:
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "F1": round(f1, 4)}


def vector_baseline(sg, labels: list[tuple[str, str]], truth: set) -> tuple[dict, float]:
    """Nearest target by text-vector cosine (MiniLM, or the stand-in with --encoder standin) through the store's vector index, thresholded (threshold that
    maximises F1 on the labelled pairs); returns (quality on the unlabelled truth, seconds)."""
    from shopgraph.graph.store import Filters

    start = time.perf_counter()
    ids = [r["id"] for r in sg.store.cypher("MATCH (p:Product) WHERE p.platform = 'shop_a' RETURN p.id AS id")]
    got, vectors = sg.store.get_vectors("Product", "text_vec", ids)
    best = {}
    only_b = Filters(platform="shop_b")
    for pid, vector in zip(got, vectors):
        hits = sg.store.vector_search("text_vec", vector, 1, filters=only_b)
        if hits:
            best[pid] = hits[0]
    seconds = time.perf_counter() - start
    labelled_sources = {a for a, _ in labels}
    threshold = best_threshold({a: hit for a, hit in best.items() if a in labelled_sources}, set(labels))
    predicted = {(a, b) for a, (b, s) in best.items() if s >= threshold and a not in labelled_sources}
    return {**quality(predicted, truth), "threshold": threshold}, seconds


def best_threshold(best: dict[str, tuple[str, float]], labels: set[tuple[str, str]]) -> float:
    """The cosine threshold whose "match when the nearest clears it" is F1-best on the labelled
    sources' nearest targets (best: source -> (nearest target, cosine)); the lowest of equals. The
    candidates are the cosines themselves, never rounded: a rounded-up threshold (0.99986 -> 1.0)
    is above every score it came from and predicts nothing."""
    def f1(t: float) -> float:
        return quality({(a, b) for a, (b, s) in best.items() if s >= t}, labels)["F1"]

    return max(sorted({float(s) for _, s in best.values()}), key=f1, default=1.0)


def _labels(truth: list, args) -> list[tuple[str, str]]:
    """The true pairs given as labels: the same for a (catalog, --labels, --seed) in every phase."""
    rng = np.random.default_rng(args.seed)
    return [truth[i] for i in rng.choice(len(truth), size=min(args.labels, len(truth) // 2), replace=False)]


def _model_path(args) -> Path:
    return args.model or args.workdir / f"{graph_name(args)}_k{args.k}.pkl"


def ingest(args) -> dict:
    """Phase 1 (its own process): the graph (ingested unless kept) and the labels in it."""
    from shopgraph.ingest.pipeline import ingest_same_as
    from shopgraph.matching.pipeline import graph_labels

    sg, truth, ingest_seconds, ingest_peak = build_graph(args)
    with sg:
        labels = _labels(truth, args)
        if set(labels) - set(graph_labels(sg.store, "shop_a", "shop_b")):
            ingest_same_as(sg.store, labels, "synthetic-truth", "bench")
        reset_matches(sg)
    return {"true pairs": len(truth), "labels": len(labels), "ingest seconds": ingest_seconds,
            "ingest peak RSS MB": ingest_peak}


def train(args) -> dict:
    """Phase 2 (its own process: the ingest's heap is not carried into it): the scorer trained on the
    labels, kept beside the graph and reused when it is there (delete it to retrain)."""
    from shopgraph.matching.pipeline import train_matcher
    from shopgraph.queries.api import ShopGraph

    path = _model_path(args)
    if args.model:
        return {"training": {"given": str(path)}}
    if path.exists():
        return {"training": {"reused": str(path)}}
    with ShopGraph.open(args.workdir / f"{graph_name(args)}.db") as sg, training_cost() as train_cost:
        reset_peak_rss()
        start = time.perf_counter()
        scorer = train_matcher(sg.store, "shop_a", "shop_b", path, k=args.k)
        seconds, peak = round(time.perf_counter() - start, 1), vm_hwm_mb()
    print(f"trained: {seconds} s, peak RSS {peak} MB", flush=True)
    return {"training": {**train_cost, **scorer.metrics, "seconds": seconds, "peak RSS MB": peak}}


def match(args) -> dict:
    """Phase 3 (a fresh process, so its peak RSS is the matching's, not the ingest's or training's):
    the timed match_platforms, then the nearest-vector baseline."""
    from shopgraph.matching.pipeline import match_platforms
    from shopgraph.matching.scorer import PairScorer
    from shopgraph.queries.api import ShopGraph

    name = graph_name(args)
    with (args.workdir / name / "truth.csv").open(encoding="utf-8") as f:
        truth = [(f"shop_a:{a}", f"shop_b:{b}") for a, b in list(csv.reader(f))[1:]]
    labels = _labels(truth, args)
    unlabelled = set(truth) - set(labels)
    scorer = PairScorer.load(_model_path(args))
    with ShopGraph.open(args.workdir / f"{name}.db") as sg:
        open_mb = vm_hwm_mb()
        # Peak RSS of the matching: the high-water mark is reset after imports, opening and the scorer.
        reset_peak_rss()
        load_before = os.getloadavg()
        cpu_before = _cpu_seconds()
        start = time.perf_counter()
        with _Sampler() as sampler:
            report, proposals = match_platforms(sg.store, scorer, "shop_a", "shop_b", k=args.k, write=True,
                                                workers=args.workers)
        total = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_before
        per_stage = sampler.stages(start, report.seconds)
        print("per stage (wall s, CPU s, peak MB of all processes at 1 s samples): " + ", ".join(
            f"{k} {report.seconds[k]:.1f} / {v['CPU seconds']} / {v['peak MB, all processes']}"
            for k, v in per_stage.items()), flush=True)
        peak_mb = vm_hwm_mb()
        peak_all = sampler.peak_all()
        load_after = os.getloadavg()
        print(f"match_platforms: {total:.1f} s ({cpu:.1f} s of CPU), {report.workers} workers, peak RSS {peak_mb} MB "
              f"(this process), peak {peak_all} MB (all its processes, sampled), stages "
              + ", ".join(f"{k} {v:.1f}" for k, v in report.seconds.items()), flush=True)
        written = sg.store.cypher("MATCH (a:Product)-[e:SAME_AS]->(b:Product) WHERE e.status IN ['matched', 'review'] "
                                  "RETURN count(e) AS n")[0]["n"]
        matched = {(p["src"], p["dst"]) for p in proposals if p["status"] == "matched"}
        ours = quality(matched - set(labels), unlabelled)
        base, base_seconds = (None, None) if args.no_baseline else vector_baseline(sg, labels, unlabelled)
    rows = [
        {"method": "shopgraph match_platforms", **ours, "seconds": round(total, 1), "CPU seconds": round(cpu, 1),
         "workers": report.workers, "peak RSS MB": peak_mb, "peak MB, all processes": peak_all,
         "candidates per product": round(report.candidates_per_product, 1), "edges written": written},
    ]
    vectors = "stand-in" if args.encoder == "standin" else "MiniLM"
    if base is not None:
        rows.append({"method": f"baseline: nearest {vectors} vector + threshold", **base,
                     "seconds": round(base_seconds, 1), "CPU seconds": None, "workers": 1, "peak RSS MB": None,
                     "peak MB, all processes": None,
                     "candidates per product": 1.0, "edges written": 0})
    return {"products per shop": args.products, "text vectors": vectors,
            "stages": {stage: round(s, 1) for stage, s in report.seconds.items()}, "rows": rows,
            "stages (CPU s, peak MB of all processes sampled each second)": per_stage,
            "workers": report.workers,
            "peak RSS MB before matching (imports, open graph, scorer)": open_mb,
            "load average (1, 5, 15 min) before / after match_platforms":
                [[round(v, 2) for v in load_before], [round(v, 2) for v in load_after]],
            "seconds ratio (shopgraph / baseline)": round(total / base_seconds, 2) if base else None}


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process, its threads and its ended children (the matching's
    forked feature workers, counted when they end) so far: on a machine shared with other work the
    wall clock grows with the load average, the CPU time much less."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _children() -> list[int]:
    """Process ids of this process's running children (every thread's)."""
    pids = []
    for task in Path("/proc/self/task").glob("*/children"):
        try:
            pids += [int(p) for p in task.read_text().split()]
        except (OSError, ValueError):
            pass
    return pids


def _pss_mb(pid: int | str) -> float:
    """Proportional set size of one process, MiB (a page shared by n processes counts 1/n in each):
    the parent's and its forked children's PSS add up to what they hold together. 0 when gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def _memory_all_mb() -> float:
    """Memory of this process and its children now, MiB: alone, its resident size (at least its PSS,
    and cheap to read); with children, the sum of every process's PSS (shared copy-on-write pages
    counted once in all)."""
    from bench.common import rss_mb

    children = _children()
    if not children:
        return rss_mb() or 0.0
    return _pss_mb("self") + sum(_pss_mb(pid) for pid in children)


class _Sampler:
    """A thread sampling the memory of this process and its children (_memory_all_mb) and their CPU
    seconds every `every` s while the matching runs, so each stage (MatchReport.seconds, in the order
    the stages ran) gets its CPU seconds and its sampled peak memory: the wall clock moves with the
    shared machine's load, the CPU time much less, and the peak says which stage the high-water mark
    belongs to."""

    def __init__(self, every: float = 1.0):
        import threading

        self.every, self.samples = every, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.samples.append((time.perf_counter(), _cpu_seconds(), _memory_all_mb()))

    def peak_all(self) -> float:
        """The highest sampled memory of all the processes, MiB."""
        return round(max(m for _, _, m in self.samples), 1)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self):
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()

    def stages(self, start: float, seconds: dict[str, float]) -> dict[str, dict]:
        """{stage: {"CPU seconds", "peak MB, all processes"}} with each stage placed end to end from `start`
        (the small gaps between the report's stages fall into the next one)."""
        t, cpu, rss = (np.array(column) for column in zip(*self.samples))
        out, lo = {}, start
        for stage, s in seconds.items():
            hi = lo + s
            inside = (t >= lo) & (t <= hi)
            c0, c1 = np.interp([lo, hi], t, cpu)
            out[stage] = {"CPU seconds": round(float(c1 - c0), 1),
                          "peak MB, all processes": round(float(rss[inside].max()), 1) if inside.any() else None}
            lo = hi
        return out


PHASES = {"ingest": ingest, "train": train, "match": match}


def run(args) -> dict:
    """The phases, each in its own process (python -m bench.match_scale ... --phase NAME)."""
    import json
    import subprocess
    import tempfile

    from shopgraph.errors import BadArgumentError

    if args.products < 100 or args.labels < 10 or args.k < 1:
        raise BadArgumentError("need --products >= 100, --labels >= 10 and -k >= 1")
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = {}
    for phase in PHASES:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"{phase}.json"
            done = subprocess.run([sys.executable, "-m", "bench.match_scale", *args.argv, "--phase", phase,
                                   "--phase-out", str(out)], cwd=Path(__file__).resolve().parents[1])
            if done.returncode != 0:
                raise SystemExit(f"phase {phase} failed (exit {done.returncode})")
            results.update(json.loads(out.read_text()))
    return results


def main(argv=None) -> int:
    from shopgraph.errors import ShopGraphError

    args = parse_args(argv)
    if args.phase:
        import json

        args.phase_out.write_text(json.dumps(PHASES[args.phase](args)))
        return 0
    try:
        results = run(args)
    except ShopGraphError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print_table(results["rows"], title=f"matching {args.products:,} x {args.products:,} synthetic listings")
    print("stages (s): " + ", ".join(f"{k} {v}" for k, v in results["stages"].items()))
    first = results["rows"][0]
    # The bar counts every process of the matching: the parent's own high-water mark or the sampled
    # sum over it and its forked workers, whichever is higher.
    seconds = first["seconds"]
    peak = max((m for m in (first["peak RSS MB"], first.get("peak MB, all processes")) if m is not None),
               default=None)
    bars = {f"end to end under {SECONDS_BAR:.0f} s ({seconds} s)": seconds < SECONDS_BAR}
    if args.products >= LARGE_PRODUCTS:
        bars = {f"end to end under {LARGE_SECONDS_BAR:.0f} s ({seconds} s)": seconds < LARGE_SECONDS_BAR,
                f"peak memory of all its processes under {LARGE_MB_BAR} MB ({peak} MB)": peak is not None and peak < LARGE_MB_BAR}
    report_bars(results, bars)
    path = write_results(args.out, args_settings(args), results, packages=PACKAGES)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
