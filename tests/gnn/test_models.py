"""The heterogeneous GNNs (R-GCN and relational GAT) on a small hand-made graph: shapes, symmetries,
isolated nodes and nodes without a learned row."""

from __future__ import annotations

import copy

import pytest
import torch

from shopgraph.gnn.graph_data import TrainingGraph
from shopgraph.gnn.models import build_model

DIM = 8
KINDS = ("rgcn", "gat")
INTERACTED, OF_BRAND = ("user", "interacted", "product"), ("product", "of_brand", "brand")
IN_CATEGORY, SUBCATEGORY = ("product", "in_category", "category"), ("category", "subcategory_of", "category")


def small_graph(seed: int = 0) -> TrainingGraph:
    """7 products (features), 3 brands (features; brand 2 has no edges at all), 3 categories
    (features), 4 users (learned rows only). Product 6 has no edges."""
    g = torch.Generator().manual_seed(seed)
    return TrainingGraph(
        num_nodes={"product": 7, "brand": 3, "category": 3, "user": 4},
        x={"product": torch.randn(7, 5, generator=g), "brand": torch.randn(3, 4, generator=g),
           "category": torch.randn(3, 3, generator=g)},
        learned_rows={"user": torch.arange(4)},
        edges={INTERACTED: torch.tensor([[0, 0, 1, 1, 2, 3, 3, 3], [0, 1, 1, 2, 3, 4, 5, 0]]),
               OF_BRAND: torch.tensor([[0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 1, 0]]),
               IN_CATEGORY: torch.tensor([[0, 1, 2, 3, 4, 5], [1, 1, 2, 2, 2, 1]]),
               SUBCATEGORY: torch.tensor([[1, 2], [0, 0]])},
        ids={"product": [f"p{i}" for i in range(7)], "brand": ["b0", "b1", "b2"],
             "category": ["c0", "c1", "c2"], "user": [f"u{i}" for i in range(4)]})


def make_model(kind: str, graph: TrainingGraph, learned: dict[str, int] | None = None, seed: int = 0):
    torch.manual_seed(seed)
    args = {"metadata": (graph.node_types, graph.message_types()), "in_dims": graph.in_dims(),
            "learned": learned if learned is not None else {"user": graph.num_nodes["user"]},
            "dim": DIM, "layers": 2, "dropout": 0.3}
    if kind == "gat":
        args["heads"] = 2
    return build_model(kind, **args).eval()


def run(model, graph: TrainingGraph) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return model(graph.x, graph.message_edges(), graph.learned_rows, graph.num_nodes)


def permuted(graph: TrainingGraph, node_type: str, perm: torch.Tensor) -> TrainingGraph:
    """The same graph with node_type's rows reordered: new row i is old row perm[i]."""
    new_row = torch.empty_like(perm)
    new_row[perm] = torch.arange(len(perm))
    edges = {}
    for (src, rel, dst), edge_index in graph.edges.items():
        edge_index = edge_index.clone()
        if src == node_type:
            edge_index[0] = new_row[edge_index[0]]
        if dst == node_type:
            edge_index[1] = new_row[edge_index[1]]
        edges[(src, rel, dst)] = edge_index
    x = {t: (v[perm] if t == node_type else v) for t, v in graph.x.items()}
    learned = {t: (v[perm] if t == node_type else v) for t, v in graph.learned_rows.items()}
    return TrainingGraph(dict(graph.num_nodes), x, learned, edges)


@pytest.mark.parametrize("kind", KINDS)
def test_output_shapes_per_node_type(kind):
    graph = small_graph()
    out = run(make_model(kind, graph), graph)
    assert set(out) == set(graph.node_types)
    for node_type, n in graph.num_nodes.items():
        assert out[node_type].shape == (n, DIM)
        assert out[node_type].dtype == torch.float32 and bool(torch.isfinite(out[node_type]).all())


@pytest.mark.parametrize("kind", KINDS)
def test_eval_mode_is_deterministic(kind):
    graph = small_graph()
    model = make_model(kind, graph)
    first, second = run(model, graph), run(model, graph)
    for t in first:
        assert torch.equal(first[t], second[t])  # dropout is off


def test_unknown_model_kind_is_a_config_error():
    from shopgraph.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown GNN model"):
        build_model("graphsage")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("node_type", ["product", "user", "category"])
def test_permuting_nodes_permutes_outputs(kind, node_type):
    graph = small_graph()
    model = make_model(kind, graph)
    perm = torch.randperm(graph.num_nodes[node_type], generator=torch.Generator().manual_seed(1))
    before, after = run(model, graph), run(model, permuted(graph, node_type, perm))
    for t in graph.node_types:
        expected = before[t][perm] if t == node_type else before[t]
        torch.testing.assert_close(after[t], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_edge_order_does_not_matter(kind):
    graph = small_graph()
    model = make_model(kind, graph)
    g = torch.Generator().manual_seed(2)
    shuffled = copy.copy(graph)
    shuffled.edges = {e: v[:, torch.randperm(v.shape[1], generator=g)] for e, v in graph.edges.items()}
    before, after = run(model, graph), run(model, shuffled)
    for t in graph.node_types:
        torch.testing.assert_close(after[t], before[t], atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_node_without_edges_gets_an_output_of_its_own(kind):
    graph = small_graph()
    model = make_model(kind, graph)
    out = run(model, graph)
    assert out["product"][6].abs().sum() > 0 and out["brand"][2].abs().sum() > 0
    # Its output depends on its own input only: changing every other node leaves it alone.
    other = copy.copy(graph)
    other.x = {t: v + 1.0 for t, v in graph.x.items()}
    other.x["product"][6], other.x["brand"][2] = graph.x["product"][6], graph.x["brand"][2]
    changed = run(model, other)
    torch.testing.assert_close(changed["product"][6], out["product"][6], atol=1e-6, rtol=0)
    torch.testing.assert_close(changed["brand"][2], out["brand"][2], atol=1e-6, rtol=0)
    assert not torch.allclose(changed["product"][0], out["product"][0])


@pytest.mark.parametrize("kind", KINDS)
def test_unseen_learned_row_is_a_zero_input(kind):
    graph = small_graph()
    model = make_model(kind, graph)
    unseen = copy.copy(graph)
    unseen.learned_rows = {"user": torch.tensor([0, -1, 2, 3])}
    out = run(model, unseen)
    assert out["user"].shape == (4, DIM) and bool(torch.isfinite(out["user"]).all())
    # The same as the seen user with its embedding row zeroed.
    zeroed = copy.deepcopy(model)
    with torch.no_grad():
        zeroed.inputs.embed["user"].weight[1] = 0.0
    expected = run(zeroed, graph)
    for t in graph.node_types:
        torch.testing.assert_close(out[t], expected[t], atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_node_added_after_training_uses_the_old_table(kind):
    """A user the model never saw (more nodes than embedding rows) still gets an output."""
    graph = small_graph()
    model = make_model(kind, graph)  # 4 user rows
    grown = copy.copy(graph)
    grown.num_nodes = {**graph.num_nodes, "user": 5}
    grown.learned_rows = {"user": torch.tensor([0, 1, 2, 3, -1])}
    grown.edges = {**graph.edges, INTERACTED: torch.cat([graph.edges[INTERACTED], torch.tensor([[4, 4], [2, 3]])], 1)}
    out = run(model, grown)
    assert out["user"].shape == (5, DIM) and bool(torch.isfinite(out["user"]).all())
    assert out["user"][4].abs().sum() > 0  # messages from its products


def test_every_node_type_needs_an_input():
    graph = small_graph()
    with pytest.raises(ValueError, match="neither features nor learned rows"):
        make_model("rgcn", graph, learned={})
