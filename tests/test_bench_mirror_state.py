"""bench.mirror_state times the pin's statement and the API search with it before and after write
epochs on every bench.scale case, hydrating from the cards at the (id, generation, epoch) version;
--begin-epoch writes one product first (a new epoch the cards and the index follow)."""
import json

import pytest

import bench.common
from bench import cards, mirror_state
from shopgraph.graph.embedded import EmbeddedStore
from tests.helpers import small_scale_folder


def test_ab_on_every_case_before_and_after_a_new_epoch(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.common, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(EmbeddedStore, "_begin_epoch", lambda self, first: None)  # a database made before epochs
    small_scale_folder(tmp_path)
    monkeypatch.undo()
    monkeypatch.setattr(bench.common, "RESULTS_DIR", tmp_path / "results")
    with pytest.raises(SystemExit, match="fill them first"):
        mirror_state.main(["--dir", str(tmp_path), "--repeat", "1", "--rounds", "10", "--results", "t0"])
    cards.main(["--dir", str(tmp_path), "--fill-into", str(tmp_path / "scale.db.index" / "cards.sqlite"),
                "--results", "fill"])
    first = mirror_state.main(["--dir", str(tmp_path), "--repeat", "1", "--rounds", "10", "--results", "t1"])
    second = mirror_state.main(["--dir", str(tmp_path), "--begin-epoch", "--repeat", "1", "--rounds", "10",
                                "--results", "t2"])
    assert second["begun"]["generation"] == first["version"][1] + 1
    assert second["version"] == [first["version"][0], second["begun"]["generation"], second["begun"]["epoch"]]
    assert second["begun"]["epoch"] != first["version"][2]
    assert first["version"][2] is None
    saved = json.loads((tmp_path / "results" / "t2.json").read_text(encoding="utf-8"))["results"]
    assert list(saved["cases"]) == ["unfiltered", "brand ~1%", "category ~20%", "price+category", "cypher where"]
    for r in saved["cases"].values():  # a database with epochs: today's read alone
        assert r["graph_reads_in_api_calls"] == 0 and r["after_p50_ms"] > 0 and "before_p50_ms" not in r
    for r in first["cases"].values():  # no epoch yet: the read before epochs is that code exactly
        assert r["graph_reads_in_api_calls"] == 0 and r["before_p50_ms"] > 0 and r["after_p50_ms"] > 0
    for r in saved["statements"].values():
        assert r["before_p50_ms"] > 0 and r["after_p50_ms"] > 0
