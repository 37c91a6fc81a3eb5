"""Per-catalog self-calibration (bench/selfcal.py): pseudo-queries and weight factors."""

import random

import pytest

from bench.selfcal import (channel_factors, perturb, pseudo_queries, reciprocal_rank,
                                      scaled_weights)


def test_perturb_drops_words_and_is_fixed_by_the_seed():
    title = "acme turbo blender 900 watt stainless steel jug"
    one = perturb(title, random.Random(5))
    assert one == perturb(title, random.Random(5))
    words = one.split()
    assert 1 <= len(words) < len(title.split())  # at least one word dropped, never all
    assert set(words) <= set(title.split())
    assert len(perturb(title, random.Random(5), drop=0.0, swaps=0, max_words=3).split()) == 3
    assert perturb("two words", random.Random(1), swaps=0) == "two words"  # short titles keep every word


def test_pseudo_queries_sample_does_not_depend_on_read_order():
    titles = [(f"p{i}", f"brand{i % 3} gadget model{i} blue") for i in range(50)] + [("x", "single")]
    a = pseudo_queries(titles, n=10, seed=3)
    b = pseudo_queries(list(reversed(titles)), n=10, seed=3)
    assert a == b and len(a) == 10
    assert all(q.source != "x" for q in pseudo_queries(titles, n=60))  # one-word titles are not used
    assert len(pseudo_queries(titles, n=60)) == 50


def test_reciprocal_rank():
    assert reciprocal_rank(["a", "b", "c"], "b") == 0.5
    assert reciprocal_rank(["a"], "z") == 0.0


def test_factors_lower_only_a_channel_far_below_the_best():
    mrr = {"bm25": 0.9, "vector": 0.6, "learned": 0.88}
    f = channel_factors(mrr, threshold=0.8, power=1.0)
    assert f["bm25"] == 1.0 and f["learned"] == 1.0  # 0.88 >= 0.8 x 0.9
    assert f["vector"] == pytest.approx(0.6 / 0.72)
    assert channel_factors(mrr, threshold=0.8, power=2.0)["vector"] == pytest.approx((0.6 / 0.72) ** 2)
    assert channel_factors({"bm25": 0.9}, 0.8)["vector"] == 1.0  # a channel that did not run keeps 1
    assert set(channel_factors(mrr, threshold=0.0).values()) == {1.0}  # off
    assert set(channel_factors({"bm25": 0.0, "vector": 0.0}).values()) == {1.0}  # nothing to compare


def test_scaled_weights_touch_only_the_calibrated_channels():
    w = scaled_weights({"exact": 1.0, "bm25": 0.5, "vector": 2.0}, {"vector": 0.5, "bm25": 1.0})
    assert w == {"exact": 1.0, "bm25": 0.5, "vector": 1.0}


def test_bench_refuses_the_dev_runs_with_each_groups_factors():
    from bench.search_selfcal import evaluate
    from bench.search_shipped import DevRun
    from shopgraph.config import SearchConfig

    # a "text" query: BM25 ranks the answer "a" first, the vectors rank "b" first
    def run(group):
        return DevRun(group, "text", {"bm25": ["a", "b"], "vector": ["b", "a"]}, set(), {"a": 1},
                      "red kettle", {"bm25": [9.0, 8.0], "vector": [0.9, 0.8]})
    runs = [run("cat/before"), run("dog/before")]
    shipped = evaluate(runs, {}, SearchConfig())  # text: bm25=1 vector=2, rrf: the vectors' "b" first
    assert shipped["cat/before"] == shipped["dog/before"] < 1.0
    scaled = evaluate(runs, {"cat/before": {"vector": 0.25}}, SearchConfig())
    assert scaled["cat/before"] == 1.0  # only the calibrated group's vector weight fell below BM25's
    assert scaled["dog/before"] == shipped["dog/before"]
