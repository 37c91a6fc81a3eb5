"""LightGBM's exact TreeSHAP (pred_contrib) for many rows, computed once per distinct decision
pattern of each tree, for match evidence.

LightGBM's `predict(pred_contrib=True)` runs the path-dependent TreeSHAP recursion (Lundberg et al.,
Algorithm 2) once per row and tree: ~2.9 ms a row on the pair scorer's deep trees, so ~460 s for the
both-orders evidence of the ~80k pairs kept at 100k x 100k listings. A tree's contributions for a
row depend only on which way the row goes at each of the tree's splits (the recursion visits every
node; the row decides only which child is "hot"), and most rows share their pattern with many
others: so each tree is asked (LightGBM's own pred_contrib, that one tree) for one row per distinct
pattern, and the answer is given to every row with that pattern. The patterns come from the
booster's model text (full-precision thresholds, LightGBM's missing-value rules), checked in
tests/matching/test_treeshap.py against LightGBM's leaves and contributions.

Each tree's contributions are LightGBM's to the bit; their sum over the trees is added in another
order than LightGBM adds them (tree by tree instead of term by term), so the totals agree to ~1e-15,
not bit for bit.
"""

from __future__ import annotations

import numpy as np

ROW_CHUNK = 65_536   # rows explained at once (each tree's pattern codes are (rows,) int64)
_ZERO = 1e-35        # LightGBM's kZeroThreshold: |x| under it counts as zero for zero-as-missing splits
_MAX_CODED_SPLITS = 62   # splits a tree's pattern code holds (an int64); bigger trees are asked row by row
SMALL_TREE = 4           # trees of at most this many leaves are asked for every row (see tree_contributions)


class _Tree:
    """One tree's arrays, as LightGBM keeps them (children < 0 are ~leaf)."""

    def __init__(self, fields: dict[str, str]):
        def ints(name):
            return [int(v) for v in fields[name].split()] if fields.get(name) else []

        def floats(name):
            return [float(v) for v in fields[name].split()] if fields.get(name) else []

        self.num_leaves = int(fields["num_leaves"])
        if int(fields.get("num_cat", "0")):
            raise ValueError("categorical splits are not supported by this TreeSHAP")
        if int(fields.get("is_linear", "0")):
            raise ValueError("linear trees are not supported by this TreeSHAP")
        self.leaf_value = floats("leaf_value")
        self.leaf_count = [float(v) for v in ints("leaf_count")]
        self.split_feature = ints("split_feature")
        self.threshold = floats("threshold")
        self.decision_type = ints("decision_type")
        self.left, self.right = ints("left_child"), ints("right_child")
        self.internal_count = [float(v) for v in ints("internal_count")]

    def count(self, node: int) -> float:
        return self.leaf_count[~node] if node < 0 else self.internal_count[node]

    def expected_value(self) -> float:
        """The tree's mean output over the training data (LightGBM's Tree::ExpectedValue)."""
        if self.num_leaves == 1:
            return self.leaf_value[0]
        total = self.internal_count[0]
        out = 0.0
        for value, count in zip(self.leaf_value, self.leaf_count):
            out += (count / total) * value
        return out

    def goes_left(self, node: int, x: np.ndarray) -> np.ndarray:
        """(rows,) bool: which rows a numerical split sends left (LightGBM's NumericalDecision)."""
        values = x[:, self.split_feature[node]]
        kind = self.decision_type[node]
        default_left = bool(kind & 2)
        missing = (kind >> 2) & 3          # 0 none, 1 zero, 2 NaN
        nan = np.isnan(values)
        if missing != 2:
            values = np.where(nan, 0.0, values)
        left = values <= self.threshold[node]
        if missing == 1:
            is_missing = (values >= -_ZERO) & (values <= _ZERO)
        elif missing == 2:
            is_missing = nan
        else:
            return left
        return np.where(is_missing, default_left, left)


def parse_trees(model_text: str) -> list[_Tree]:
    """The trees of one LightGBM model text (Booster.model_to_string), in order."""
    trees, fields = [], None
    for line in model_text.splitlines():
        if line.startswith("Tree="):
            if fields is not None:
                trees.append(_Tree(fields))
            fields = {}
        elif fields is not None:
            if line.startswith("end of trees"):
                break
            if "=" in line:
                key, _, value = line.partition("=")
                fields[key] = value
    if fields:
        trees.append(_Tree(fields))
    return trees


def _patterns(tree: _Tree, x: np.ndarray) -> np.ndarray:
    """(rows,) int64: bit k set when the row goes left at split k (every split of the tree)."""
    code = np.zeros(len(x), dtype=np.int64)
    for node in range(len(tree.split_feature)):
        code |= tree.goes_left(node, x).astype(np.int64) << node
    return code


def tree_contributions(booster, x: np.ndarray, trees: list[_Tree] | None = None) -> np.ndarray:
    """LightGBM's pred_contrib of one booster for rows x, (m, F + 1) float64 (the last column the
    expected value), each tree of more than SMALL_TREE leaves asked once per distinct decision
    pattern; runs of consecutive small trees (whose recursion costs little per row, so the per-tree
    call would cost more than it saves) are asked for every row in one call. trees: parse_trees of
    the booster's model text, when the caller keeps them."""
    x = np.asarray(x, dtype=np.float64)
    trees = parse_trees(booster.model_to_string()) if trees is None else trees
    out = np.zeros((len(x), x.shape[1] + 1))
    for start in range(0, len(x), ROW_CHUNK):
        part = x[start:start + ROW_CHUNK]
        phi = out[start:start + len(part)]
        t = 0
        while t < len(trees):
            if trees[t].num_leaves <= SMALL_TREE or len(trees[t].split_feature) > _MAX_CODED_SPLITS:
                end = t + 1
                while end < len(trees) and (trees[end].num_leaves <= SMALL_TREE
                                            or len(trees[end].split_feature) > _MAX_CODED_SPLITS):
                    end += 1
                phi += booster.predict(part, pred_contrib=True, start_iteration=t, num_iteration=end - t)
                t = end
                continue
            _, first, inverse = np.unique(_patterns(trees[t], part), return_index=True, return_inverse=True)
            phi += booster.predict(part[first], pred_contrib=True, start_iteration=t, num_iteration=1)[inverse]
            t += 1
    return out
