"""bench.filter_search runs on a small bench.scale-shaped database (brands, Top categories with leaves,
prices, queries.npy), compares the two blocks on every case and writes its JSON."""
import json


import bench.common
from bench import filter_search
from tests.helpers import small_scale_folder


def test_filter_search_runs_every_case_and_writes_its_results(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.common, "RESULTS_DIR", tmp_path / "results")
    small_scale_folder(tmp_path)
    filter_search.main(["--dir", str(tmp_path), "--queries", "6", "--results", "fs_test"])
    rows = json.loads((tmp_path / "results" / "fs_test.json").read_text(encoding="utf-8"))["results"]
    assert [r["case"] for r in rows] == ["brand ~1%", "category ~20%", "price+category", "cypher where"]
    for r in rows:
        assert r["allowed"] > 0
        assert r["recall_previous"] == r["recall_current"] == r["recall_block_only"] == r["recall_store_before"] == 1.0
        assert r["store_before_p50"] > 0 and r["store_ratio"] > 0 and r["api_ratio"] > 0
        assert r["store_paired_ratio"] > 0 and r["api_paired_ratio"] > 0


def test_a_folder_without_the_scale_files_is_named(tmp_path):
    import pytest

    from bench import filter_search

    with pytest.raises(SystemExit, match="not a bench.scale size folder"):
        filter_search.main(["--dir", str(tmp_path)])
