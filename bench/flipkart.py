"""Flipkart 1050: title<->image retrieval and category accuracy, frozen vs learned vectors.

    python -m bench.flipkart                     # the whole comparison (a few minutes on 2 cores)
    python -m bench.flipkart --gnn-model rgcn    # the relation-aware GCN instead of the GAT
    python -m bench.flipkart --data DIR --workdir /tmp/fk

Split: rows of the CSV permuted by numpy.random.default_rng(0).permutation(1050); the first 700
train, the other 350 test. Everything learned (alignment heads, GNN, probes) sees the 700 only; the
alignment and the GNN early-stop on a validation tenth of them, which also chooses the alignment's
regularisation (bench.learned.ALIGN_GRID). The graph is the real shopgraph
store (ingested into --workdir, reused between runs); the GNN sees no category edge of a test product.

Retrieval (350 test products): a title (the query, encoded like a search query) must find its
product's image among the 350 test images, and an image its title. Products without an image count
as misses. Rows: a linear ridge map and CCA of the frozen features (the reference points), and the
trained alignment heads. Text-only, image-only and untrained concatenation cannot compare a title with
an image (different spaces), and the GNN mixes both modalities, so they have no retrieval figures.

Category accuracy at levels 1 and 2 of the tree (test products): a logistic regression on each
embedding (text only, image only, untrained concatenation, trained fusion, the GNN's gnn_vec) and the
GNN's own category head. The GNN's product input is the frozen concatenation by default (--gnn-input):
the alignment heads are trained for retrieval and keep less category signal than their inputs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bench.common import print_table, report_bars, write_results
from bench.learned import run_checked, WORK_DIR, data_root, probe_accuracy, retrieval, training_cost, tune_alignment, unit

N_TRAIN = 700
BARS = {"R@10": 0.75, "R@1": 0.30, "category2_gnn": 0.90}
INPUT_NAMES = {"fused_vec": "untrained concatenation", "mm_vec": "trained fusion", "text_vec": "text only"}
PACKAGES = ("numpy", "torch", "torch-geometric", "scikit-learn", "ladybug", "sentence-transformers")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.flipkart", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=data_root() / "multimodal" / "flipkart_1050",
                   help="the flipkart_1050 directory (default ../shared/data/multimodal/flipkart_1050)")
    p.add_argument("--workdir", type=Path, default=WORK_DIR, help="where the graph and caches are kept")
    p.add_argument("--gnn-model", default="gat", choices=["gat", "rgcn"], help="GNN model (default gat)")
    p.add_argument("--gnn-layers", type=int, default=2,
                   help="GNN layers (default 2: product <- similar product <- category)")
    p.add_argument("--gnn-dropout", type=float, default=0.5,
                   help="GNN dropout (default 0.5: 630 labelled products overfit a 128-wide GAT)")
    p.add_argument("--similar-k", type=int, default=10,
                   help="kNN similar_to product edges for the GNN (default 10; 0 = only the stored graph)")
    p.add_argument("--gnn-input", default="fused_vec", choices=["fused_vec", "mm_vec", "text_vec"],
                   help="product input of the GNN: the frozen concatenation (default; it keeps more category "
                        "signal than the retrieval-trained mm_vec), the trained fusion, or text only")
    p.add_argument("--image-size", type=int, default=288, help="image encoder input size in pixels (default 288)")
    p.add_argument("--out", default="flipkart", help="results name (bench/results/NAME.json)")
    return p.parse_args(argv)


def open_graph(args):
    from shopgraph.config import Config, with_overrides
    from shopgraph.queries.api import ShopGraph

    args.workdir.mkdir(parents=True, exist_ok=True)
    config = with_overrides(Config(), {"image.image_size": str(args.image_size)})
    sg = ShopGraph.open(args.workdir / f"flipkart_{args.image_size}.db", config=config)
    summary = sg.ingest_dataset(args.data, "flipkart", progress=False)
    print(f"graph: {summary.products_written} products written, {summary.products_unchanged} unchanged", flush=True)
    return sg


def csv_order(sg, data_dir: Path) -> list[str]:
    """Product ids in CSV row order (the split is defined on rows)."""
    import csv

    from shopgraph.ingest.layouts import load_flipkart
    from shopgraph.records import product_id

    path = load_flipkart(data_dir).products[0].path
    with open(path, newline="", encoding="utf-8") as f:
        return [product_id("flipkart", row["uniq_id"]) for row in csv.DictReader(f)]


def level_labels(categories: list[str | None], depth: int) -> np.ndarray:
    from shopgraph.gnn.training import category_labels

    return category_labels(categories, depth)


def linear_baselines(query: np.ndarray, image: np.ndarray, ok: np.ndarray, train: np.ndarray, test: np.ndarray):
    """Ridge both ways and CCA, fit on train products with an image; (name, t2i scores, i2t scores)."""
    from sklearn.cross_decomposition import CCA
    from sklearn.decomposition import PCA
    from sklearn.linear_model import Ridge

    fit = train[ok[train]]
    t2i = Ridge(alpha=1.0).fit(query[fit], image[fit])
    i2t = Ridge(alpha=1.0).fit(image[fit], query[fit])
    ridge_t2i = unit(t2i.predict(query[test])) @ unit(image[test]).T
    ridge_i2t = unit(i2t.predict(image[test])) @ unit(query[test]).T
    pca_t, pca_i = PCA(128, random_state=0).fit(query[fit]), PCA(128, random_state=0).fit(image[fit])
    cca = CCA(n_components=64, max_iter=1000).fit(pca_t.transform(query[fit]), pca_i.transform(image[fit]))
    ct, ci = cca.transform(pca_t.transform(query[test]), pca_i.transform(image[test]))
    cca_scores = unit(ct) @ unit(ci).T
    return [("ridge (frozen)", ridge_t2i, ridge_i2t.T), ("CCA (frozen)", cca_scores, cca_scores)]


def run(args) -> dict:
    import torch

    from shopgraph.gnn.training import alignment_data, write_aligned

    torch.set_num_threads(max(1, torch.get_num_threads()))
    sg = open_graph(args)
    order = csv_order(sg, args.data)
    ids, data = alignment_data(sg)
    position = {i: n for n, i in enumerate(ids)}
    rows = np.array([position[i] for i in order])  # CSV row -> alignment row
    data = data.subset(rows)
    ids = order
    categories = [r["category"] for r in sg.store.get_nodes("Product", ids, ["category"])]
    perm = np.random.default_rng(0).permutation(len(ids))
    train, test = perm[:N_TRAIN], perm[N_TRAIN:]
    ok = data.has_image
    query = data.text_alt  # the title as a search query sees it: [title MiniLM | title n-grams]
    print(f"{len(train)} train / {len(test)} test products; {int((~ok[test]).sum())} test products without image",
          flush=True)

    retrieval_rows = []
    for name, t2i, i2t in linear_baselines(query, data.image, ok, train, test):
        retrieval_rows.append(_retrieval_row(name, t2i, i2t, ok[test]))

    val = np.random.default_rng(1).permutation(train[ok[train]])[:N_TRAIN // 10]
    local = {row: n for n, row in enumerate(train)}
    with training_cost() as align_cost:  # every setting of the grid counts towards the training time
        aligner, history, chosen, trials = tune_alignment(data.subset(train), sg.config.align, sg.store.dims.aligned,
                                                          np.array([local[v] for v in val]))
    q = aligner.embed(query[test], None)["text"]
    g = aligner.embed(None, data.image[test], has_image=ok[test])["image"]
    retrieval_rows.append(_retrieval_row("trained alignment", q @ g.T, g @ q.T, ok[test]))
    print(f"alignment: {chosen} chosen on validation recall@10, best epoch {history.best_epoch}/{len(history.epochs)}, "
          f"{align_cost['seconds']} s for {len(trials)} settings", flush=True)

    # Learned vectors of every product from the heads trained on the 700, written to the graph so
    # the GNN takes them as product inputs (test products embedded inductively).
    write_aligned(sg.store, ids, data, aligner)
    fused_all = aligner.embed(data.text, data.image, data.has_text, data.has_image)["fused"]
    stored_text, _ = _vectors(sg, "text_vec", ids)
    stored_fused, _ = _vectors(sg, "fused_vec", ids)

    gnn = train_gnn(sg, ids, categories, train, test, args)

    category_rows = []
    for depth in (1, 2):
        y = level_labels(categories, depth)
        features = {"text only (MiniLM)": stored_text, "image only (EfficientNet)": data.image,
                    "untrained concatenation": stored_fused, "trained fusion (mm_vec)": fused_all,
                    f"GNN over {INPUT_NAMES[args.gnn_input]} (gnn_vec)": gnn["embeddings"]}
        for name, x in features.items():
            category_rows.append({"level": depth, "features": name, "probe": "logistic regression",
                                  "accuracy": round(probe_accuracy(x[train], y[train], x[test], y[test]), 4)})
        category_rows.append({"level": depth, "features": f"GNN over {INPUT_NAMES[args.gnn_input]}",
                              "probe": "GNN category head",
                              "accuracy": gnn["head_accuracy"][depth]})
    sg.close()
    return {"retrieval": retrieval_rows, "category": category_rows,
            "training": {"alignment": {**align_cost, "chosen": chosen, "trials": trials, "epochs": len(history.epochs),
                                       "best_epoch": history.best_epoch},
                         "gnn": gnn["cost"]}}


def _retrieval_row(name: str, t2i: np.ndarray, i2t: np.ndarray, ok: np.ndarray) -> dict:
    """t2i (n, n): titles x images; i2t (n, n): images x titles. A product without an image can be
    neither found by its title nor used as a query image: a miss both ways."""
    a = retrieval(t2i, valid=ok)
    b = retrieval(np.where(ok[:, None], i2t, -np.inf))
    return {"method": name, **{f"t2i {k}": v for k, v in a.items()}, **{f"i2t {k}": v for k, v in b.items()}}


def _vectors(sg, prop: str, ids: list[str]):
    from shopgraph.gnn.training import product_vectors

    return product_vectors(sg.store, prop, ids)


def train_gnn(sg, ids, categories, train, test, args) -> dict:
    """The GNN on the graph with test products' category edges removed; category heads at levels
    1 and 2 trained on the 700 (a tenth of them for validation)."""
    import torch

    from shopgraph.gnn.export import to_heterodata
    from shopgraph.gnn.graph_data import add_similarity_edges
    from shopgraph.gnn.models import build_model
    from shopgraph.gnn.objectives import CategoryObjective
    from shopgraph.gnn.task import GNNTask
    from shopgraph.gnn.trainer import Trainer, seed_everything
    from shopgraph.gnn.training import build_model_args, training_graph
    from dataclasses import replace

    config = replace(sg.config.gnn, model=args.gnn_model, layers=args.gnn_layers, dropout=args.gnn_dropout)
    export = to_heterodata(sg.store, product_vector=args.gnn_input)
    graph = training_graph(sg, export, {"platform"})
    add_similarity_edges(graph, args.similar_k)
    row_of = export.row_of("product")
    graph_rows = torch.tensor([row_of[i] for i in ids])
    in_cat = ("product", "in_category", "category")
    test_rows = graph_rows[test]
    true_leaf = {}
    edges = graph.edges[in_cat]
    for p, c in edges.t().tolist():
        true_leaf[p] = c
    graph.edges[in_cat] = edges[:, ~torch.isin(edges[0], test_rows)]  # the answers of the test
    seed_everything(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    train_rows = graph_rows[train]
    val_mask = torch.zeros(len(train_rows), dtype=torch.bool)
    val_mask[torch.randperm(len(train_rows), generator=torch.Generator().manual_seed(1))[:len(train_rows) // 10]] = True
    split = (train_rows[~val_mask], train_rows[val_mask])
    objectives = [CategoryObjective(depth, sg.store.dims.gnn, split=split) for depth in (1, 2)]
    with training_cost() as cost:
        model = build_model(config.model, **build_model_args(config, graph, sg.store.dims.gnn))
        task = GNNTask(model, graph, objectives, config.batch_size, generator)
        history = Trainer(max_epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay,
                          patience=config.patience, seed=config.seed).fit(task)
        emb = task.embed()
    head_accuracy = {}
    for objective in objectives:
        predicted = objective.predict(emb)[test_rows]
        truth = graph.category_at_depth(objective.depth)[torch.tensor([true_leaf.get(int(r), 0) for r in test_rows])]
        known = torch.tensor([int(r) in true_leaf for r in test_rows]) & (truth >= 0)
        head_accuracy[objective.depth] = round(float((predicted[known] == truth[known]).float().mean()), 4)
    print(f"gnn ({config.model}, {config.layers} layers, similar_k {args.similar_k}): best epoch {history.best_epoch}/{len(history.epochs)}, "
          f"{cost['seconds']} s, head accuracy {head_accuracy}", flush=True)
    return {"embeddings": emb["product"][graph_rows].numpy(), "head_accuracy": head_accuracy,
            "cost": {**cost, "model": config.model, "layers": config.layers, "epochs": len(history.epochs),
                     "best_epoch": history.best_epoch}}


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run_checked(args, run, "flipkart_1050")
    if results is None:
        return 1
    print_table(results["retrieval"], title="title <-> image retrieval, 350 test products")
    print_table(results["category"], title="category accuracy, 350 test products")
    best = {k: max(r[f"t2i {k}"] for r in results["retrieval"]) for k in ("R@1", "R@10")}
    best_i2t = {k: max(r[f"i2t {k}"] for r in results["retrieval"]) for k in ("R@1", "R@10")}
    gnn2 = max(r["accuracy"] for r in results["category"] if r["level"] == 2 and "GNN" in r["features"])
    bars = {"t2i R@10 >= 0.75": best["R@10"] >= BARS["R@10"], "t2i R@1 >= 0.30": best["R@1"] >= BARS["R@1"],
            "i2t R@10 >= 0.75": best_i2t["R@10"] >= BARS["R@10"], "i2t R@1 >= 0.30": best_i2t["R@1"] >= BARS["R@1"],
            "level-2 accuracy with the GNN >= 0.90": gnn2 >= BARS["category2_gnn"]}
    trained = next(r for r in results["retrieval"] if r["method"] == "trained alignment")
    linear = [r for r in results["retrieval"] if r is not trained]
    figures = [k for k in trained if k != "method"]
    bars["trained alignment beats the frozen linear maps on every retrieval figure"] = all(
        trained[k] > max(r[k] for r in linear) for k in figures)
    report_bars(results, bars)
    path = write_results(args.out, {"data": str(args.data), "gnn_model": args.gnn_model,
                                    "similar_k": args.similar_k, "image_size": args.image_size,
                                    "gnn_layers": args.gnn_layers, "gnn_dropout": args.gnn_dropout,
                                    "gnn_input": args.gnn_input, "n_train": N_TRAIN}, results,
                         notes=["split: numpy.random.default_rng(0).permutation(1050), first 700 train",
                                "products without an image count as retrieval misses"], packages=PACKAGES)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
