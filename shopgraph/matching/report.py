"""`match --report DIR`: how the scorer separates the labelled pairs, as two PNG files.

score_histogram.png: the scores of matches and non-matches (two histograms) with the threshold and
the review band marked; precision_recall.png: the precision-recall curve with the point the threshold
gives marked. Both on the validation pairs (the held-out share of a platform pair's labels; every
labelled pair for a scorer trained elsewhere, e.g. the ready scorer). matplotlib draws them (Agg, no
display needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shopgraph.errors import BadArgumentError


def write_report(directory: str | Path, scores: np.ndarray, labels: np.ndarray, threshold: float,
                 review_low: float, title: str) -> list[Path]:
    """The two PNG files (see the module docstring) in directory (created); returns their paths.
    scores: (m,) in [0, 1]; labels: (m,) 0/1 with at least one of each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    from shopgraph.matching.scorer import prf

    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(int)
    if labels.sum() == 0 or labels.sum() == len(labels):
        raise BadArgumentError("a report needs labelled matches and non-matches; label some pairs first")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    at = prf(scores >= threshold, labels)
    bins = np.linspace(0, 1, 41)

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(scores[labels == 0], bins=bins, alpha=0.6, label=f"non-matches ({int((labels == 0).sum())})")
    ax.hist(scores[labels == 1], bins=bins, alpha=0.6, label=f"matches ({int(labels.sum())})")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.axvspan(review_low, threshold, color="grey", alpha=0.15, label="review band")
    ax.set_xlabel("score")
    ax.set_ylabel("pairs")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    histogram = directory / "score_histogram.png"
    fig.tight_layout()
    fig.savefig(histogram, dpi=100)
    plt.close(fig)

    precision, recall, _ = precision_recall_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(recall, precision)
    ax.plot([at["recall"]], [at["precision"]], "o", color="black",
            label=f"threshold {threshold:.3f}: P {at['precision']:.3f} R {at['recall']:.3f} F1 {at['f1']:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="lower left")
    curve = directory / "precision_recall.png"
    fig.tight_layout()
    fig.savefig(curve, dpi=100)
    plt.close(fig)
    return [histogram, curve]
