"""Recommendation on Amazon S3-Rec data: popularity, BPR matrix factorisation and the shopgraph GNN.

    python -m bench.recommend                        # Beauty
    python -m bench.recommend --dataset Toys_and_Games --max-minutes 5
    python -m bench.recommend --data DIR --dataset Beauty --layers 2 --dim 64

Protocol (leave-last-out): in each user's time-ordered sequence the last item is the test target, the
one before it the validation target, the rest train. Every model ranks all items for a user; the
items the user has seen before the target are left out of the ranking (the target itself never is).
Recall@20 and NDCG@20 over all users; training early-stops on validation NDCG@20, test is reported.

The three models share everything shopgraph has: the same graph, the same BPR objective with one
uniformly sampled negative per positive, the same optimiser, trainer and early stopping.
- popularity: items ranked by their number of training interactions;
- BPR-MF: shopgraph's RelationalGCN with zero propagation layers, i.e. a user and an item embedding
  table scored by their inner product: matrix factorisation;
- GNN: the RelationalGCN with per-relation normalised propagation (no weight matrices: LightGCN-style,
  which suits id-embedding inputs) over users, items and the item attributes (brand and category
  ids), layer outputs averaged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bench.common import print_table, write_results
from bench.learned import run_checked, data_root, training_cost

K = 20
TARGET_GAIN = 0.10  # GNN over BPR-MF, relative, on recall@20 and NDCG@20
PACKAGES = ("numpy", "torch", "torch-geometric")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.recommend", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=data_root() / "interactions" / "amazon_s3rec",
                   help="the amazon_s3rec directory (default ../shared/data/interactions/amazon_s3rec)")
    p.add_argument("--dataset", default="Beauty", help="Beauty, Sports_and_Outdoors or Toys_and_Games")
    p.add_argument("--dim", type=int, default=64, help="embedding width (default 64)")
    p.add_argument("--layers", type=int, default=3, help="GNN propagation layers (default 3)")
    p.add_argument("--batch-size", type=int, default=4096, help="positive pairs per step (default 4096)")
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--mf-l2", type=float, nargs="+", default=[3e-3, 1e-2, 3e-2],
                   help="BPR-MF embedding regularisers to try; the best on validation is reported "
                        "(default 3e-3 1e-2 3e-2)")
    p.add_argument("--gnn-l2", type=float, default=1e-3, help="GNN embedding regulariser (default 1e-3)")
    p.add_argument("--max-epochs", type=int, default=300)
    p.add_argument("--validate-every", type=int, default=5, help="epochs between validations (default 5)")
    p.add_argument("--patience", type=int, default=4, help="validations without improvement (default 4)")
    p.add_argument("--max-minutes", type=float, default=9.5, help="training time cap per model (default 9.5)")
    p.add_argument("--no-attributes", action="store_true", help="GNN over user-item edges only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="results name (default recommend, or recommend_<dataset> for others)")
    return p.parse_args(argv)


def load(directory: Path, dataset: str):
    """(user sequences as lists of item rows, item -> attribute rows, n_items, n_attributes)."""
    from shopgraph.errors import BadFileError

    seq_path, attr_path = directory / f"{dataset}.txt", directory / f"{dataset}_item2attributes.json"
    if not seq_path.is_file():
        raise BadFileError(f"no {seq_path.name} in {directory}")
    item_row: dict[str, int] = {}
    sequences = []
    with open(seq_path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 4:  # a user and at least three items: train, validation, test
                sequences.append([item_row.setdefault(i, len(item_row)) for i in parts[1:]])
    attributes: dict[int, list[int]] = {}
    attribute_row: dict[int, int] = {}
    if attr_path.is_file():
        raw = json.loads(attr_path.read_text(encoding="utf-8"))
        for item, attrs in raw.items():
            if item in item_row:
                attributes[item_row[item]] = [attribute_row.setdefault(a, len(attribute_row)) for a in attrs]
    return sequences, attributes, len(item_row), len(attribute_row)


def split(sequences):
    """(train pairs (2, T), validation pairs (2, U), test pairs (2, U)) as user/item rows."""
    train_u, train_i, val, test = [], [], [], []
    for user, items in enumerate(sequences):
        history = sorted(set(items[:-2]))
        train_u += [user] * len(history)
        train_i += history
        val.append((user, items[-2]))
        test.append((user, items[-1]))
    return np.array([train_u, train_i]), np.array(val).T, np.array(test).T


def build_graph(n_users, n_items, n_attributes, train, attributes, use_attributes: bool):
    import torch

    from shopgraph.gnn.graph_data import TrainingGraph

    num_nodes = {"user": n_users, "product": n_items}
    edges = {("user", "interacted", "product"): torch.from_numpy(train).long()}
    if use_attributes and n_attributes:
        pairs = [(i, a) for i, attrs in attributes.items() for a in attrs]
        edges[("product", "has_attribute", "attribute")] = torch.tensor(pairs).t().long()
        num_nodes["attribute"] = n_attributes
    learned = {t: torch.arange(n) for t, n in num_nodes.items()}
    return TrainingGraph(num_nodes, {}, learned, edges, {t: [str(i) for i in range(n)] for t, n in num_nodes.items()})


def fit(name: str, graph, val_pairs, layers: int, l2: float, args):
    """Train the RelationalGCN (layers=0: BPR-MF); returns (embeddings, history, cost)."""
    import torch

    from shopgraph.gnn.models.rgcn import RelationalGCN
    from shopgraph.gnn.objectives import LinkObjective, _distinct_pairs
    from shopgraph.gnn.task import GNNTask
    from shopgraph.gnn.trainer import Trainer, seed_everything

    edge_type = ("user", "interacted", "product")
    # Validation pairs join the edge list so the objective can hold them out by position.
    train_edges = graph.edges[edge_type]
    all_edges = torch.cat([train_edges, torch.from_numpy(val_pairs).long()], dim=1)
    graph.edges[edge_type] = all_edges
    pairs, pair_of_edge = _distinct_pairs(all_edges, graph.num_nodes["product"])
    is_val = torch.zeros(pairs.shape[1], dtype=torch.bool)
    is_val[pair_of_edge[train_edges.shape[1]:]] = True
    is_train = torch.zeros(pairs.shape[1], dtype=torch.bool)
    is_train[pair_of_edge[:train_edges.shape[1]]] = True
    objective = LinkObjective(edge_type, negatives=1, split=(torch.nonzero(is_train).flatten(),
                                                             torch.nonzero(is_val & ~is_train).flatten()),
                              k=K, l2=l2, hide_targets=False)
    seed_everything(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    model = RelationalGCN((graph.node_types, graph.message_types()), {t: 0 for t in graph.node_types},
                          {t: n for t, n in graph.num_nodes.items()}, dim=args.dim, layers=layers, dropout=0.0,
                          transform=False)
    task = GNNTask(model, graph, [objective], args.batch_size, generator)
    task.monitor = f"{objective.name}:ndcg@{K}"
    trainer = Trainer(max_epochs=args.max_epochs, lr=args.lr, weight_decay=0.0, patience=args.patience,
                      seed=args.seed, grad_clip=None, validate_every=args.validate_every,
                      max_seconds=args.max_minutes * 60, progress=True, description=name)
    with training_cost() as cost:
        history = trainer.fit(task)
    emb = task.embed()
    graph.edges[edge_type] = train_edges
    return emb, history, cost


def evaluate(user_emb, item_emb, known_pairs, targets) -> dict[str, float]:
    from shopgraph.gnn.objectives import ranking_metrics

    import torch

    recall, ndcg = ranking_metrics(user_emb, item_emb, torch.from_numpy(known_pairs).long(),
                                   torch.from_numpy(targets).long(), K)
    return {f"recall@{K}": round(recall, 4), f"NDCG@{K}": round(ndcg, 4)}


def _train_row(name, layers, l2, use_attributes, n_users, n_items, n_attributes, train, val, attributes,
               known_for_test, test, args) -> dict:
    """Train one model on the training pairs and return its table row (test metrics, cost)."""
    graph = build_graph(n_users, n_items, n_attributes, train, attributes, use_attributes)
    emb, history, cost = fit(f"{name} l2={l2:g}", graph, val, layers, l2, args)
    result = evaluate(emb["user"], emb["product"], known_for_test, test)
    print(f"{name} (l2 {l2:g}): {result}, {cost['seconds']} s", flush=True)
    return {"model": name, "l2": l2, **result,
            "val NDCG@20": round(history.best_metrics.get(f"link:interacted:ndcg@{K}", 0.0), 4),
            "epochs": len(history.epochs) * args.validate_every, "train s": cost["seconds"],
            "peak MiB": cost["peak_rss_mb"]}


def run(args) -> dict:
    import torch

    sequences, attributes, n_items, n_attributes = load(args.data, args.dataset)
    train, val, test = split(sequences)
    n_users = len(sequences)
    print(f"{args.dataset}: {n_users} users, {n_items} items, {n_attributes} attributes, "
          f"{train.shape[1]} training pairs", flush=True)
    known_for_test = np.concatenate([train, val], axis=1)
    rows = []

    counts = np.bincount(train[1], minlength=n_items).astype(np.float32)
    popularity = torch.from_numpy(counts).unsqueeze(1)
    rows.append({"model": "popularity", **evaluate(torch.ones(n_users, 1), popularity, known_for_test, test),
                 "val NDCG@20": evaluate(torch.ones(n_users, 1), popularity, train, val)[f"NDCG@{K}"],
                 "l2": None, "epochs": 0, "train s": 0.0, "peak MiB": None})

    # The baseline is tuned as carefully as the GNN: one run per regulariser, the best on validation
    # is the BPR-MF row (the others are kept in the JSON under "mf_tuning").
    mf_runs = [_train_row("BPR-MF", 0, l2, False, n_users, n_items, n_attributes, train, val, attributes,
                          known_for_test, test, args) for l2 in args.mf_l2]
    mf = max(mf_runs, key=lambda r: r["val NDCG@20"])
    gnn = _train_row("GNN", args.layers, args.gnn_l2, not args.no_attributes, n_users, n_items, n_attributes,
                     train, val, attributes, known_for_test, test, args)
    rows += [mf, gnn]
    gains = {m: round(gnn[m] / mf[m] - 1.0, 4) if mf[m] else None for m in (f"recall@{K}", f"NDCG@{K}")}
    return {"dataset": args.dataset, "users": n_users, "items": n_items, "rows": rows, "mf_tuning": mf_runs,
            "gnn_over_mf": gains,
            "bar_met": all(g is not None and g >= TARGET_GAIN for g in gains.values())}


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run_checked(args, run, "amazon_s3rec")
    if results is None:
        return 1
    print_table(results["rows"], title=f"{args.dataset}: leave-last-out, full ranking, test")
    gains = results["gnn_over_mf"]
    print(f"\nGNN over BPR-MF: recall@{K} {gains[f'recall@{K}']:+.1%}, NDCG@{K} {gains[f'NDCG@{K}']:+.1%} "
          f"(bar +{TARGET_GAIN:.0%}: {'met' if results['bar_met'] else 'NOT met'})")
    out = args.out or ("recommend" if args.dataset == "Beauty" else f"recommend_{args.dataset}")
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    print(f"wrote {write_results(out, settings, results, packages=PACKAGES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
