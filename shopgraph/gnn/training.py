"""Training on a ShopGraph: alignment, then the GNN, then embeddings written back to the store.

    shopgraph train         -> train_alignment(sg) then train_gnn(sg)
    shopgraph embed         -> embed_with_gnn(sg): new products (and users) get gnn_vec from the saved
                               model, no retraining

Models live beside the database in `<db>.models/`: align.pt and gnn.pt (checkpoints with config,
graph fingerprint and metrics) and align_curves.png / gnn_curves.png.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shopgraph.errors import ModelError
from shopgraph.records import CATEGORY_SEPARATOR

log = logging.getLogger(__name__)

ALIGN_FILE, GNN_FILE = "align.pt", "gnn.pt"


def models_dir(sg) -> Path:
    if sg.store_path is None:
        raise ModelError("this graph has no path on disk to keep models beside")
    return Path(f"{sg.store_path}.models")


@dataclass
class TrainReport:
    """What one training run did: the model kind, its best validation metrics, the epochs run and the
    best one, wall seconds, vectors written, and the checkpoint and curve files."""

    model: str
    metrics: dict[str, float]
    epochs: int
    best_epoch: int
    seconds: float
    written: int
    checkpoint: Path
    curves: Path

    def render(self) -> str:
        shown = ", ".join(f"{k} {v:.3f}" for k, v in sorted(self.metrics.items()))
        return (f"{self.model}: best epoch {self.best_epoch}/{self.epochs}, {shown}; {self.seconds:.1f} s; "
                f"{self.written} vectors written; model {self.checkpoint}; curves {self.curves}")


# -- alignment ------------------------------------------------------------------------------------
def product_vectors(store, prop: str, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """A vector property of the given products: (len(ids), dim) float32 matrix (zeros where the
    product lacks it) and (len(ids),) bool presence."""
    dim = store.dims.of(prop)
    matrix, present = np.zeros((len(ids), dim), np.float32), np.zeros(len(ids), bool)
    row = {i: n for n, i in enumerate(ids)}
    for start in range(0, len(ids), 5000):
        got, vectors = store.get_vectors("Product", prop, ids[start:start + 5000])
        rows = [row[i] for i in got]
        matrix[rows], present[rows] = vectors, True
    return matrix, present


def category_labels(categories: list[str | None], depth: int = 2) -> np.ndarray:
    """(n,) int64 index of each product's category path cut to `depth` levels, -1 when unknown."""
    keys = [CATEGORY_SEPARATOR.join(c.split(CATEGORY_SEPARATOR)[:depth]) if c else None for c in categories]
    classes = {k: n for n, k in enumerate(sorted({k for k in keys if k}))}
    return np.array([classes[k] if k else -1 for k in keys], dtype=np.int64)


def alignment_data(sg):
    """(ids, AlignmentData) of every product: text = [text_vec | lex_vec], a second text view
    [title vector | lex_vec] (titles are what queries look like), image = image_vec, labels = the
    category cut to two levels."""
    from shopgraph.gnn.alignment import AlignmentData, text_features

    store = sg.store
    rows = [r for batch in store.iter_nodes("Product", ["id", "category", "title"]) for r in batch]
    ids = [r["id"] for r in rows]
    text, has_text = product_vectors(store, "text_vec", ids)
    lexical, _ = product_vectors(store, "lex_vec", ids)
    image, has_image = product_vectors(store, "image_vec", ids)
    titles = sg.encoder.encode_texts([r["title"] or "" for r in rows]) if rows else np.zeros_like(text)
    labels = category_labels([r["category"] for r in rows])
    return ids, AlignmentData(text_features(text, lexical), image, has_text, has_image, labels,
                              text_alt=text_features(titles, lexical))


def train_alignment(sg, *, progress: bool = False) -> TrainReport:
    """Train the alignment model on the graph's products, write txt_emb / img_emb / mm_vec for all of
    them and save the checkpoint. Raises ModelError when too few products have an image."""
    from shopgraph.gnn.alignment import train_alignment as fit
    from shopgraph.gnn.checkpoint import save_checkpoint, save_curves

    store = sg.store
    ids, data = alignment_data(sg)
    aligner, history = fit(data, sg.config.align, store.dims.aligned, progress=progress)
    written = write_aligned(store, ids, data, aligner)
    directory = models_dir(sg)
    checkpoint = save_checkpoint(directory / ALIGN_FILE, kind="align", state=aligner.module.state_dict(),
                                 model_args=aligner.model_args, config=dataclasses.asdict(sg.config.align),
                                 fingerprint=_product_fingerprint(ids), metrics=history.best_metrics,
                                 history=history.to_dict())
    curves = save_curves(history.to_dict(), directory / "align_curves.png", "recall@10", "image-text alignment")
    sg.reload_models()
    return TrainReport("align", history.best_metrics, len(history.epochs), history.best_epoch, history.seconds,
                       written, checkpoint, curves)


def write_aligned(store, ids: list[str], data, aligner) -> int:
    out = aligner.embed(data.text, data.image, data.has_text, data.has_image)
    store.set_vectors("Product", "txt_emb", [i for i, ok in zip(ids, data.has_text) if ok], out["text"][data.has_text])
    store.set_vectors("Product", "img_emb", [i for i, ok in zip(ids, data.has_image) if ok], out["image"][data.has_image])
    store.set_vectors("Product", "mm_vec", ids, out["fused"])
    return len(ids)


def _product_fingerprint(ids: list[str]) -> str:
    import hashlib

    return hashlib.sha1("\n".join(ids).encode("utf-8")).hexdigest()[:16]


def load_aligner(sg):
    """The trained Aligner of this graph, or None when none was trained."""
    from shopgraph.gnn.alignment import aligner_from_checkpoint
    from shopgraph.gnn.checkpoint import load_checkpoint

    if sg.store_path is None or not (models_dir(sg) / ALIGN_FILE).exists():
        return None
    return aligner_from_checkpoint(load_checkpoint(models_dir(sg) / ALIGN_FILE, kind="align"))


# -- GNN ------------------------------------------------------------------------------------------
def product_input_vector(store) -> str:
    """The learned fused vector when an alignment model was trained, else the concatenated one."""
    return "mm_vec" if store.count_with_vector("mm_vec") else "fused_vec"


def training_graph(sg, export, learned_types: set[str], learned_ids=None):
    """A TrainingGraph of the exported store: product inputs from the stored vectors, brands and
    categories from their encoded names, id embeddings for `learned_types`."""
    from shopgraph.gnn.graph_data import from_export

    store = sg.store
    product_x = export.data["product"].x.numpy()
    brand_names = [r["display_name"] or r["name"] for b in store.iter_nodes("Brand", ["name", "display_name"]) for r in b]
    category_paths = [r["path"] for b in store.iter_nodes("Category", ["path"]) for r in b]
    encode = sg.encoder.encode_texts
    brand_x = encode(brand_names) if brand_names else None
    category_x = encode(category_paths) if category_paths else None
    return from_export(export, product_x, brand_x, category_x, learned_types, learned_ids)


def _learned_types(config) -> set[str]:
    return {t.strip() for t in config.learned_inputs.split(",") if t.strip()}


def train_gnn(sg, *, progress: bool = False, on_epoch=None) -> TrainReport:
    """Train the configured GNN on the whole graph, write gnn_vec for products and users, refresh the
    vector index and save the checkpoint."""
    import torch

    from shopgraph.gnn.checkpoint import graph_fingerprint, save_checkpoint, save_curves
    from shopgraph.gnn.export import to_heterodata
    from shopgraph.gnn.graph_data import add_similarity_edges
    from shopgraph.gnn.models import build_model
    from shopgraph.gnn.objectives import objectives_for
    from shopgraph.gnn.task import GNNTask, check_sampling
    from shopgraph.gnn.trainer import Trainer, seed_everything

    config, store = sg.config.gnn, sg.store
    check_sampling(config.sampling)
    if store.count_nodes("Product") < 2:
        raise ModelError("the graph needs products before a GNN can be trained; ingest a catalog first")
    prop = product_input_vector(store)
    export = to_heterodata(store, product_vector=prop)
    graph = training_graph(sg, export, _learned_types(config))
    add_similarity_edges(graph, config.similar_k)
    seed_everything(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    objectives = objectives_for(graph, config.objectives, store.dims.gnn, config.negatives, config.val_fraction)
    model_args = build_model_args(config, graph, store.dims.gnn)
    try:
        model = build_model(config.model, **model_args)
    except ValueError as e:  # e.g. heads not dividing the width
        raise ModelError(f"cannot build the {config.model} model: {e}") from None
    task = GNNTask(model, graph, objectives, config.batch_size, generator)
    trainer = Trainer(max_epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay,
                      patience=config.patience, seed=config.seed, progress=progress,
                      description=f"train {config.model}", on_epoch=on_epoch)
    history = trainer.fit(task)
    written = _write_gnn(store, graph, task.embed())
    directory = models_dir(sg)
    learned_ids = {t: graph.ids[t] for t in graph.learned_rows}
    checkpoint = save_checkpoint(
        directory / GNN_FILE, kind="gnn", state=model.state_dict(), model_args=_plain_args(model_args),
        config={**dataclasses.asdict(config), "model_kind": config.model}, fingerprint=graph_fingerprint(export.data),
        metrics=history.best_metrics, history=history.to_dict(),
        extra={"learned_ids": learned_ids, "product_vector": prop,
               "objectives": [o.name for o in objectives]})
    curves = save_curves(history.to_dict(), directory / "gnn_curves.png", "score", f"GNN ({config.model})")
    return TrainReport(config.model, history.best_metrics, len(history.epochs), history.best_epoch,
                       history.seconds, written, checkpoint, curves)


def build_model_args(config, graph, dim: int) -> dict:
    learned = {t: len(graph.ids[t]) for t in graph.learned_rows}
    args = {"metadata": (graph.node_types, graph.message_types()), "in_dims": graph.in_dims(),
            "learned": learned, "dim": dim, "layers": config.layers, "dropout": config.dropout}
    if config.model == "gat":
        args["heads"] = config.heads
    return args


def _plain_args(args: dict) -> dict:
    """Constructor arguments as plain lists (checkpoints hold no tuples of tuples surprises)."""
    node_types, edge_types = args["metadata"]
    return {**args, "metadata": [list(node_types), [list(e) for e in edge_types]]}


def _model_from_checkpoint(payload: dict):
    from shopgraph.gnn.models import build_model

    args = dict(payload["model_args"])
    node_types, edge_types = args["metadata"]
    args["metadata"] = (list(node_types), [tuple(e) for e in edge_types])
    model = build_model(payload["config"]["model_kind"], **args)
    model.load_state_dict(payload["state"])
    return model.eval()


def _write_gnn(store, graph, emb, only: dict[str, set[str]] | None = None) -> int:
    """Write gnn_vec of products and users (only: node type -> ids to write; None = all)."""
    written = 0
    for node_type, label in (("product", "Product"), ("user", "User")):
        if node_type not in emb or not graph.ids.get(node_type):
            continue
        ids = graph.ids[node_type]
        rows = [n for n, i in enumerate(ids) if only is None or i in only.get(node_type, set())]
        if rows:
            store.set_vectors(label, "gnn_vec", [ids[n] for n in rows], emb[node_type][rows].numpy())
            written += len(rows)
    return written


def embed_with_gnn(sg, *, all_nodes: bool = False) -> int:
    """Embed products and users that have no gnn_vec yet (all of them with all_nodes) with the saved
    GNN, over the current graph; returns how many vectors were written."""
    import torch

    from shopgraph.gnn.checkpoint import load_checkpoint
    from shopgraph.gnn.export import to_heterodata
    from shopgraph.gnn.graph_data import add_similarity_edges

    payload = load_checkpoint(models_dir(sg) / GNN_FILE, kind="gnn")
    extra = payload["extra"]
    export = to_heterodata(sg.store, product_vector=extra["product_vector"])
    learned_ids = extra["learned_ids"]
    graph = training_graph(sg, export, set(learned_ids), learned_ids)
    add_similarity_edges(graph, int(payload["config"].get("similar_k", 0)))
    model = _model_from_checkpoint(payload)
    message_types = [tuple(e) for e in payload["model_args"]["metadata"][1]]
    edges = {e: v for e, v in graph.message_edges().items() if e in message_types}
    if graph.in_dims() != payload["model_args"]["in_dims"]:
        raise ModelError(f"the graph's node inputs {graph.in_dims()} differ from the trained model's "
                         f"{payload['model_args']['in_dims']}; retrain with `shopgraph train`")
    with torch.no_grad():
        emb = model(graph.x, edges, graph.learned_rows, graph.num_nodes)
    only = None
    if not all_nodes:
        only = {"product": set(graph.ids["product"]) - sg.store.ids_with_vector("gnn_vec"),
                "user": _users_without_vector(sg.store)}
    return _write_gnn(sg.store, graph, emb, only)


def _users_without_vector(store) -> set[str]:
    return {r["id"] for r in store.cypher("MATCH (u:User) WHERE u.gnn_vec IS NULL RETURN u.id AS id")}
