"""The synthetic two-shop catalog behind bench.match_scale: deterministic, with the truth it claims."""

from __future__ import annotations

import csv

from bench import match_scale
from bench.synthetic_catalog import write_catalog


def _rows(path):
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_same_seed_same_files_and_truth(tmp_path):
    a = write_catalog(tmp_path / "one", 300, seed=3)
    b = write_catalog(tmp_path / "two", 300, seed=3)
    for key in ("a", "b", "truth"):
        assert a[key].read_bytes() == b[key].read_bytes()
    assert a["matches"] == 240  # overlap 0.8 of 300


def test_truth_links_listings_of_one_product_and_siblings_differ(tmp_path):
    files = write_catalog(tmp_path, 400, seed=5)
    shop_a = {r["id"]: r for r in _rows(files["a"])}
    shop_b = {r["id"]: r for r in _rows(files["b"])}
    truth = _rows(files["truth"])
    assert len(shop_a) == len(shop_b) == 400 and len(truth) == files["matches"]
    assert len({t["id_a"] for t in truth}) == len({t["id_b"] for t in truth}) == len(truth)  # one to one
    for pair in truth:
        left, right = shop_a[pair["id_a"]], shop_b[pair["id_b"]]
        assert left["category"] == right["category"]
        assert left["title"].split()[0].lower() == right["title"].split()[0].lower()  # same brand first
        assert abs(float(left["price"]) / float(right["price"]) - 1) < 0.5
    # Variants share brand and line but not the whole title: no two shop A titles are equal.
    assert len({r["title"] for r in shop_a.values()}) == len(shop_a)


def test_bench_rejects_bad_arguments_with_one_line(capsys, tmp_path):
    assert match_scale.main(["--products", "10", "--workdir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_baseline_threshold_is_never_above_the_scores_it_comes_from():
    # Near-duplicate vectors give cosines like 0.99986: a threshold rounded to 1.0 predicted nothing.
    best = {"a1": ("b1", 0.99986), "a2": ("b2", 0.99979), "a3": ("b9", 0.9101)}
    labels = {("a1", "b1"), ("a2", "b2"), ("a3", "b3")}
    threshold = match_scale.best_threshold(best, labels)
    assert 0.9101 < threshold <= 0.99979
    assert match_scale.best_threshold({}, labels) == 1.0


def test_stand_in_vectors_leave_the_catalog_unchanged_and_are_one_unit_row_per_listing(tmp_path):
    import numpy as np

    plain = write_catalog(tmp_path / "plain", 200, seed=4)
    with_vectors = write_catalog(tmp_path / "vec", 200, seed=4, vectors=True)
    for key in ("a", "b", "truth"):
        assert plain[key].read_bytes() == with_vectors[key].read_bytes()
    shop_a = np.fromfile(with_vectors["vectors_a"], dtype=np.float32).reshape(-1, 384)
    shop_b = np.fromfile(with_vectors["vectors_b"], dtype=np.float32).reshape(-1, 384)
    assert len(shop_a) == len(shop_b) == 200
    assert np.allclose(np.linalg.norm(shop_a, axis=1), 1, atol=1e-5)
    # Row n is listing <shop><n>: a true pair's two listings are each other's nearest.
    truth = _rows(with_vectors["truth"])
    pairs = [(int(t["id_a"][1:]), int(t["id_b"][1:])) for t in truth]
    nearest = (shop_a @ shop_b.T).argmax(axis=1)
    assert np.mean([nearest[i] == j for i, j in pairs]) > 0.95


def test_the_stage_sampler_splits_cpu_and_peak_memory_by_stage():
    # bench.match_scale reports each stage's CPU seconds and sampled peak RSS: stages laid end to end
    # from the start, CPU interpolated at their bounds, the peak of the samples inside each.
    sampler = match_scale._Sampler()
    sampler.samples = [(0.0, 0.0, 100.0), (1.0, 0.5, 300.0), (2.0, 1.5, 200.0), (3.0, 2.0, 900.0), (4.0, 2.0, 50.0)]
    got = sampler.stages(0.0, {"load": 1.5, "blocking": 2.5})
    assert got == {"load": {"CPU seconds": 1.0, "peak MB, all processes": 300.0},
                   "blocking": {"CPU seconds": 1.0, "peak MB, all processes": 900.0}}
    assert sampler.peak_all() == 900.0
    with match_scale._Sampler(every=0.01) as live:
        sum(range(200_000))
    assert len(live.samples) >= 2 and all(rss > 0 for _, _, rss in live.samples)


def test_the_memory_of_all_processes_counts_a_running_child():
    # With children (the matching's forked feature workers) the sampler adds every process's PSS.
    import subprocess
    import sys
    import time

    alone = match_scale._memory_all_mb()
    child = subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(60 << 20); time.sleep(30)"])
    try:
        for _ in range(100):
            if match_scale._pss_mb(child.pid) > 50:
                break
            time.sleep(0.1)
        assert child.pid in match_scale._children()
        assert match_scale._memory_all_mb() >= match_scale._pss_mb("self") + 50
    finally:
        child.kill()
        child.wait()
    assert alone > 0
