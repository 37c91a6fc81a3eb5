"""An ingest's commits grow with the graph (issue 18, Scale round 6): LadybugDB checkpoints at every
commit of a COPY, at a cost that grows with the database, so committing every batch made a catalog's
commits quadratic in its size. The rule, and that a real ingest follows it."""

from __future__ import annotations

import csv

import pytest

from shopgraph.config import IngestConfig, load_config
from shopgraph.errors import ConfigError
from shopgraph.ingest.pipeline import commit_rows
from shopgraph.queries.api import ShopGraph


def test_rows_per_commit_grow_with_the_graph_between_one_batch_and_the_cap():
    config = IngestConfig(batch_size=100, commit_growth=1.0, commit_max_rows=1000)
    assert [commit_rows(config, stored) for stored in (0, 50, 100, 400, 999, 5000)] == [100, 100, 100, 400, 999, 1000]
    half = IngestConfig(batch_size=100, commit_growth=0.5, commit_max_rows=1000)
    assert commit_rows(half, 600) == 300
    # commit_growth 0: every batch commits (the behaviour before this rule)
    assert commit_rows(IngestConfig(batch_size=100, commit_growth=0.0), 10**6) == 100


@pytest.mark.parametrize("setting", ["ingest.commit_growth=-1", "ingest.commit_growth=inf", "ingest.commit_max_rows=0",
                                     "search.learned_agreement=-1"])
def test_bad_commit_settings_are_config_errors(setting):
    key, value = setting.split("=")
    with pytest.raises(ConfigError, match=key.split(".")[1]):
        load_config(overrides={key: value})


def _catalog(path, n):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sku", "name", "brand", "color"])
        for i in range(n):
            writer.writerow([f"S-{i:04d}", f"Steel bottle {i}", ["Nordvik", "Omnia"][i % 2], ["red", "blue"][i % 2]])


def _ingest_counting_commits(tmp_path, n, overrides):
    _catalog(tmp_path / "items.csv", n)
    config = load_config(overrides={"ingest.batch_size": "50", "ingest.use_cache": "false", **overrides})
    seen: list[str] = []
    with ShopGraph.open(tmp_path / "g.db", config=config) as sg:
        sg.store.trace = lambda query, params: seen.append(query)
        summary = sg.ingest(tmp_path / "items.csv", {"platform": "shop", "id": "sku", "title": "name",
                                                     "brand": "brand"}, progress=False)
        products = sg.store.count_nodes("Product")
    return summary, products, seen.count("BEGIN TRANSACTION")


def test_an_ingest_commits_a_logarithmic_number_of_times(tmp_path):
    # 600 rows in batches of 50: commits after 50, 100, 200 and 400 products, then the rest,
    # where a commit per batch (commit_growth 0, the old behaviour) makes 12; plus the ingest's own
    # bookkeeping writes (brands) in both.
    (tmp_path / "grow").mkdir()
    (tmp_path / "each").mkdir()
    summary, products, grouped = _ingest_counting_commits(tmp_path / "grow", 600, {"ingest.commit_growth": "1"})
    assert summary.products_written == products == 600
    summary, products, per_batch = _ingest_counting_commits(tmp_path / "each", 600, {"ingest.commit_growth": "0"})
    assert summary.products_written == products == 600
    assert per_batch >= 12 and grouped <= per_batch - 7, (grouped, per_batch)
