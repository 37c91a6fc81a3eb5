"""What LadybugDB itself gives read-only opens beside a writer in another process, with and without
shopgraph's access lock (shopgraph/graph/access_lock.py).

    python -m bench.ladybug_readers                  # 20 s per arm, 2 readers of each kind
    python -m bench.ladybug_readers --seconds 60 --workdir /tmp/lr

Raw `ladybug` only, no shopgraph store. A writer process commits, for the whole arm, transactions of
20 new rows (a 384-float vector each) plus a counter row set to the transaction's number, and runs
CHECKPOINT after every 5th. Readers of two kinds read in a loop:
- reopen:     a new read-only Database for every read (what a CLI search does);
- long-lived: one read-only Database for the whole arm (a server, a notebook); in the locked arm it
              opens a new one when the commit marker says the writer has committed since.
A read checks, in one snapshot, that the row count is 20 x the counter (a half-written transaction
breaks it) and that the newest rows' vectors are finite. Arms: "unlocked" (LadybugDB alone) and
"locked" (AccessLock.writing around every commit and checkpoint, AccessLock.reading around every open
and read). Reported per arm and reader kind: good reads, errors by message, inconsistent reads,
distinct counters seen (1 = the reader never saw a commit after its open), crashed processes.

Last, what a read-only open costs as the write-ahead log grows (it replays the log): the same
transactions without checkpoints, and the best of three opens in a fresh process at each log size
(what store.checkpoint_mb bounds). A transaction that runs COPY is checkpointed by LadybugDB at
commit whatever the threshold (its log is then empty); the counts of such commits are printed too.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bench.common import args_settings, print_table, write_results

ROWS, DIM, CHECKPOINT_EVERY = 20, 384, 5


def _writer(db: str, seconds: float, locked: bool, out: str) -> None:
    import ladybug

    from shopgraph.graph.access_lock import AccessLock

    access = AccessLock(Path(db), read_wait=60, write_wait=60)
    with access.writing():
        database = ladybug.Database(db)
        conn = ladybug.Connection(database)
        conn.execute(f"CREATE NODE TABLE R(id STRING, b INT64, v FLOAT[{DIM}], PRIMARY KEY(id))")
        conn.execute("CREATE NODE TABLE C(k STRING, n INT64, PRIMARY KEY(k))")
        conn.execute("CREATE (:C {k: 'count', n: 0})")
    rng = np.random.default_rng(0)
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        n += 1
        rows = [{"id": f"{n}-{i}", "b": n, "v": rng.random(DIM, dtype=np.float32).tolist()} for i in range(ROWS)]
        conn.execute("BEGIN TRANSACTION")
        conn.execute(f"UNWIND $rows AS r CREATE (:R {{id: r.id, b: r.b, v: CAST(r.v AS FLOAT[{DIM}])}})", {"rows": rows})
        conn.execute("MATCH (c:C {k: 'count'}) SET c.n = $n", {"n": n})
        if locked:
            with access.writing():
                conn.execute("COMMIT")
                if n % CHECKPOINT_EVERY == 0:
                    conn.execute("CHECKPOINT")
        else:
            conn.execute("COMMIT")
            if n % CHECKPOINT_EVERY == 0:
                conn.execute("CHECKPOINT")
    seconds_used = time.perf_counter() - started
    with access.writing():
        conn.close()
        database.close()
    Path(out).write_text(json.dumps({"commits": n, "commits_per_s": round(n / seconds_used, 1)}))


def _reader(db: str, kind: str, locked: bool, stop: str, out: str) -> None:
    import ladybug

    from shopgraph.graph.access_lock import AccessLock

    access = AccessLock(Path(db), read_wait=60, write_wait=60)
    tally: Counter = Counter()
    counters: set[int] = set()
    database = conn = None
    opened_at = None
    while not Path(stop).exists():
        try:
            with (access.reading() if locked else _nothing()) as marker:
                if database is None or kind == "reopen" or (locked and marker != opened_at):
                    if database is not None:
                        conn.close()
                        database.close()
                    database = ladybug.Database(db, read_only=True)
                    conn = ladybug.Connection(database)
                    opened_at = marker
                conn.execute("BEGIN TRANSACTION READ ONLY")
                n = conn.execute("MATCH (c:C {k: 'count'}) RETURN c.n").get_all()[0][0]
                count = conn.execute("MATCH (r:R) RETURN count(r)").get_all()[0][0]
                vectors = conn.execute("MATCH (r:R) WHERE r.b = $n RETURN r.v", {"n": n}).get_all()
                conn.execute("COMMIT")
            counters.add(n)
            finite = all(v[0] is not None and np.isfinite(v[0]).all() for v in vectors)
            tally["ok" if count == n * ROWS and finite else "inconsistent"] += 1
        except Exception as e:  # counted by message: what LadybugDB says
            tally["error: " + " ".join(str(e).split())[:110]] += 1
            try:
                if database is not None:
                    database.close()
            except Exception:
                pass
            database = conn = None
        time.sleep(0.002)
    Path(out).write_text(json.dumps({"tally": tally, "counters_seen": len(counters)}))


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def run_arm(workdir: Path, seconds: float, readers: int, locked: bool) -> dict:
    ctx = mp.get_context("spawn")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    db, stop = workdir / "raw.db", workdir / "stop"
    writer = ctx.Process(target=_writer, args=(str(db), seconds, locked, str(workdir / "writer.json")))
    writer.start()
    while not db.exists() and writer.is_alive():
        time.sleep(0.05)
    time.sleep(1.0)  # the tables exist
    procs = {}
    for kind in ("reopen", "long-lived"):
        for n in range(readers):
            name = f"{kind}-{n}"
            procs[name] = ctx.Process(target=_reader, args=(str(db), kind, locked, str(stop), str(workdir / f"{name}.json")))
            procs[name].start()
    writer.join()
    stop.touch()
    for proc in procs.values():
        proc.join(timeout=60)
        if proc.is_alive():
            proc.kill()
            proc.join()
    result = {"writer": json.loads((workdir / "writer.json").read_text()) if (workdir / "writer.json").exists() else {},
              "writer_exit": writer.exitcode, "readers": {}}
    for name, proc in procs.items():
        path = workdir / f"{name}.json"
        result["readers"][name] = {"exit": proc.exitcode, **(json.loads(path.read_text()) if path.exists() else {})}
    return result


def open_cost(workdir: Path, sizes_mb=(0, 0.5, 1, 2, 4)) -> list[dict]:
    """Read-only open time (best of 3, ms, in a fresh process) at each write-ahead log size, the log
    grown by UNWIND transactions with checkpoints off; and whether a COPY transaction left a log."""
    import subprocess
    import sys

    import ladybug
    import pyarrow as pa

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    db = workdir / "log.db"
    database = ladybug.Database(str(db), auto_checkpoint=False)
    conn = ladybug.Connection(database)
    conn.execute(f"CREATE NODE TABLE R(id STRING, b INT64, v FLOAT[{DIM}], PRIMARY KEY(id))")
    conn.execute("CHECKPOINT")
    probe = ("import ladybug, sys, time\nbest = 1e9\nfor _ in range(3):\n    t = time.perf_counter()\n"
             "    d = ladybug.Database(sys.argv[1], read_only=True)\n    ladybug.Connection(d).execute('MATCH (r:R) "
             "RETURN count(r)').get_all()\n    best = min(best, time.perf_counter() - t)\n    d.close()\n"
             "print(round(best * 1000, 1))")
    wal = Path(f"{db}.wal")
    rng = np.random.default_rng(1)
    rows, n = [], 0
    for size in sizes_mb:
        while (wal.stat().st_size if wal.exists() else 0) < size * 2**20 and n < 10_000:
            n += 1
            batch = [{"id": f"{n}-{i}", "b": n, "v": rng.random(DIM, dtype=np.float32).tolist()} for i in range(ROWS)]
            conn.execute(f"UNWIND $rows AS r CREATE (:R {{id: r.id, b: r.b, v: CAST(r.v AS FLOAT[{DIM}])}})", {"rows": batch})
        opened = subprocess.run([sys.executable, "-c", probe, str(db)], capture_output=True, text=True)
        rows.append({"log MB": round(wal.stat().st_size / 2**20, 2) if wal.exists() else 0.0, "commits": n,
                     "read-only open ms": float(opened.stdout.strip()) if opened.returncode == 0 else None})
    conn.close()
    database.close()
    copy_db = workdir / "copy.db"
    database = ladybug.Database(str(copy_db))  # auto checkpoint on, 16 MB threshold
    conn = ladybug.Connection(database)
    conn.execute("CREATE NODE TABLE T(id STRING, PRIMARY KEY(id))")
    conn.execute("CREATE (:T {id: 'first'})")
    logged = Path(f"{copy_db}.wal").exists()
    conn.execute("BEGIN TRANSACTION")
    conn.execute("COPY T FROM $t", {"t": pa.table({"id": [f"c{i}" for i in range(20)]})})
    conn.execute("COMMIT")
    rows.append({"log MB": "COPY commit", "commits": 1,
                 "read-only open ms": f"log before {'kept' if logged else 'none'}, after: "
                                     f"{'kept' if Path(f'{copy_db}.wal').exists() else 'checkpointed'}"})
    conn.close()
    database.close()
    return rows


def summary_rows(arm: str, result: dict) -> list[dict]:
    rows = []
    for kind in ("reopen", "long-lived"):
        mine = {n: r for n, r in result["readers"].items() if n.startswith(kind)}
        tally: Counter = Counter()
        for r in mine.values():
            tally.update(r.get("tally", {}))
        errors = sum(v for k, v in tally.items() if k.startswith("error"))
        rows.append({"arm": arm, "readers": kind, "good reads": tally["ok"], "errors": errors,
                     "inconsistent": tally["inconsistent"],
                     "crashed": sum(1 for r in mine.values() if r["exit"] != 0),
                     "counters seen (min)": min((r.get("counters_seen", 0) for r in mine.values()), default=0),
                     "writer commits/s": result["writer"].get("commits_per_s")})
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.ladybug_readers", description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--seconds", type=float, default=20.0, help="length of each arm (default 20)")
    p.add_argument("--readers", type=int, default=2, help="readers of each kind (default 2)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/shopgraph-bench-ladybug-readers"))
    args = p.parse_args(argv)
    results = {arm: run_arm(args.workdir / arm, args.seconds, args.readers, arm == "locked")
               for arm in ("unlocked", "locked")}
    rows = summary_rows("unlocked", results["unlocked"]) + summary_rows("locked", results["locked"])
    print_table(rows, title="read-only LadybugDB readers beside a writer process")
    for arm, result in results.items():
        errors: Counter = Counter()
        for r in result["readers"].values():
            errors.update({k: v for k, v in r.get("tally", {}).items() if k.startswith("error")})
        for message, count in errors.most_common(8):
            print(f"  {arm}: {count:>5} x {message}")
    opens = open_cost(args.workdir / "open-cost")
    print_table(opens, title="read-only open vs write-ahead log size (checkpoints off)")
    path = write_results("ladybug_readers", args_settings(args), {"summary": rows, "arms": results, "open_cost": opens},
                         packages=("ladybug", "numpy"),
                         notes=[f"{ROWS} rows of {DIM} floats per commit, CHECKPOINT every {CHECKPOINT_EVERY}"])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
