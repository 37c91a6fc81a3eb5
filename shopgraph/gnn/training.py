"""Training on a ShopGraph: alignment, then the GNN, then embeddings written back to the store.

    shopgraph train         -> train_alignment(sg) then train_gnn(sg)
    shopgraph embed         -> embed_with_gnn(sg): new products (and users) get gnn_vec from the saved
                               model, no retraining

Models live beside the database in `<db>.models/`: align-<id>.pt and gnn-<id>.pt (checkpoints with
config, graph fingerprint and metrics) and align_curves.png / gnn_curves.png.

A model's vectors and its checkpoint switch together: the new checkpoint is saved under a new name
first; then all of the model's vector properties and the Meta record naming it (`model.align`,
`model.gnn`) are written in one transaction (GraphStore.write_model_vectors); loaders read the name
from Meta; older checkpoints are removed only after that commit. A run killed at any point leaves
the previous model's vectors and checkpoint, or the new ones, never a mix. A graph trained before
model records existed uses `align.pt` / `gnn.pt` until it is trained again.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shopgraph.errors import ModelError
from shopgraph.graph.store import VectorWrite, model_key
from shopgraph.records import CATEGORY_SEPARATOR

log = logging.getLogger(__name__)

ALIGN, GNN = "align", "gnn"  # model kinds: Meta model.<kind>, checkpoint <kind>-<id>.pt


def models_dir(sg) -> Path:
    if sg.store_path is None:
        raise ModelError("this graph has no path on disk to keep models beside")
    return Path(f"{sg.store_path}.models")


def new_model_id() -> str:
    return uuid.uuid4().hex[:12]


def checkpoint_file(sg, kind: str, model_id: str | None) -> Path:
    """Where the checkpoint of a model lives (model_id None: the name used before model records)."""
    return models_dir(sg) / (f"{kind}.pt" if model_id is None else f"{kind}-{model_id}.pt")


def current_model(sg, kind: str) -> tuple[str | None, Path | None]:
    """(id, checkpoint path) of the model whose vectors the graph holds, from its Meta record; a graph
    without a record falls back to the file saved before records existed. (None, None): none trained."""
    model_id = sg.store.get_meta(model_key(kind))
    if sg.store_path is None:
        return model_id, None
    if model_id is None:
        legacy = checkpoint_file(sg, kind, None)
        return None, legacy if legacy.exists() else None
    return model_id, checkpoint_file(sg, kind, model_id)


def remove_other_checkpoints(sg, kind: str, keep: str) -> None:
    """After a model switch: earlier checkpoints of the kind (and any a killed run left) go."""
    for suffix in (".pt", ".npz"):  # .npz: an alignment model's inference weights (gnn/aligner_numpy.py)
        for path in models_dir(sg).glob(f"{kind}*{suffix}"):
            if path.name != f"{kind}-{keep}{suffix}" and (path.name == f"{kind}{suffix}"
                                                          or path.name.startswith(f"{kind}-")):
                path.unlink(missing_ok=True)


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


# -- what can be trained --------------------------------------------------------------------------
# The stored relationships gnn/objectives.py learns from with objectives "auto".
LEARNED_FROM = ("INTERACTED", "ALSO_BOUGHT", "IN_CATEGORY", "SAME_AS", "OF_BRAND")


def why_no_alignment(sg) -> str | None:
    """Why the image-text alignment cannot train on this graph (None: it can)."""
    images, needed = sg.store.count_with_vector("image_vec"), sg.config.align.min_pairs
    if images >= needed:
        return None
    return (f"{'no product has' if images == 0 else f'only {images} products have'} an image (the "
            f"image-text alignment needs at least {needed})")


def why_no_gnn(sg) -> str | None:
    """Why the GNN has nothing to learn from, read from the stored counts before anything is loaded
    (None: it may have). Only objectives "auto" is judged here: a named objective the graph lacks is
    a configuration error when training starts (gnn/objectives.py objectives_for)."""
    from shopgraph.gnn.objectives import GNN_NEEDS, MIN_EDGES

    store = sg.store
    if store.count_nodes("Product") < 2:
        return "the graph has fewer than 2 products (ingest a catalog first)"
    if [n.strip() for n in sg.config.gnn.objectives.split(",") if n.strip()] != ["auto"]:
        return None
    counts = {rel: store.count_relationships(rel) for rel in LEARNED_FROM}
    if max(counts.values()) >= MIN_EDGES:
        return None
    have = ", ".join(f"{n} {rel}" for rel, n in counts.items() if n) or "none of them"
    return f"{GNN_NEEDS} (this graph has {have})"


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
    """Train the alignment model on the graph's products; save its checkpoint, then switch the graph
    to it (txt_emb / img_emb / mm_vec of every product and the model record in one transaction).
    Raises ModelError when too few products have an image."""
    from shopgraph.gnn.aligner_numpy import save_inference_weights
    from shopgraph.gnn.alignment import train_alignment as fit
    from shopgraph.gnn.checkpoint import save_checkpoint, save_curves

    store = sg.store
    ids, data = alignment_data(sg)
    aligner, history = fit(data, sg.config.align, store.dims.aligned, progress=progress)
    model_id = new_model_id()
    directory = models_dir(sg)
    checkpoint = save_checkpoint(checkpoint_file(sg, ALIGN, model_id), kind="align",
                                 state=aligner.module.state_dict(), model_args=aligner.model_args,
                                 config=dataclasses.asdict(sg.config.align), fingerprint=_product_fingerprint(ids),
                                 metrics=history.best_metrics, history=history.to_dict(), extra={"model_id": model_id})
    save_inference_weights(checkpoint, aligner.module.state_dict(), aligner.model_args)
    written = write_aligned(store, ids, data, aligner, model_id)
    remove_other_checkpoints(sg, ALIGN, model_id)
    curves = save_curves(history.to_dict(), directory / "align_curves.png", "pair_loglik", "image-text alignment")
    sg.reload_models()
    return TrainReport("align", history.best_metrics, len(history.epochs), history.best_epoch, history.seconds,
                       written, checkpoint, curves)


def write_aligned(store, ids: list[str], data, aligner, model_id: str) -> int:
    """The aligned vectors of every product and the record of the model that made them, in one
    transaction."""
    out = aligner.embed(data.text, data.image, data.has_text, data.has_image)
    store.write_model_vectors(ALIGN, model_id, [
        VectorWrite("Product", "txt_emb", [i for i, ok in zip(ids, data.has_text) if ok], out["text"][data.has_text]),
        VectorWrite("Product", "img_emb", [i for i, ok in zip(ids, data.has_image) if ok], out["image"][data.has_image]),
        VectorWrite("Product", "mm_vec", ids, out["fused"])])
    return len(ids)


def _product_fingerprint(ids: list[str]) -> str:
    import hashlib

    return hashlib.sha1("\n".join(ids).encode("utf-8")).hexdigest()[:16]


def load_aligner(sg):
    """(model id, Aligner) of the alignment model whose vectors the graph holds: (None, None) when none
    was trained; (id, None) when its checkpoint is missing (a graph copied without its models folder:
    searches then use the fused vectors, which need no model)."""
    from shopgraph.gnn.aligner_numpy import NumpyAligner
    from shopgraph.gnn.alignment import aligner_from_checkpoint
    from shopgraph.gnn.checkpoint import load_checkpoint

    for _ in range(3):  # a retrain in another process may switch models between the reads below
        model_id, path = current_model(sg, ALIGN)
        if path is None:
            return model_id, None
        if path.exists():
            try:
                # The numpy weights beside the checkpoint embed without importing torch (a one-off CLI
                # search); a model trained before they existed loads from the torch checkpoint.
                light = NumpyAligner.load(path)
                if light is not None and path.exists():
                    return model_id, light
                return model_id, aligner_from_checkpoint(load_checkpoint(path, kind="align"))
            except ModelError:
                if path.exists():
                    raise  # a damaged file
                continue  # removed while being read: the graph has switched to a newer model
        if current_model(sg, ALIGN)[0] == model_id:
            log.warning("the graph's vectors come from alignment model %s, but %s is missing; searching "
                        "without it (copy the models folder along, or train again)", model_id, path)
            return model_id, None
    raise ModelError("the alignment model kept changing while it was loaded; retry")


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
    from shopgraph.gnn.threads import torch_threads, training_threads
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
                      description=f"train {config.model}", on_epoch=on_epoch, threads=config.threads)
    history = trainer.fit(task)
    with torch_threads(training_threads(config.threads, task.work)):
        embeddings = task.embed()
    directory = models_dir(sg)
    learned_ids = {t: graph.ids[t] for t in graph.learned_rows}
    model_id = new_model_id()
    checkpoint = save_checkpoint(
        checkpoint_file(sg, GNN, model_id), kind="gnn", state=model.state_dict(), model_args=_plain_args(model_args),
        config={**dataclasses.asdict(config), "model_kind": config.model}, fingerprint=graph_fingerprint(export.data),
        metrics=history.best_metrics, history=history.to_dict(),
        extra={"learned_ids": learned_ids, "product_vector": prop, "model_id": model_id,
               "objectives": [o.name for o in objectives]})
    written = _write_gnn(store, graph, embeddings, model_id)
    remove_other_checkpoints(sg, GNN, model_id)
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


def _write_gnn(store, graph, emb, model_id: str | None, only: dict[str, set[str]] | None = None) -> int:
    """Write gnn_vec of products and users in one transaction with the model record (only: node type ->
    ids to write, adding to the recorded model; None = all, switching to model_id). model_id None:
    a model saved before model records existed (its vectors are written as they were then)."""
    writes = []
    for node_type, label in (("product", "Product"), ("user", "User")):
        if node_type not in emb or not graph.ids.get(node_type):
            continue
        ids = graph.ids[node_type]
        rows = [n for n, i in enumerate(ids) if only is None or i in only.get(node_type, set())]
        if rows:
            writes.append(VectorWrite(label, "gnn_vec", [ids[n] for n in rows], emb[node_type][rows].numpy()))
    if model_id is None:
        for write in writes:
            store.set_vectors(write.label, write.prop, write.ids, write.vectors)
    elif writes or only is None:
        store.write_model_vectors(GNN, model_id, writes, switch=only is None)
    return sum(len(w.ids) for w in writes)


def embed_with_gnn(sg, *, all_nodes: bool = False) -> int:
    """Embed products and users that have no gnn_vec yet (all of them with all_nodes) with the saved
    GNN, over the current graph; returns how many vectors were written."""
    import torch

    from shopgraph.gnn.checkpoint import load_checkpoint
    from shopgraph.gnn.export import to_heterodata
    from shopgraph.gnn.graph_data import add_similarity_edges

    model_id, path = current_model(sg, GNN)
    payload = load_checkpoint(path or checkpoint_file(sg, GNN, None), kind="gnn")
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
    return _write_gnn(sg.store, graph, emb, model_id, only)


def _users_without_vector(store) -> set[str]:
    return {r["id"] for r in store.cypher("MATCH (u:User) WHERE u.gnn_vec IS NULL RETURN u.id AS id")}
