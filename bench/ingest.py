"""Ingest throughput benchmark: the whole pipeline against the raw encoders, on the same products.

    python -m bench.ingest                          # Flipkart sample, all 1050 products, 2 repeats
    python -m bench.ingest --limit 200 --repeats 1 --out ingest-quick --no-wait
    python -m bench.ingest --profile                # also cProfile one pipeline run (top functions)

Arms, measured in one process on the same validated products (read once, untimed, for the raw arm):
- raw: exactly the model work: TextEncoder.encode(record.text), ImageEncoder.encode_paths(image
  paths), LexicalEncoder.encode(record.title) and fuse(), each called once on the whole list;
  no reading, validation, hashing or writing.
- pipeline: ShopGraph.open(fresh db) + ingest_dataset(dir, "flipkart") with the vector cache off
  (ingest.use_cache=False), so every vector is computed: read CSV, validate, encode, fuse, write
  to LadybugDB (COPY), quarantine.
Each round opens the pipeline's graph, loads and warms its encoders (one full text batch and one
full image batch, untimed), then times the raw arm with those very encoders and then the pipeline,
so model load time is excluded from both and both use the same loaded models. Rounds repeat
(raw, pipeline, raw, pipeline, ...) so machine noise hits both arms alike; the medians are compared.

Informative figures afterwards: re-ingest of the same data into the same db (everything unchanged,
nothing encoded: the skip path); a first ingest into a new db with the cache on (encodes and fills
the cache), then re-ingests into a new, empty db at that path with its cache kept (cache-hit path:
no model runs, only lexical vectors, fusion and writes).
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from bench.common import Timer, peak_rss_mb, print_table, rss_mb, write_results
from shopgraph.config import Config, IngestConfig
from shopgraph.errors import ShopGraphError

LAYOUT = "flipkart"
TARGET_RATIO = 0.80
NOISY_OTHERS_PCT = 25.0  # other processes' CPU during an arm, % of one core, above which we warn
PACKAGES = ("numpy", "torch", "ladybug", "sentence-transformers", "transformers", "pyarrow", "pillow",
            "efficientnet-lite-pytorch")


def default_data_dir() -> Path:
    """../shared/data/multimodal/flipkart_1050 relative to the repo root ($SHOPGRAPH_DATA replaces ../shared/data)."""
    env = os.environ.get("SHOPGRAPH_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    return (root / "multimodal" / "flipkart_1050").resolve()


# -- inputs -----------------------------------------------------------------------------------
@dataclass
class Inputs:
    """The products the pipeline will encode, as its reader and validator produce them."""

    records: list          # ProductRecord, valid rows only, first row per id (as the pipeline keeps them)
    rows: int              # data rows in the file, good and bad

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.records]

    @property
    def titles(self) -> list[str]:
        return [r.title for r in self.records]

    @property
    def paths(self) -> list[str | None]:
        return [None if r.image_path is None else str(r.image_path) for r in self.records]

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]


def prepare_data(source: Path, limit: int | None, workdir: Path) -> Path:
    """The directory to ingest: source itself, or with --limit a copy of its CSV cut to the first
    `limit` records next to a symlink to its image directory (same layout, same image files)."""
    from shopgraph.ingest.layouts import load_layout

    layout = load_layout(source, LAYOUT)
    if limit is None:
        return layout.extra["directory"]
    csv_path = layout.products[0].path
    target = workdir / "data"
    target.mkdir(parents=True)
    csv.field_size_limit(64 * 1024 * 1024)
    with open(csv_path, newline="", encoding="utf-8") as src, \
            open(target / csv_path.name, "w", newline="", encoding="utf-8") as dst:
        reader, writer = csv.reader(src), csv.writer(dst)
        writer.writerow(next(reader))
        for n, row in enumerate(reader):
            if n >= limit:
                break
            writer.writerow(row)
    image_dir = layout.extra.get("image_dir")
    if image_dir is not None:
        os.symlink(image_dir, target / Path(image_dir).name, target_is_directory=True)
    return target


def load_inputs(directory: Path, limits: IngestConfig) -> Inputs:
    """Read and validate the dataset once (untimed), keeping what the pipeline would encode."""
    from shopgraph.ingest.layouts import load_layout, product_items
    from shopgraph.records import ProductRecord

    layout = load_layout(directory, LAYOUT)
    records, seen, rows = [], set(), 0
    for source in layout.products:
        for item in product_items(source, limits):
            rows += 1
            if isinstance(item, ProductRecord) and item.id not in seen:
                seen.add(item.id)
                records.append(item)
    if not records:
        raise ShopGraphError(f"{directory}: no valid products to ingest")
    return Inputs(records, rows)


# -- arms -------------------------------------------------------------------------------------
def warm_up(encoder, inputs: Inputs) -> None:
    """Load the models and run one full batch of each, so first-call costs are outside the timings."""
    from shopgraph.ingest.encoders.fusion import fuse

    text = encoder.text_encoder.encode(inputs.texts[:encoder.config.text.batch_size])
    paths = [p for p in inputs.paths if p is not None][:encoder.config.image.batch_size]
    encoder.image_encoder.encode_paths(paths)
    lexical = encoder.lexical_encoder.encode(inputs.titles[:len(text)])
    fuse(text, None, lexical, encoder.config.fusion)


def raw_arm(encoder, inputs: Inputs) -> dict:
    """The model work alone, on the whole list at once. Returns seconds per step and the vectors."""
    from shopgraph.ingest.encoders.fusion import fuse

    texts, paths, titles = inputs.texts, inputs.paths, inputs.titles  # built before the clock starts
    parts = {}
    with Timer() as total:
        with Timer() as t:
            text = encoder.text_encoder.encode(texts)
        parts["text_s"] = t.seconds
        with Timer() as t:
            images = encoder.image_encoder.encode_paths(paths)
        parts["image_s"] = t.seconds
        with Timer() as t:
            lexical = encoder.lexical_encoder.encode(titles)
        parts["lexical_s"] = t.seconds
        with Timer() as t:
            fused = fuse(text, images.vectors, lexical, encoder.config.fusion, image_ok=images.ok)
        parts["fuse_s"] = t.seconds
    return {"seconds": total.seconds, "parts": parts, "fused": fused, "images_ok": int(images.ok.sum())}


@contextmanager
def instrumented(graph) -> Iterator[dict]:
    """Time the pipeline's steps by wrapping, for the duration of the block: ProductEncoder.encode
    (the graph's encoder instance), store.product_hashes and store.write (the graph's store instance)
    and graph_rows.product_batch as the pipeline module calls it. Yields {step: seconds}."""
    import shopgraph.ingest.pipeline as pipeline_module

    spent = {"encode_s": 0.0, "hashes_s": 0.0, "rows_s": 0.0, "write_s": 0.0}

    def timed(fn: Callable, key: str) -> Callable:
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start
        return wrapper

    encoder, store = graph.encoder, graph.store
    original_rows = pipeline_module.product_batch
    encoder.encode = timed(encoder.encode, "encode_s")  # instance attributes shadow the methods
    store.product_hashes = timed(store.product_hashes, "hashes_s")
    store.write = timed(store.write, "write_s")
    pipeline_module.product_batch = timed(original_rows, "rows_s")
    try:
        yield spent
    finally:
        pipeline_module.product_batch = original_rows
        for obj, name in ((encoder, "encode"), (store, "product_hashes"), (store, "write")):
            vars(obj).pop(name, None)


def ingest_timed(graph, directory: Path, progress: bool) -> dict:
    """One ingest_dataset call with the step breakdown; 'other_s' is reading, validating, quarantine
    and the loop itself (everything not in a wrapped step)."""
    with instrumented(graph) as spent, Timer() as t:
        summary = graph.ingest_dataset(directory, LAYOUT, progress=progress)
    other = t.seconds - sum(spent.values())
    return {"seconds": t.seconds, "parts": {**spent, "other_s": other}, "summary": _summary(summary)}


def _summary(summary) -> dict:
    return {k: getattr(summary, k) for k in ("rows_read", "products_written", "products_unchanged", "quarantined",
                                             "images_missing", "vectors_from_cache")}


def check_vectors(graph, inputs: Inputs, raw_fused: np.ndarray) -> dict:
    """How far the stored fused vectors are from the raw arm's (same models, same inputs: ~1e-6)."""
    ids, stored = graph.store.get_vectors("Product", "fused_vec", inputs.ids)
    order = {pid: i for i, pid in enumerate(inputs.ids)}
    expected = raw_fused[[order[i] for i in ids]]
    return {"compared": len(ids), "max_abs_diff": float(np.abs(stored - expected).max()) if ids else None}


def remove_db(path: Path, keep_cache: bool = False) -> None:
    """Delete a database and its side files (index, quarantine, wal...), optionally keeping its vector cache."""
    for p in path.parent.glob(path.name + "*"):
        if keep_cache and p.name.startswith(path.name + ".cache.sqlite"):
            continue
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


# -- machine quietness ------------------------------------------------------------------------
def _proc_cpu_ticks() -> dict[int, tuple[int, str]]:
    """{pid: (user + system clock ticks so far, command line)} of every process but this one (/proc)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        out[int(entry.name)] = (int(fields[11]) + int(fields[12]), cmd[:120] or stat.split()[1])
    return out


@contextmanager
def others_cpu() -> Iterator[dict]:
    """CPU used by other processes during a block, in % of one core (200 = both cores of this machine
    busy elsewhere): `with others_cpu() as o: ...; o["pct"]`. None where /proc is unavailable."""
    out: dict = {"pct": None}
    if not Path("/proc").is_dir():
        yield out
        return
    before, start = _proc_cpu_ticks(), time.perf_counter()
    yield out
    after, wall = _proc_cpu_ticks(), time.perf_counter() - start
    ticks = sum(t - before.get(pid, (0, ""))[0] for pid, (t, _) in after.items())
    out["pct"] = round(100.0 * ticks / os.sysconf("SC_CLK_TCK") / max(wall, 1e-9), 1)


def busy_processes(threshold_pct: float, interval: float = 2.0) -> list[dict]:
    """Other processes using more than threshold_pct of one core over `interval` seconds (/proc)."""
    if not Path("/proc").is_dir():
        return []
    tick = os.sysconf("SC_CLK_TCK")
    before = _proc_cpu_ticks()
    time.sleep(interval)
    after = _proc_cpu_ticks()
    busy = []
    for pid, (ticks, cmd) in after.items():
        if pid in before:
            pct = 100.0 * (ticks - before[pid][0]) / tick / interval
            if pct > threshold_pct:
                busy.append({"pid": pid, "cpu_pct": round(pct, 1), "command": cmd})
    return sorted(busy, key=lambda b: -b["cpu_pct"])


def wait_until_quiet(threshold_pct: float, max_wait_s: float, poll_s: float = 30.0) -> dict:
    """Poll until no other process uses more than threshold_pct CPU in two checks 10 s apart (or
    max_wait_s passes)."""
    def check() -> list[dict]:
        busy = busy_processes(threshold_pct)
        if not busy:  # one quiet sample can fall between two runs of someone's loop: look again
            time.sleep(10.0)
            busy = busy_processes(threshold_pct)
        return busy

    started = time.monotonic()
    busy = check()
    first = list(busy)
    while busy and time.monotonic() - started < max_wait_s:
        names = ", ".join(f"PID {b['pid']} {b['cpu_pct']:.0f}% {b['command'][:60]!r}" for b in busy[:3])
        print(f"machine busy ({names}); waiting {poll_s:.0f} s "
              f"({time.monotonic() - started:.0f}/{max_wait_s:.0f} s)", flush=True)
        time.sleep(poll_s)
        busy = check()
    return {"busy_at_first_check": first, "busy_at_start": busy,
            "waited_s": round(time.monotonic() - started, 1), "quiet": not busy}


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


# -- the benchmark ----------------------------------------------------------------------------
def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else 0.0


def run(args, data: Path, workdir: Path) -> dict:
    from shopgraph.queries.api import ShopGraph

    nocache = Config(ingest=IngestConfig(use_cache=False))
    inputs = load_inputs(data, nocache.ingest)
    # its one warning (images missing) was just shown; every ingest below would repeat it
    logging.getLogger("shopgraph.ingest.validate").setLevel(logging.ERROR)
    n = len(inputs.records)
    print(f"{n} products ({inputs.rows} rows, {sum(p is not None for p in inputs.paths)} with an image path) "
          f"from {data}", flush=True)

    rounds, last_graph, last_db = [], None, None
    for r in range(args.repeats):
        db = workdir / f"round{r}.db"
        with Timer() as t_open:
            graph = ShopGraph.open(db, config=nocache)
        try:
            warm_up(graph.encoder, inputs)  # the pipeline's own encoder: both arms use these models
            with others_cpu() as others:
                raw = raw_arm(graph.encoder, inputs)
            raw["others_cpu_pct"] = others["pct"]
            print(f"round {r + 1}: raw      {raw['seconds']:7.2f} s  {rate(n, raw['seconds']):7.1f} products/s",
                  flush=True)
            with others_cpu() as others:
                pipe = ingest_timed(graph, data, args.progress)
            pipe["others_cpu_pct"] = others["pct"]
            pipe["parts"] = {"open_s": t_open.seconds, **pipe["parts"]}
            pipe["seconds"] += t_open.seconds
            print(f"round {r + 1}: pipeline {pipe['seconds']:7.2f} s  {rate(n, pipe['seconds']):7.1f} products/s",
                  flush=True)
            if pipe["summary"]["products_written"] != n:
                raise ShopGraphError(f"pipeline wrote {pipe['summary']['products_written']} products, expected {n}")
            check = check_vectors(graph, inputs, raw.pop("fused"))
            rounds.append({"round": r + 1, "raw": raw, "pipeline": pipe, "vector_check": check,
                           "rss_mb": rss_mb()})
        except BaseException:
            graph.close()
            raise
        if r < args.repeats - 1:
            graph.close()
            remove_db(db)
        last_graph, last_db = graph, db

    extra = {}
    try:
        # skip path: the same data into the same db; every product unchanged, nothing encoded
        skips = []
        for _ in range(args.repeats):
            res = ingest_timed(last_graph, data, args.progress)
            if res["summary"]["products_unchanged"] != n:
                raise ShopGraphError(f"re-ingest saw {res['summary']['products_unchanged']} unchanged, expected {n}")
            skips.append(res)
        extra["skip_unchanged"] = skips
        if args.profile:
            extra["profile"] = profile_pipeline(workdir / "profile.db", nocache, inputs, data, args.profile_top)
    finally:
        last_graph.close()
        remove_db(last_db)

    extra.update(cache_paths(workdir / "cached.db", inputs, data, args))
    return {"products": n, "rows": inputs.rows, "rounds": rounds, **extra}


def cache_paths(db: Path, inputs: Inputs, data: Path, args) -> dict:
    """First ingest with the cache on (fills it), then re-ingests into a fresh db that keeps the cache."""
    from shopgraph.queries.api import ShopGraph

    cached = Config()  # ingest.use_cache=True: <db>.cache.sqlite
    with ShopGraph.open(db, config=cached) as graph:
        warm_up(graph.encoder, inputs)  # model load excluded, as in the measured arms
        first = ingest_timed(graph, data, args.progress)
    hits = []
    for _ in range(args.repeats):
        remove_db(db, keep_cache=True)
        with Timer() as t_open:
            graph = ShopGraph.open(db, config=cached)
        with graph:
            res = ingest_timed(graph, data, args.progress)  # no warm-up: a full hit loads no model
        res["parts"] = {"open_s": t_open.seconds, **res["parts"]}
        res["seconds"] += t_open.seconds
        hits.append(res)
    remove_db(db)
    return {"cache_first_run": first, "cache_hit": hits}


def profile_pipeline(db: Path, config: Config, inputs: Inputs, data: Path, top: int) -> dict:
    """cProfile one pipeline ingest (models loaded and warmed first); the top functions by own time
    and the pipeline-level functions by cumulative time."""
    import cProfile
    import pstats

    from shopgraph.queries.api import ShopGraph

    with ShopGraph.open(db, config=config) as graph:
        warm_up(graph.encoder, inputs)
        profiler = cProfile.Profile()
        with Timer() as t:
            profiler.runcall(graph.ingest_dataset, data, LAYOUT, progress=False)
    remove_db(db)
    stats = pstats.Stats(profiler)

    def rows(key: str, keep: Callable[[str], bool], limit: int) -> list[dict]:
        entries = []
        for (file, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():
            where = f"{_short(file)}:{line}:{name}"
            if keep(where):
                entries.append({"function": where, "calls": calls, "own_s": round(tottime, 3),
                                "cumulative_s": round(cumtime, 3)})
        entries.sort(key=lambda e: -e[key])
        return entries[:limit]

    return {"seconds": round(t.seconds, 2),
            "by_own_time": rows("own_s", lambda w: True, top),
            "shopgraph_outside_encoders_by_cumulative": rows(
                "cumulative_s", lambda w: w.startswith("shopgraph/") and not w.startswith("shopgraph/ingest/encoders/"),
                top)}


def _short(file: str) -> str:
    for marker in ("site-packages/", "/work/main/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


# -- report -----------------------------------------------------------------------------------
def median(values) -> float:
    return float(statistics.median(values))


def summarise(res: dict) -> dict:
    n = res["products"]
    raw = [rate(n, r["raw"]["seconds"]) for r in res["rounds"]]
    pipe = [rate(n, r["pipeline"]["seconds"]) for r in res["rounds"]]
    ratio = median(pipe) / median(raw)

    def median_parts(arm: str) -> dict:
        keys = res["rounds"][0][arm]["parts"]
        return {k: round(median(r[arm]["parts"][k] for r in res["rounds"]), 3) for k in keys}

    out = {"raw_products_per_s": round(median(raw), 1), "pipeline_products_per_s": round(median(pipe), 1),
           "ratio": round(ratio, 3), "target": TARGET_RATIO, "pass": ratio >= TARGET_RATIO,
           "raw_seconds_median": round(median(r["raw"]["seconds"] for r in res["rounds"]), 2),
           "pipeline_seconds_median": round(median(r["pipeline"]["seconds"] for r in res["rounds"]), 2),
           "others_cpu_pct_max": max((r[a].get("others_cpu_pct") or 0.0) for r in res["rounds"]
                                     for a in ("raw", "pipeline")),
           "raw_parts_median_s": median_parts("raw"), "pipeline_parts_median_s": median_parts("pipeline")}
    for key in ("skip_unchanged", "cache_hit"):
        if res.get(key):
            out[f"{key}_products_per_s"] = round(median(rate(n, x["seconds"]) for x in res[key]), 1)
    if res.get("cache_first_run"):
        out["cache_first_run_products_per_s"] = rate(n, res["cache_first_run"]["seconds"])
    return out


def print_report(res: dict, summary: dict) -> None:
    n = res["products"]
    rows = []
    for r in res["rounds"]:
        for arm in ("raw", "pipeline"):
            x = r[arm]
            rows.append({"round": r["round"], "arm": arm, "seconds": round(x["seconds"], 2),
                         "products/s": rate(n, x["seconds"]), "others_cpu%": x.get("others_cpu_pct"),
                         **{k: round(v, 2) for k, v in x["parts"].items()}})
    columns = ["round", "arm", "seconds", "products/s", "others_cpu%", "text_s", "image_s", "lexical_s", "fuse_s", "open_s",
               "encode_s", "hashes_s", "rows_s", "write_s", "other_s"]
    print_table(rows, columns, title=f"Every repeat ({n} products; *_s = seconds in that step)")

    figures = [
        {"measure": "raw encoders (text+image+lexical+fuse)", "products/s": summary["raw_products_per_s"],
         "seconds": summary["raw_seconds_median"]},
        {"measure": "pipeline end to end, cache off", "products/s": summary["pipeline_products_per_s"],
         "seconds": summary["pipeline_seconds_median"]},
    ]
    extra = (("skip_unchanged", "re-ingest, same db, all unchanged (skip)"),
             ("cache_first_run", "first ingest with cache on (fills cache)"),
             ("cache_hit", "re-ingest into new db, cache hits"))
    for key, label in extra:
        if res.get(key):
            runs = res[key] if isinstance(res[key], list) else [res[key]]
            secs = median(x["seconds"] for x in runs)
            figures.append({"measure": label, "products/s": rate(n, secs), "seconds": round(secs, 2)})
    print_table(figures, ["measure", "products/s", "seconds"], title="Figures (medians)")
    verdict = "PASS" if summary["pass"] else "FAIL"
    print(f"\npipeline / raw = {summary['ratio']:.3f}  (target >= {TARGET_RATIO:.2f}): {verdict}")
    if summary["others_cpu_pct_max"] > NOISY_OTHERS_PCT:
        print(f"warning: other processes used up to {summary['others_cpu_pct_max']:.0f}% of a core during "
              "a measured arm: the figures are noisy (see others_cpu%)")
    parts = summary["pipeline_parts_median_s"]
    total = summary["pipeline_seconds_median"]
    print("pipeline breakdown (median s): " + ", ".join(f"{k[:-2]} {v:.2f} ({100 * v / total:.0f}%)"
                                                        for k, v in parts.items()))
    diffs = [r["vector_check"]["max_abs_diff"] for r in res["rounds"]]
    print(f"stored fused vectors vs the raw arm's: max |diff| {max(diffs):.2e} over "
          f"{res['rounds'][0]['vector_check']['compared']} products (same models, same inputs)")
    if res.get("profile"):
        prof = res["profile"]
        print_table(prof["by_own_time"], title=f"Profile of one pipeline run ({prof['seconds']} s), top own time")
        print_table(prof["shopgraph_outside_encoders_by_cumulative"],
                    title="shopgraph functions outside the encoders, by cumulative time")


# -- main -------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None,
                   help="dataset directory in the flipkart layout (default ../shared/data/multimodal/flipkart_1050 "
                        "relative to the repo root)")
    p.add_argument("--limit", type=int, default=None, help="only the first N rows (default: all)")
    p.add_argument("--repeats", type=int, default=2, help="interleaved rounds of raw + pipeline (default %(default)s)")
    p.add_argument("--out", default=None, help="results name (default ingest, or ingest-limitN with --limit)")
    p.add_argument("--workdir", type=Path, default=None, help="where the temporary databases go (default a new temp dir)")
    p.add_argument("--busy-cpu", type=float, default=50.0,
                   help="another process above this %% of one core counts as busy (default %(default)s)")
    p.add_argument("--max-wait", type=float, default=3600.0,
                   help="seconds to wait for a busy machine to quieten before running anyway (default %(default)s)")
    p.add_argument("--no-wait", action="store_true", help="do not check that the machine is quiet")
    p.add_argument("--profile", action="store_true", help="also cProfile one pipeline run and print the top functions")
    p.add_argument("--profile-top", type=int, default=25)
    p.add_argument("--progress", action="store_true", help="show the pipeline's progress bars")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be at least 1")
    args.data = (args.data or default_data_dir()).expanduser()
    args.out = args.out or ("ingest" if args.limit is None else f"ingest-limit{args.limit}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.data.is_dir():
        print(f"error: dataset directory not found: {args.data} (give --data DIR)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.workdir))
    try:
        quiet = {"checked": False}
        if not args.no_wait:
            quiet = {"checked": True, **wait_until_quiet(args.busy_cpu, args.max_wait)}
            if not quiet["quiet"]:
                print("warning: the machine is still busy; results will be noisy", flush=True)
        load_before = loadavg()
        data = prepare_data(args.data, args.limit, workdir)
        res = run(args, data, workdir)
        load_after = loadavg()
        quiet["busy_at_end"] = busy_processes(args.busy_cpu) if quiet["checked"] else None
    except ShopGraphError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = summarise(res)
    res["peak_rss_mb"] = peak_rss_mb()
    print_report(res, summary)

    import torch

    settings = {"data": str(args.data), "limit": args.limit, "layout": LAYOUT, "repeats": args.repeats,
                "products": res["products"], "rows": res["rows"], "torch_threads": torch.get_num_threads(),
                "config": {"text_batch_size": Config().text.batch_size, "image_batch_size": Config().image.batch_size,
                           "decode_workers": Config().image.decode_workers,
                           "ingest_batch_size": Config().ingest.batch_size},
                "machine_quiet_check": quiet, "loadavg_before": load_before, "loadavg_after": load_after}
    notes = [
        "products/s = valid products / wall seconds; both arms handle the same products.",
        "Model load time is excluded from both arms: each round loads the pipeline graph's encoders and runs one "
        "full text batch and one full image batch before timing; the raw arm then uses those same encoder objects.",
        "raw: TextEncoder.encode(record.text), ImageEncoder.encode_paths, LexicalEncoder.encode(record.title), "
        "fuse(), each on the whole list at once. pipeline: ShopGraph.open(new db) + ingest_dataset(dir, 'flipkart') "
        "with ingest.use_cache=False (read, validate, content hashes, encode in batches of ingest.batch_size, fuse, "
        "COPY into LadybugDB, quarantine). The ANN index is not built during ingest (it syncs on first search).",
        "Pipeline parts: encode_s = ProductEncoder.encode (includes reading image bytes and sha1 keys), hashes_s = "
        "store.product_hashes, rows_s = graph_rows.product_batch, write_s = store.write (Arrow + COPY), "
        "other_s = the rest (CSV reading, validation, quarantine, loop).",
        "Skip path: same data into the same db, every product unchanged. Cache hit: a new empty db at the path of a "
        "db ingested with the cache on, its <db>.cache.sqlite kept; no model runs (lexical vectors are never cached).",
        "Rounds are interleaved (raw, pipeline, raw, pipeline...) so machine noise hits both arms alike.",
    ]
    path = write_results(args.out, settings, {"summary": summary, **res}, notes=notes, packages=PACKAGES)
    print(f"\npeak RSS {res['peak_rss_mb']:,.0f} MiB; loadavg before {load_before}, after {load_after}; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
