"""Training objectives of the GNN, combinable: each one holds its own split and head.

Every objective
- `setup(graph, generator)`: splits its targets into train and validation and says which message
  edges validation must not see (`held_out`);
- `sample(generator, batch_size)`: a training batch, plus the message edges to hide for that step
  (the batch's own targets: the model must predict them, not read them);
- `loss(embeddings, batch)`: a scalar; `validate(embeddings)`: metrics, `metric` the main one.

Link prediction scores a pair by the inner product of the two embeddings and trains with BPR against
uniformly sampled negatives; its validation metric is recall@20 in a full ranking of the target type
(train positives excluded), the figure recommendation is judged by.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from shopgraph.gnn.graph_data import EdgeType, TrainingGraph


def _split(n: int, val_fraction: float, generator) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    n_val = int(round(n * val_fraction)) if n >= 10 else 0
    return order[n_val:], order[:n_val]


def _sample(rows: torch.Tensor, batch_size: int, generator) -> torch.Tensor:
    """A random batch of at most batch_size rows and at most half of them: a batch's targets are
    hidden from the message graph, and hiding all of them would train on a graph unlike the one the
    model is validated and used on."""
    size = min(batch_size, max(1, (len(rows) + 1) // 2))
    if len(rows) <= 1:
        return rows
    return rows[torch.randint(len(rows), (size,), generator=generator)]


def _distinct_pairs(edge_index: torch.Tensor, n_dst: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(2, P) distinct (src, dst) pairs and (E,) the pair of each edge: repeated interactions (a
    view, then a purchase) are one target, never split between training and validation."""
    key = edge_index[0] * n_dst + edge_index[1]
    unique, pair_of_edge = torch.unique(key, return_inverse=True)
    return torch.stack([unique // n_dst, unique % n_dst]), pair_of_edge


def _mask(n: int, rows: torch.Tensor) -> torch.Tensor:
    mask = torch.zeros(n, dtype=torch.bool)
    mask[rows] = True
    return mask


class LinkObjective(nn.Module):
    """BPR link prediction on one edge type (e.g. user -interacted-> product).

    Targets are distinct (src, dst) pairs. split: optional (train pair columns, validation pair
    columns) into the sorted distinct pairs (for a fixed protocol such as leave-last-out); default a
    random val_fraction. Every edge of a validation pair is kept out of the message graph.
    l2: weight of the squared norm of the batch's embeddings (per pair), the usual BPR regulariser.
    hide_targets: False keeps the batch's own edges in the message graph (LightGCN's practice).
    """

    def __init__(self, edge_type: EdgeType, negatives: int = 1, val_fraction: float = 0.1, weight: float = 1.0,
                 split: tuple[torch.Tensor, torch.Tensor] | None = None, k: int = 20, l2: float = 0.0,
                 hide_targets: bool = True):
        super().__init__()
        self.l2, self.hide_targets = l2, hide_targets
        self.edge_type, self.negatives, self.val_fraction = edge_type, negatives, val_fraction
        self.weight, self.k, self.fixed_split = weight, k, split
        self.name = f"link:{edge_type[1]}"
        self.metric = f"{self.name}:recall@{k}"

    def setup(self, graph: TrainingGraph, generator) -> None:
        self.n_dst = graph.num_nodes[self.edge_type[2]]
        self.pairs, self.pair_of_edge = _distinct_pairs(graph.edges[self.edge_type], self.n_dst)
        if self.fixed_split is not None:
            self.train_cols, self.val_cols = self.fixed_split
        else:
            self.train_cols, self.val_cols = _split(self.pairs.shape[1], self.val_fraction, generator)
        self.held_out = {self.edge_type: self._edges_of(self.val_cols)}

    def _edges_of(self, pair_cols: torch.Tensor) -> torch.Tensor:
        return _mask(self.pairs.shape[1], pair_cols)[self.pair_of_edge]

    def sample(self, generator, batch_size: int):
        if self.hide_targets:
            cols = _sample(self.train_cols, batch_size, generator)
        else:
            cols = self.train_cols[torch.randint(len(self.train_cols), (min(batch_size, len(self.train_cols)),),
                                                 generator=generator)]
        negatives = torch.randint(self.n_dst, (len(cols), self.negatives), generator=generator)
        return (cols, negatives), ({self.edge_type: self._edges_of(cols)} if self.hide_targets else {})

    def loss(self, emb: dict[str, torch.Tensor], batch) -> torch.Tensor:
        cols, negatives = batch
        src_type, _, dst_type = self.edge_type
        src, dst = self.pairs[:, cols]
        h_src = emb[src_type][src]
        positive = (h_src * emb[dst_type][dst]).sum(-1, keepdim=True)
        h_neg = emb[dst_type][negatives]
        negative = torch.einsum("bd,bnd->bn", h_src, h_neg)
        loss = -F.logsigmoid(positive - negative).mean()
        if self.l2 > 0:
            norms = h_src.pow(2).sum() + emb[dst_type][dst].pow(2).sum() + h_neg.pow(2).sum() / self.negatives
            loss = loss + self.l2 * norms / (2 * len(cols))
        return loss

    @torch.no_grad()
    def validate(self, emb: dict[str, torch.Tensor]) -> dict[str, float]:
        if len(self.val_cols) == 0:
            return {self.metric: 0.0}
        hits, ndcg = ranking_metrics(emb[self.edge_type[0]], emb[self.edge_type[2]],
                                     self.pairs[:, self.train_cols], self.pairs[:, self.val_cols], self.k)
        return {self.metric: hits, f"{self.name}:ndcg@{self.k}": ndcg}


def ranking_metrics(src_emb: torch.Tensor, dst_emb: torch.Tensor, known: torch.Tensor, targets: torch.Tensor,
                    k: int, chunk: int = 2048) -> tuple[float, float]:
    """Full-ranking recall@k and NDCG@k of target edges (2, T): for each target (s, d), rank every dst
    node by src_emb[s] . dst_emb[d'], with the `known` edges (2, K) of s removed from the ranking
    (other than d itself).
    Each target counts once (one held-out item per row, as in leave-one-out)."""
    hits = ndcg = 0.0
    known_by_src: dict[int, list[int]] = {}
    for s, d in known.t().tolist():
        known_by_src.setdefault(s, []).append(d)
    for start in range(0, targets.shape[1], chunk):
        src, dst = targets[:, start:start + chunk]
        scores = src_emb[src] @ dst_emb.T
        target_score = scores[torch.arange(len(src)), dst]  # before masking: a re-bought item still counts
        rows, cols = [], []
        for r, s in enumerate(src.tolist()):
            seen = known_by_src.get(s, ())
            rows += [r] * len(seen)
            cols += seen
        if rows:
            scores[torch.tensor(rows), torch.tensor(cols)] = -math.inf
        rank = (scores > target_score.unsqueeze(1)).sum(1)
        top = rank < k
        hits += float(top.sum())
        ndcg += float((1.0 / torch.log2(rank[top].float() + 2.0)).sum())
    n = max(targets.shape[1], 1)
    return hits / n, ndcg / n


class CategoryObjective(nn.Module):
    """Predict each product's category at `depth` (1 = top level) from its embedding. The products'
    IN_CATEGORY edges are hidden from the message graph when they are targets (validation always,
    training per batch)."""

    def __init__(self, depth: int = 2, dim: int = 128, val_fraction: float = 0.1, weight: float = 1.0,
                 split: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__()
        self.depth, self.dim, self.val_fraction, self.weight, self.fixed_split = depth, dim, val_fraction, weight, split
        self.name = f"category@{depth}"
        self.metric = f"{self.name}:accuracy"
        self.edge_type = ("product", "in_category", "category")

    def setup(self, graph: TrainingGraph, generator) -> None:
        edge_index = graph.edges.get(self.edge_type, torch.zeros(2, 0, dtype=torch.long))
        ancestor = graph.category_at_depth(self.depth)
        labels = torch.full((graph.num_nodes["product"],), -1, dtype=torch.long)
        if edge_index.shape[1]:
            labels[edge_index[0]] = torch.maximum(labels[edge_index[0]], ancestor[edge_index[1]])
        self.classes, self.labels = torch.unique(labels[labels >= 0], return_inverse=True)
        self.label_of = torch.full_like(labels, -1)
        self.label_of[labels >= 0] = self.labels
        labelled = torch.nonzero(labels >= 0).flatten()
        if self.fixed_split is not None:
            self.train_rows, self.val_rows = self.fixed_split
        else:
            train, val = _split(len(labelled), self.val_fraction, generator)
            self.train_rows, self.val_rows = labelled[train], labelled[val]
        self.head = nn.Linear(self.dim, max(len(self.classes), 1))
        self.edge_index = edge_index
        self.held_out = {self.edge_type: self._edges_of(self.val_rows)} if edge_index.shape[1] else {}

    def _edges_of(self, products: torch.Tensor) -> torch.Tensor:
        return _mask(int(self.label_of.shape[0]), products)[self.edge_index[0]]

    def sample(self, generator, batch_size: int):
        rows = _sample(self.train_rows, batch_size, generator)
        return rows, ({self.edge_type: self._edges_of(rows)} if self.edge_index.shape[1] else {})

    def loss(self, emb, rows) -> torch.Tensor:
        return F.cross_entropy(self.head(emb["product"][rows]), self.label_of[rows])

    @torch.no_grad()
    def validate(self, emb) -> dict[str, float]:
        if len(self.val_rows) == 0:
            return {self.metric: 0.0}
        predicted = self.head(emb["product"][self.val_rows]).argmax(-1)
        return {self.metric: float((predicted == self.label_of[self.val_rows]).float().mean())}

    def predict(self, emb) -> torch.Tensor:
        """(n_products,) category row at `depth` (index into the graph's category ids)."""
        return self.classes[self.head(emb["product"]).argmax(-1)]


class MatchObjective(nn.Module):
    """Known SAME_AS pairs pulled together: InfoNCE over the batch's pairs (the other products in the
    batch are the negatives). Validation: recall@1 of the held-out pairs among themselves."""

    def __init__(self, val_fraction: float = 0.1, weight: float = 1.0, temperature: float = 0.1,
                 split: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__()
        self.val_fraction, self.weight, self.temperature, self.fixed_split = val_fraction, weight, temperature, split
        self.edge_type = ("product", "same_as", "product")
        self.name, self.metric = "match", "match:recall@1"

    def setup(self, graph: TrainingGraph, generator) -> None:
        self.edge_index = graph.edges[self.edge_type]
        if self.fixed_split is not None:
            self.train_cols, self.val_cols = self.fixed_split
        else:
            self.train_cols, self.val_cols = _split(self.edge_index.shape[1], self.val_fraction, generator)
        self.held_out = {self.edge_type: _mask(self.edge_index.shape[1], self.val_cols)}

    def sample(self, generator, batch_size: int):
        cols = _sample(self.train_cols, batch_size, generator)
        return cols, {self.edge_type: _mask(self.edge_index.shape[1], cols)}

    def _pair_targets(self, cols):
        """(n, n) bool: pair j's second product is a right answer for pair i (several pairs may
        share a product, e.g. many photos of one catalogue item)."""
        b = self.edge_index[1, cols]
        return b[:, None] == b[None, :]

    def _logits(self, emb, cols):
        a, b = (F.normalize(emb["product"][self.edge_index[i, cols]], dim=-1) for i in (0, 1))
        return a @ b.T / self.temperature

    def loss(self, emb, cols) -> torch.Tensor:
        logits = self._logits(emb, cols)
        # Another pair's copy of the same product is not a negative.
        logits = logits.masked_fill(self._pair_targets(cols) & ~torch.eye(len(cols), dtype=torch.bool), -1e4)
        labels = torch.arange(len(cols))
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))

    @torch.no_grad()
    def validate(self, emb) -> dict[str, float]:
        if len(self.val_cols) < 2:
            return {self.metric: 0.0}
        logits = self._logits(emb, self.val_cols)
        right = self._pair_targets(self.val_cols)[torch.arange(len(self.val_cols)), logits.argmax(-1)]
        return {self.metric: float(right.float().mean())}


OBJECTIVE_NAMES = ("link", "category", "match", "structure")
MIN_EDGES = 10  # an edge type with fewer edges than this is too little to learn (and validate) on


def objectives_for(graph: TrainingGraph, names: str, dim: int, negatives: int, val_fraction: float) -> list[nn.Module]:
    """Objectives by name (comma list, or "auto": every one the graph has data for; "structure",
    self-supervised link prediction on brand and category edges, when there is nothing else)."""
    from shopgraph.errors import ConfigError, NothingToTrainError

    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in OBJECTIVE_NAMES + ("auto",)]
    if unknown:
        raise ConfigError(f"unknown GNN objectives {unknown}; known: {', '.join(OBJECTIVE_NAMES)} or auto")
    has = {t for t, e in graph.edges.items() if e.shape[1] >= MIN_EDGES}
    interacted, also = ("user", "interacted", "product"), ("product", "also_bought", "product")
    same, in_cat = ("product", "same_as", "product"), ("product", "in_category", "category")
    auto = "auto" in wanted
    out: list[nn.Module] = []
    if "link" in wanted or auto:
        out += [LinkObjective(t, negatives, val_fraction) for t in (interacted, also) if t in has]
    if ("category" in wanted or auto) and in_cat in has and graph.category_depth is not None \
            and len(graph.category_depth) and int(graph.category_depth.max()) >= 1:
        depth = 2 if int(graph.category_depth.max()) >= 2 else 1
        out.append(CategoryObjective(depth, dim, val_fraction))
    if ("match" in wanted or auto) and same in has:
        out.append(MatchObjective(val_fraction))
    if "structure" in wanted or (auto and not out):
        out += [LinkObjective(t, negatives, val_fraction) for t in
                (("product", "of_brand", "brand"), in_cat) if t in has]
    if not out and wanted == ["auto"]:  # chosen by default: the graph, not the setting, is the reason
        raise NothingToTrainError(f"the GNN has nothing to learn from: the graph has no interactions, co-purchases, "
                                  f"categories, brands or SAME_AS pairs (at least {MIN_EDGES} edges of one kind)")
    if not out:
        raise ConfigError(f"the graph has no edges for the objectives {names!r} (need interactions, "
                          f"co-purchases, categories, brands or SAME_AS pairs)")
    return out
