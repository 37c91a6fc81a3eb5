"""bench.scale --rerun replaces figures in the results file of the run it names (--results), not in
bench/results/scale.json whatever the run was called."""
import json

import pytest

import bench.common
from bench import scale


def _saved(products: int) -> dict:
    return {"results": {"sizes": [{"products": products, "cases": {}}], "growth": []}}


def test_rerun_updates_the_named_results_file(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.common, "RESULTS_DIR", tmp_path)
    (tmp_path / "scale_1m.json").write_text(json.dumps(_saved(1_000_000)), encoding="utf-8")
    (tmp_path / "scale.json").write_text(json.dumps(_saved(10_000)), encoding="utf-8")
    # No size of the saved run is asked for, so no stage runs; only the note is added.
    scale.rerun(["query"], [5], 10, tmp_path, results="scale_1m")
    named = json.loads((tmp_path / "scale_1m.json").read_text(encoding="utf-8"))
    default = json.loads((tmp_path / "scale.json").read_text(encoding="utf-8"))
    assert any("rerun" in note for note in named["notes"])
    assert "notes" not in default


def test_rerun_of_a_missing_results_file_names_it(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.common, "RESULTS_DIR", tmp_path)
    with pytest.raises(SystemExit, match="scale_nope.json"):
        scale.rerun(["query"], [5], 10, tmp_path, results="scale_nope")


def test_the_attribute_workload_keeps_the_ingests_attribute_count_and_prints_beside_old_results(capsys):
    # stage_query once wrote its attribute workload under "attributes", the ingest's count of attribute
    # values: a run lost that count, and a --rerun over a results file holding the count crashed.
    old = {"products": 10, "attributes": 30, "cases": {}}
    new = {"products": 20, "attributes": 60, "cases": {},
           "attribute_queries": {"key": "color", "value": "black", "brand": "b",
                                 "value filter": {"p50_ms": 1.0, "rows": 5}}}
    scale._attribute_table([old, new])
    printed = capsys.readouterr().out
    assert "value filter" in printed and "color = black" in printed


def test_the_cold_mode_finds_the_database_and_index_files_and_reads_residency(tmp_path):
    # bench.scale --cold evicts and then reports what is resident: it must see the database's own files
    # and every file under its index folder, and mincore must account for a file just written.
    (tmp_path / "scale.db").write_bytes(b"x" * 10_000)
    (tmp_path / "scale.db.access.lock").write_bytes(b"")
    (tmp_path / "scale.db.index" / "text_vec" / "data-1").mkdir(parents=True)
    (tmp_path / "scale.db.index" / "text_vec" / "data-1" / "mirror.npy").write_bytes(b"y" * 9000)
    (tmp_path / "catalog.csv").write_text("not the database")
    files = scale._database_files(tmp_path)
    assert sorted(p.name for p in files["db"]) == ["scale.db", "scale.db.access.lock"]
    assert [p.name for p in files["index"]] == ["mirror.npy"]
    resident = scale._resident_mb(files["db"] + files["index"])
    assert 0 <= resident <= 32 / 1024 + 0.1  # at most the pages of 19 kB
    scale._evict(files["db"] + files["index"])  # never raises on empty or small files


def test_the_cold_mode_runs_a_baseline_revision_and_takes_medians_of_alternating_rounds(tmp_path):
    # --baseline-code extracts another revision's shopgraph package for the baseline's stages to import
    # first, and --repeat's rounds are compared by their medians (the per-round rows are kept).
    code = scale._code_of("HEAD", tmp_path)
    assert (code / "shopgraph" / "__init__.py").is_file() and not (code / "bench").exists()
    rows = [{"open_ms": o, "first_query_ms": f, "second_query_ms": 1.0,
             "cases": {"unfiltered": {"api_p50_ms": p, "first_ms": 2.0, "recall@10": None}}}
            for o, f, p in ((100.0, 900.0, 3.0), (300.0, 100.0, 5.0), (200.0, 200.0, 4.0))]
    median = scale._median_row(rows)
    assert (median["open_ms"], median["first_query_ms"]) == (200.0, 200.0)
    assert median["cases"]["unfiltered"] == {"api_p50_ms": 4.0, "first_ms": 2.0}
    assert scale._median_row(rows[:1]) is rows[0]
    with pytest.raises(SystemExit):
        scale._code_of("no-such-revision-here", tmp_path)


def test_a_missing_peer_stops_the_run_before_its_first_stage(tmp_path, monkeypatch):
    # The peer stage runs after ingest and build: without LanceDB the run used to stop there, an hour in
    # at 1M, with an import traceback. Now it stops at once and says how to get it or skip it.
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "lancedb" else find_spec(name, *a))
    monkeypatch.setattr(bench.common, "RESULTS_DIR", tmp_path / "results")  # a run that got going writes here
    stages = []
    monkeypatch.setattr(scale, "_run_stage", lambda name, *a: stages.append(name) or {})
    with pytest.raises(SystemExit, match="make bench-install"):
        scale.main(["--sizes", "10", "--keep", str(tmp_path)])
    assert stages == []
    with pytest.raises(SystemExit, match="make bench-install"):
        scale.main(["--sizes", "10", "--keep", str(tmp_path), "--rerun", "query,peer"])


def test_the_paired_ratio_follows_each_query_not_the_busy_spells():
    # queries 0-4 ran in a quiet spell, 5-9 in a busy one that slowed both calls 8x: each query's API call
    # costs 1.2x its store call, which the paired ratio reads; the ratio of p50s reads whatever the spell
    # mix and the split between them make of it
    store = [1.0] * 5 + [8.0] * 5
    api = [1.2 * s for s in store]
    assert scale.paired_ratio(api, store) == 1.2
